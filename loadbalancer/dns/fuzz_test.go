package dns

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	mdns "github.com/miekg/dns"

	"edgecdn/internal/zonemap"
)

// fakeWriter is a dns.ResponseWriter that packs the response, as the real one does, and keeps it.
type fakeWriter struct {
	tcp    bool
	packed []byte
	err    error
}

var _ mdns.ResponseWriter = (*fakeWriter)(nil)

func (w *fakeWriter) LocalAddr() net.Addr { return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53} }
func (w *fakeWriter) RemoteAddr() net.Addr {
	if w.tcp {
		return &net.TCPAddr{IP: net.IPv4(10, 1, 2, 3), Port: 40000}
	}
	return &net.UDPAddr{IP: net.IPv4(10, 1, 2, 3), Port: 40000}
}
func (w *fakeWriter) WriteMsg(m *mdns.Msg) error {
	w.packed, w.err = m.Pack()
	return w.err
}
func (w *fakeWriter) Write(b []byte) (int, error) { w.packed = b; return len(b), nil }
func (w *fakeWriter) Close() error                { return nil }
func (w *fakeWriter) TsigStatus() error           { return nil }
func (w *fakeWriter) TsigTimersOnly(bool)         {}
func (w *fakeWriter) Hijack()                     {}

// fuzzServer is a server with IPv4 and IPv6 balancers, unhealthy ones, a zone map and glue.
func fuzzServer(t testing.TB) *Server {
	bs := append(balancers(40, 10, "zone-a", "zone-b"),
		Balancer{Name: "v6", Zone: "zone-a", Addr: netip.MustParseAddr("2001:db8::1"), Healthy: true},
		Balancer{Name: "v6-down", Zone: "zone-b", Addr: netip.MustParseAddr("2001:db8::2")},
		Balancer{Name: "mapped", Zone: "zone-b", Addr: netip.MustParseAddr("::ffff:192.0.2.1"), Healthy: true})
	zm, _ := zonemap.Parse([]string{"10.1.0.0/16=zone-b", "10.1.2.0/24=zone-a", "2001:db8::/32=zone-a"})
	s, err := New(Config{Source: &fakeSource{bs: bs}, ZoneMap: zm, MaxAnswers: 64,
		NSAddr: netip.MustParseAddr("192.0.2.53"), Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// FuzzServe feeds a packet to the server as miekg/dns would (header screen, unpack, handler)
// over UDP and over TCP. The response, if any, must pack, unpack, match the query's id and,
// over UDP, fit the client's size.
func FuzzServe(f *testing.F) {
	s := fuzzServer(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < 12 {
			return // miekg/dns drops what has no header
		}
		dh := mdns.Header{
			Id:      binary.BigEndian.Uint16(b[0:]),
			Bits:    binary.BigEndian.Uint16(b[2:]),
			Qdcount: binary.BigEndian.Uint16(b[4:]),
			Ancount: binary.BigEndian.Uint16(b[6:]),
			Nscount: binary.BigEndian.Uint16(b[8:]),
			Arcount: binary.BigEndian.Uint16(b[10:]),
		}
		if s.accept(dh) != mdns.MsgAccept {
			return // miekg/dns answers FORMERR or NOTIMP itself, or drops
		}
		req := new(mdns.Msg)
		if err := req.Unpack(b); err != nil {
			return
		}
		limit := mdns.MinMsgSize
		if req.IsEdns0() != nil {
			limit = s.cfg.MaxUDPSize
		}
		for _, tcp := range []bool{false, true} {
			w := &fakeWriter{tcp: tcp}
			handler{s}.ServeDNS(w, req)
			if w.packed == nil && w.err == nil {
				if !req.Response {
					t.Fatalf("no response to a query (tcp %v)", tcp)
				}
				continue
			}
			if w.err != nil {
				t.Fatalf("response does not pack (tcp %v): %v", tcp, w.err)
			}
			if !tcp && len(w.packed) > limit {
				t.Fatalf("UDP response of %d bytes, client takes %d", len(w.packed), limit)
			}
			var resp mdns.Msg
			if err := resp.Unpack(w.packed); err != nil {
				t.Fatalf("response does not unpack (tcp %v): %v", tcp, err)
			}
			if resp.Id != req.Id || !resp.Response {
				t.Fatalf("response id %d qr %v, want %d true", resp.Id, resp.Response, req.Id)
			}
		}
	})
}
