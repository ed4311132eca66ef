package dns

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"edgecdn/internal/zonemap"
)

const domain = "video.edgecdn.local."

// fakeSource is a Source whose balancers a test sets.
type fakeSource struct {
	mu sync.Mutex
	bs []Balancer
}

func (f *fakeSource) Balancers() []Balancer {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.bs
}

// setZone marks every balancer of zone healthy or not; the list is rebuilt, not mutated,
// as a Source must.
func (f *fakeSource) setZone(zone string, healthy bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	bs := slices.Clone(f.bs)
	for i := range bs {
		if bs[i].Zone == zone {
			bs[i].Healthy = healthy
		}
	}
	f.bs = bs
}

// balancers returns n healthy balancers 127.0.0.<first>… spread round robin over zones.
func balancers(n, first int, zones ...string) []Balancer {
	var bs []Balancer
	for i := range n {
		a := netip.AddrFrom4([4]byte{127, 0, byte((first + i) / 250), byte(1 + (first+i)%250)})
		bs = append(bs, Balancer{Name: fmt.Sprintf("lb-%d", i), Zone: zones[i%len(zones)], Addr: a, Healthy: true})
	}
	return bs
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// serve starts a server for cfg on 127.0.0.1:0 (UDP and TCP) and returns its address.
func serve(t testing.TB, cfg Config) (*Server, string) {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	udp, tcp, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(udp, tcp) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return s, udp.LocalAddr().String()
}

// ask sends q over net ("udp" or "tcp") to addr.
func ask(t testing.TB, network, addr string, q *mdns.Msg) *mdns.Msg {
	t.Helper()
	c := &mdns.Client{Net: network, Timeout: 2 * time.Second}
	r, _, err := c.Exchange(q, addr)
	if err != nil {
		t.Fatalf("%s query %v: %v", network, q.Question, err)
	}
	return r
}

func question(name string, t uint16) *mdns.Msg {
	return new(mdns.Msg).SetQuestion(name, t)
}

// addrs returns the A and AAAA addresses of rrs, in order.
func addrs(rrs []mdns.RR) []string {
	var out []string
	for _, rr := range rrs {
		switch rr := rr.(type) {
		case *mdns.A:
			out = append(out, rr.A.String())
		case *mdns.AAAA:
			out = append(out, rr.AAAA.String())
		}
	}
	return out
}

func TestAnswers(t *testing.T) {
	src := &fakeSource{bs: append(balancers(3, 10, "zone-a"),
		Balancer{Name: "lb-v6", Zone: "zone-a", Addr: netip.MustParseAddr("fd00::12"), Healthy: true})}
	_, addr := serve(t, Config{Domain: "Video.EdgeCDN.local", Source: src, NSAddr: netip.MustParseAddr("127.0.0.53")})

	tests := []struct {
		name     string
		qname    string
		qtype    uint16
		rcode    int
		aa       bool
		answers  []uint16 // types, in order
		soaInNs  bool
		extra    int // glue records
		wantAddr []string
	}{
		{name: "A", qname: domain, qtype: mdns.TypeA, rcode: mdns.RcodeSuccess, aa: true,
			answers: []uint16{mdns.TypeA, mdns.TypeA, mdns.TypeA}},
		{name: "A upper case", qname: strings.ToUpper(domain), qtype: mdns.TypeA, rcode: mdns.RcodeSuccess, aa: true,
			answers: []uint16{mdns.TypeA, mdns.TypeA, mdns.TypeA}},
		{name: "AAAA", qname: domain, qtype: mdns.TypeAAAA, rcode: mdns.RcodeSuccess, aa: true,
			answers: []uint16{mdns.TypeAAAA}, wantAddr: []string{"fd00::12"}},
		{name: "ANY", qname: domain, qtype: mdns.TypeANY, rcode: mdns.RcodeSuccess, aa: true,
			answers: []uint16{mdns.TypeA, mdns.TypeA, mdns.TypeA, mdns.TypeAAAA}},
		{name: "SOA", qname: domain, qtype: mdns.TypeSOA, rcode: mdns.RcodeSuccess, aa: true,
			answers: []uint16{mdns.TypeSOA}},
		{name: "NS with glue", qname: domain, qtype: mdns.TypeNS, rcode: mdns.RcodeSuccess, aa: true,
			answers: []uint16{mdns.TypeNS}, extra: 1},
		{name: "name server address", qname: "ns1." + domain, qtype: mdns.TypeA, rcode: mdns.RcodeSuccess, aa: true,
			answers: []uint16{mdns.TypeA}, wantAddr: []string{"127.0.0.53"}},
		{name: "name server no AAAA", qname: "ns1." + domain, qtype: mdns.TypeAAAA, rcode: mdns.RcodeSuccess, aa: true,
			soaInNs: true},
		{name: "NODATA", qname: domain, qtype: mdns.TypeMX, rcode: mdns.RcodeSuccess, aa: true, soaInNs: true},
		{name: "NXDOMAIN", qname: "nope." + domain, qtype: mdns.TypeA, rcode: mdns.RcodeNameError, aa: true, soaInNs: true},
		{name: "NXDOMAIN deeper", qname: "a.b." + domain, qtype: mdns.TypeAAAA, rcode: mdns.RcodeNameError, aa: true, soaInNs: true},
		{name: "outside", qname: "example.com.", qtype: mdns.TypeA, rcode: mdns.RcodeRefused},
		{name: "parent", qname: "edgecdn.local.", qtype: mdns.TypeA, rcode: mdns.RcodeRefused},
		{name: "look-alike", qname: "xvideo.edgecdn.local.", qtype: mdns.TypeA, rcode: mdns.RcodeRefused},
		{name: "zone transfer", qname: domain, qtype: mdns.TypeAXFR, rcode: mdns.RcodeRefused},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := ask(t, "udp", addr, question(tc.qname, tc.qtype))
			if r.Rcode != tc.rcode {
				t.Fatalf("rcode %s, want %s", mdns.RcodeToString[r.Rcode], mdns.RcodeToString[tc.rcode])
			}
			if r.Authoritative != tc.aa {
				t.Errorf("AA %v, want %v", r.Authoritative, tc.aa)
			}
			var types []uint16
			for _, rr := range r.Answer {
				types = append(types, rr.Header().Rrtype)
				if rr.Header().Name != tc.qname {
					t.Errorf("owner %q, want the question's %q", rr.Header().Name, tc.qname)
				}
				if rr.Header().Rrtype == mdns.TypeA && rr.Header().Ttl != 5 && tc.wantAddr == nil {
					t.Errorf("TTL %d, want 5", rr.Header().Ttl)
				}
			}
			if !slices.Equal(types, tc.answers) {
				t.Errorf("answer types %v, want %v", types, tc.answers)
			}
			if tc.wantAddr != nil && !slices.Equal(addrs(r.Answer), tc.wantAddr) {
				t.Errorf("addresses %v, want %v", addrs(r.Answer), tc.wantAddr)
			}
			hasSOA := len(r.Ns) == 1 && r.Ns[0].Header().Rrtype == mdns.TypeSOA
			if hasSOA != tc.soaInNs {
				t.Errorf("authority %v, want SOA: %v", r.Ns, tc.soaInNs)
			}
			if hasSOA {
				soa := r.Ns[0].(*mdns.SOA)
				if soa.Hdr.Name != domain || soa.Minttl != 30 || soa.Hdr.Ttl != 30 || soa.Ns != "ns1."+domain {
					t.Errorf("SOA %v, want %s's with negative TTL 30", soa, domain)
				}
			}
			if len(r.Extra) != tc.extra {
				t.Errorf("additional %v, want %d records", r.Extra, tc.extra)
			}
		})
	}
}

func TestRoundRobin(t *testing.T) {
	src := &fakeSource{bs: balancers(3, 10, "zone-a", "zone-b", "zone-c")}
	_, addr := serve(t, Config{Source: src})
	first := map[string]bool{}
	for range 3 {
		r := ask(t, "udp", addr, question(domain, mdns.TypeA))
		got := addrs(r.Answer)
		if len(got) != 3 {
			t.Fatalf("answer %v, want 3 addresses", got)
		}
		first[got[0]] = true
	}
	if len(first) != 3 {
		t.Errorf("first answers %v over 3 queries, want 3 different", first)
	}
}

func TestMaxAnswersAndTTL(t *testing.T) {
	src := &fakeSource{bs: balancers(10, 10, "zone-a")}
	_, addr := serve(t, Config{Source: src, MaxAnswers: 4, TTL: 20 * time.Second})
	r := ask(t, "udp", addr, question(domain, mdns.TypeA))
	if len(r.Answer) != 4 {
		t.Fatalf("%d answers, want MaxAnswers 4", len(r.Answer))
	}
	for _, rr := range r.Answer {
		if rr.Header().Ttl != 20 {
			t.Errorf("TTL %d, want 20", rr.Header().Ttl)
		}
	}
	// Rotation covers all ten over the queries, not only the first four.
	seen := map[string]bool{}
	for range 10 {
		for _, a := range addrs(ask(t, "udp", addr, question(domain, mdns.TypeA)).Answer) {
			seen[a] = true
		}
	}
	if len(seen) != 10 {
		t.Errorf("%d balancers handed out over 10 queries, want all 10", len(seen))
	}
}

func TestZoneHealth(t *testing.T) {
	src := &fakeSource{bs: balancers(4, 10, "zone-a", "zone-b")} // .11 .13 zone-a, .12 .14 zone-b
	s, addr := serve(t, Config{Source: src})
	get := func() []string {
		got := addrs(ask(t, "udp", addr, question(domain, mdns.TypeA)).Answer)
		slices.Sort(got)
		return got
	}
	steps := []struct {
		name string
		do   func()
		want []string
	}{
		{"all healthy", func() {}, []string{"127.0.0.11", "127.0.0.12", "127.0.0.13", "127.0.0.14"}},
		{"zone-b unhealthy", func() { src.setZone("zone-b", false) }, []string{"127.0.0.11", "127.0.0.13"}},
		{"zone-b back", func() { src.setZone("zone-b", true) }, []string{"127.0.0.11", "127.0.0.12", "127.0.0.13", "127.0.0.14"}},
		{"none healthy: fail open", func() { src.setZone("zone-a", false); src.setZone("zone-b", false) },
			[]string{"127.0.0.11", "127.0.0.12", "127.0.0.13", "127.0.0.14"}},
		{"zone-a back", func() { src.setZone("zone-a", true) }, []string{"127.0.0.11", "127.0.0.13"}},
	}
	for _, st := range steps {
		st.do()
		if got := get(); !slices.Equal(got, st.want) {
			t.Errorf("%s: answer %v, want %v", st.name, got, st.want)
		}
	}
	if got := s.m.failOpen.Get(); got != 1 {
		t.Errorf("edgecdn_dns_failopen_total %d, want 1", got)
	}
	var buf bytes.Buffer
	s.Metrics().WritePrometheus(&buf)
	for _, want := range []string{
		`edgecdn_dns_queries_total{qtype="A",rcode="NOERROR"} 5`,
		`edgecdn_dns_healthy_balancers 2`,
		`edgecdn_dns_balancers 4`,
		`edgecdn_dns_failopen_total 1`,
	} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("metrics lack %q:\n%s", want, buf.String())
		}
	}
}

func TestZoneMap(t *testing.T) {
	src := &fakeSource{bs: balancers(6, 10, "zone-a", "zone-b", "zone-c")} // zone-b: .12 .15
	zm, err := zonemap.Parse([]string{"127.0.0.0/8=zone-b", "10.1.0.0/16=zone-c, 10.1.2.0/24=zone-a", "2001:db8::/32=zone-c"})
	if err != nil {
		t.Fatal(err)
	}
	_, addr := serve(t, Config{Source: src, ZoneMap: zm})

	withECS := func(prefix string) *mdns.Msg {
		q := question(domain, mdns.TypeA)
		q.SetEdns0(1232, false)
		p := netip.MustParsePrefix(prefix)
		e := &mdns.EDNS0_SUBNET{Code: mdns.EDNS0SUBNET, Family: 1, SourceNetmask: uint8(p.Bits()), Address: p.Addr().AsSlice()}
		if p.Addr().Is6() {
			e.Family = 2
		}
		q.IsEdns0().Option = append(q.IsEdns0().Option, e)
		return q
	}
	tests := []struct {
		name      string
		q         func() *mdns.Msg
		wantFirst []string // the zone's balancers, which must fill the first places
		wantScope int      // -1: no ECS in the answer
	}{
		{"source address", func() *mdns.Msg { return question(domain, mdns.TypeA) }, []string{"127.0.0.12", "127.0.0.15"}, -1},
		{"ECS /24 inside a /16", func() *mdns.Msg { return withECS("10.1.2.0/24") }, []string{"127.0.0.11", "127.0.0.14"}, 24},
		// 10.1.4.0/22 maps to zone-c throughout; a /21 would hold 10.1.2.0/24.
		{"ECS /24 in the /16", func() *mdns.Msg { return withECS("10.1.7.0/24") }, []string{"127.0.0.13", "127.0.0.16"}, 22},
		// A scope longer than the source: the answer holds for 10.1.0.0/23 only.
		{"ECS /16", func() *mdns.Msg { return withECS("10.1.0.0/16") }, []string{"127.0.0.13", "127.0.0.16"}, 23},
		{"ECS IPv6", func() *mdns.Msg { return withECS("2001:db8:1::/48") }, []string{"127.0.0.13", "127.0.0.16"}, 32},
		{"ECS unmapped", func() *mdns.Msg { return withECS("192.0.2.0/24") }, nil, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			firsts := map[string]bool{}
			for range 4 {
				r := ask(t, "udp", addr, tc.q())
				got := addrs(r.Answer)
				if len(got) != 6 {
					t.Fatalf("answer %v, want 6 addresses", got)
				}
				if tc.wantFirst != nil {
					head := slices.Sorted(slices.Values(got[:len(tc.wantFirst)]))
					if !slices.Equal(head, tc.wantFirst) {
						t.Fatalf("answer %v, want %v first", got, tc.wantFirst)
					}
				}
				firsts[got[0]] = true
				var ecs *mdns.EDNS0_SUBNET
				if o := r.IsEdns0(); o != nil {
					for _, op := range o.Option {
						if e, ok := op.(*mdns.EDNS0_SUBNET); ok {
							ecs = e
						}
					}
				}
				switch {
				case tc.wantScope < 0 && ecs != nil:
					t.Errorf("ECS %v in the answer to a query without", ecs)
				case tc.wantScope >= 0 && ecs == nil:
					t.Fatalf("no ECS echoed")
				case ecs != nil:
					qe := tc.q().IsEdns0().Option[0].(*mdns.EDNS0_SUBNET)
					if ecs.Family != qe.Family || ecs.SourceNetmask != qe.SourceNetmask || !ecs.Address.Equal(qe.Address) {
						t.Errorf("ECS echoed %v, want the query's %v", ecs, qe)
					}
					if int(ecs.SourceScope) != tc.wantScope {
						t.Errorf("ECS scope /%d, want /%d", ecs.SourceScope, tc.wantScope)
					}
				}
			}
			if tc.wantFirst != nil && len(firsts) != len(tc.wantFirst) {
				t.Errorf("first answers %v, want rotation among %v", firsts, tc.wantFirst)
			}
		})
	}
}

func TestTruncation(t *testing.T) {
	src := &fakeSource{bs: balancers(40, 10, "zone-a")}
	s, addr := serve(t, Config{Source: src, MaxAnswers: 100})
	edns := func(size uint16) *mdns.Msg {
		q := question(domain, mdns.TypeA)
		q.SetEdns0(size, false)
		return q
	}
	tests := []struct {
		name      string
		network   string
		q         *mdns.Msg
		truncated bool
		answers   int // exact, or the most when truncated
	}{
		{"UDP without EDNS", "udp", question(domain, mdns.TypeA), true, 39},
		{"UDP with EDNS 512", "udp", edns(512), true, 39},
		{"UDP with EDNS 1232", "udp", edns(1232), false, 40},
		{"TCP", "tcp", question(domain, mdns.TypeA), false, 40},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := ask(t, tc.network, addr, tc.q)
			if r.Truncated != tc.truncated {
				t.Errorf("TC %v, want %v", r.Truncated, tc.truncated)
			}
			r.Compress = true // as sent
			packed, err := r.Pack()
			if err != nil {
				t.Fatal(err)
			}
			if tc.truncated && (len(r.Answer) > tc.answers || len(packed) > 512) {
				t.Errorf("%d answers in %d bytes, want fewer than 40 in 512", len(r.Answer), len(packed))
			}
			if !tc.truncated && len(r.Answer) != tc.answers {
				t.Errorf("%d answers, want %d", len(r.Answer), tc.answers)
			}
		})
	}
	if got := s.m.truncated.Get(); got != 2 {
		t.Errorf("edgecdn_dns_truncated_total %d, want 2", got)
	}
}

func TestMalformed(t *testing.T) {
	_, addr := serve(t, Config{Source: &fakeSource{bs: balancers(2, 10, "zone-a")}})
	tests := []struct {
		name  string
		q     func() *mdns.Msg
		rcode int
	}{
		{"status opcode", func() *mdns.Msg { q := question(domain, mdns.TypeA); q.Opcode = mdns.OpcodeStatus; return q }, mdns.RcodeNotImplemented},
		{"update opcode", func() *mdns.Msg { q := question(domain, mdns.TypeA); q.Opcode = mdns.OpcodeUpdate; return q }, mdns.RcodeNotImplemented},
		{"two questions", func() *mdns.Msg {
			q := question(domain, mdns.TypeA)
			q.Question = append(q.Question, mdns.Question{Name: domain, Qtype: mdns.TypeAAAA, Qclass: mdns.ClassINET})
			return q
		}, mdns.RcodeFormatError},
		{"no question", func() *mdns.Msg { q := question(domain, mdns.TypeA); q.Question = nil; return q }, mdns.RcodeFormatError},
		{"EDNS version 1", func() *mdns.Msg {
			q := question(domain, mdns.TypeA)
			q.SetEdns0(1232, false)
			q.IsEdns0().SetVersion(1)
			return q
		}, mdns.RcodeBadVers},
		{"two OPT records", func() *mdns.Msg {
			q := question(domain, mdns.TypeA)
			q.SetEdns0(1232, false)
			q.SetEdns0(1232, false)
			return q
		}, mdns.RcodeFormatError},
		{"CHAOS class", func() *mdns.Msg {
			q := question("version.bind.", mdns.TypeTXT)
			q.Question[0].Qclass = mdns.ClassCHAOS
			return q
		}, mdns.RcodeRefused},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := ask(t, "udp", addr, tc.q())
			if r.Rcode != tc.rcode {
				t.Errorf("rcode %s, want %s", mdns.RcodeToString[r.Rcode], mdns.RcodeToString[tc.rcode])
			}
			if len(r.Answer) != 0 || r.Authoritative {
				t.Errorf("answer %v, AA %v: want none", r.Answer, r.Authoritative)
			}
		})
	}
}

func TestListenSamePort(t *testing.T) {
	udp, tcp, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	defer tcp.Close()
	if u, c := udp.LocalAddr().(*net.UDPAddr).Port, tcp.Addr().(*net.TCPAddr).Port; u != c || u == 0 {
		t.Errorf("udp port %d, tcp port %d: want one port", u, c)
	}
}

func TestShutdownBeforeServe(t *testing.T) {
	s, err := New(Config{Source: &fakeSource{}, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	udp, tcp, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Serve(udp, tcp); err != nil {
		t.Errorf("Serve after Shutdown: %v, want nil", err)
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no source", Config{}},
		{"bad domain", Config{Source: &fakeSource{}, Domain: "a..b"}},
		{"sub-second TTL", Config{Source: &fakeSource{}, TTL: time.Millisecond}},
		{"small UDP size", Config{Source: &fakeSource{}, MaxUDPSize: 100}},
		{"bad zone map", Config{Source: &fakeSource{}, ZoneMap: []zonemap.Entry{{Zone: "a"}}}},
	}
	for _, tc := range tests {
		if _, err := New(tc.cfg); err == nil {
			t.Errorf("%s: New succeeded, want an error", tc.name)
		}
	}
}
