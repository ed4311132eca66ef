package dns

import (
	"net/netip"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

// BenchmarkQuery answers an A query for three balancers in-process, packing included.
func BenchmarkQuery(b *testing.B) {
	s, err := New(Config{Source: &fakeSource{bs: balancers(3, 10, "zone-a", "zone-b", "zone-c")}, Logger: testLogger(b)})
	if err != nil {
		b.Fatal(err)
	}
	req := question(domain, mdns.TypeA)
	client := netip.MustParseAddr("192.0.2.1")
	buf := make([]byte, 512)
	b.ReportAllocs()
	for b.Loop() {
		resp := s.reply(req, client, false)
		if _, err := resp.PackBuffer(buf); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkQueryUDP measures answers over real UDP on loopback: parallel Go clients, each with
// its own socket and one query in flight. Queries per second = 1e9 / (ns/op).
func BenchmarkQueryUDP(b *testing.B) {
	_, addr := serve(b, Config{Source: &fakeSource{bs: balancers(3, 10, "zone-a", "zone-b", "zone-c")}})
	b.SetParallelism(2) // 2 x GOMAXPROCS clients
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		c := &mdns.Client{Net: "udp", Timeout: time.Second}
		conn, err := c.Dial(addr)
		if err != nil {
			b.Error(err)
			return
		}
		defer conn.Close()
		q := question(domain, mdns.TypeA)
		for pb.Next() {
			if _, _, err := c.ExchangeWithConn(q, conn); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
