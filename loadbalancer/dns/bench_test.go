package dns

import (
	"net/netip"
	"sync"
	"sync/atomic"
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

// TestThroughputUDP measures queries per second over real UDP on loopback: a few Go clients,
// each with its own socket, one query in flight each, for 3 s.
func TestThroughputUDP(t *testing.T) {
	if testing.Short() {
		t.Skip("takes 3 s")
	}
	_, addr := serve(t, Config{Source: &fakeSource{bs: balancers(3, 10, "zone-a", "zone-b", "zone-c")}})
	const clients = 4
	const d = 3 * time.Second
	var total, failed atomic.Int64
	var wg sync.WaitGroup
	deadline := time.Now().Add(d)
	for range clients {
		wg.Go(func() {
			c := &mdns.Client{Net: "udp", Timeout: time.Second}
			conn, err := c.Dial(addr)
			if err != nil {
				t.Error(err)
				return
			}
			defer conn.Close()
			q := question(domain, mdns.TypeA)
			for time.Now().Before(deadline) {
				if _, _, err := c.ExchangeWithConn(q, conn); err != nil {
					failed.Add(1)
					continue
				}
				total.Add(1)
			}
		})
	}
	wg.Wait()
	if total.Load() == 0 {
		t.Fatal("no query answered")
	}
	t.Logf("%d clients over UDP: %.0f queries/s (%d answered, %d failed in %v)",
		clients, float64(total.Load())/d.Seconds(), total.Load(), failed.Load(), d)
}
