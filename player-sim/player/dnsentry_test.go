package player

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

// lossyDNS answers A queries for its domain with 127.0.0.1, but drops the first drop queries
// it gets; it records the source address of every query.
type lossyDNS struct {
	mu    sync.Mutex
	drop  int
	froms []string
}

func (d *lossyDNS) ServeDNS(w mdns.ResponseWriter, r *mdns.Msg) {
	d.mu.Lock()
	d.froms = append(d.froms, w.RemoteAddr().String())
	drop := len(d.froms) <= d.drop
	d.mu.Unlock()
	if drop {
		return
	}
	m := new(mdns.Msg)
	m.SetReply(r)
	m.Answer = append(m.Answer, &mdns.A{Hdr: mdns.RR_Header{Name: r.Question[0].Name, Rrtype: mdns.TypeA, Class: mdns.ClassINET, Ttl: 5}, A: net.IPv4(127, 0, 0, 1)})
	w.WriteMsg(m)
}

// queries returns the source address of every query so far.
func (d *lossyDNS) queries() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.froms...)
}

func startDNS(t *testing.T, h mdns.Handler) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	srv := &mdns.Server{PacketConn: pc, Handler: h, NotifyStartedFunc: func() { close(started) }}
	go srv.ActivateAndServe()
	<-started
	t.Cleanup(func() { srv.Shutdown() })
	return pc.LocalAddr().String()
}

// TestDNSEntryRetriesLikeAResolver: a query that gets no answer is asked again from a new
// socket (a Service's load balancing picks anew), up to Attempts rounds over the servers; a
// server that never answers is passed over for the next one.
func TestDNSEntryRetriesLikeAResolver(t *testing.T) {
	ctx := context.Background()
	d := &lossyDNS{drop: 2}
	addr := startDNS(t, d)
	e := &DNSEntry{Server: addr, Domain: "video.example", Port: 8000, Timeout: 200 * time.Millisecond, Attempts: 3}
	bases, err := e.Bases(ctx, "t")
	if err != nil || len(bases) != 1 || bases[0] != "http://127.0.0.1:8000" {
		t.Fatalf("two queries dropped, three attempts: bases %v, err %v", bases, err)
	}
	froms := d.queries()
	ports := map[string]bool{}
	for _, f := range froms {
		ports[f] = true
	}
	if len(froms) != 3 || len(ports) != 3 {
		t.Errorf("queries from %v: want 3, each from its own socket", froms)
	}

	// Every try dropped: an error naming the tries, after Attempts of them.
	d2 := &lossyDNS{drop: 1 << 30}
	e = &DNSEntry{Server: startDNS(t, d2), Domain: "video.example", Port: 8000, Timeout: 100 * time.Millisecond, Attempts: 2}
	if _, err := e.Refresh(ctx, "t"); err == nil || !strings.Contains(err.Error(), "2 tries") {
		t.Errorf("a server that never answers: err %v, want a failure after 2 tries", err)
	}
	if n := len(d2.queries()); n != 2 {
		t.Errorf("%d queries to a server that never answers, want 2", n)
	}

	// A resolv.conf's list: the silent first server is passed over for the second.
	d3 := &lossyDNS{}
	e = &DNSEntry{Server: startDNS(t, &lossyDNS{drop: 1 << 30}) + ", " + startDNS(t, d3), Domain: "video.example", Port: 8000, Timeout: 100 * time.Millisecond, Attempts: 1}
	if bases, err := e.Refresh(ctx, "t"); err != nil || len(bases) != 1 {
		t.Errorf("silent server, then one that answers: bases %v, err %v", bases, err)
	}
}
