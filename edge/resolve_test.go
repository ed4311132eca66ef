package edge

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"edgecdn/internal/cluster"
	"edgecdn/internal/cluster/clustertest"
	"edgecdn/internal/harness"
)

// TestOriginResolvedPerAddress: with --origin-resolve, an origin given by a name (a headless
// Kubernetes Service) is as many origins as the name has addresses. One of them that stops
// answering (a pod on a lost node) is ejected after its failures, and every fill is answered by
// the others; the Host sent is the name; an address kept from one lookup to the next keeps its
// health.
func TestOriginResolvedPerAddress(t *testing.T) {
	body := randomBytes(2000, 5)
	live, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := live.Addr().(*net.TCPAddr).Port
	silent, err := net.Listen("tcp", fmt.Sprintf("127.0.0.2:%d", port))
	if err != nil {
		live.Close()
		t.Skipf("127.0.0.2:%d: %v (a second loopback address on the same port is needed)", port, err)
	}
	var hostsMu sync.Mutex
	hosts := map[string]int{}
	liveSrv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hostsMu.Lock()
		hosts[r.Host]++
		hostsMu.Unlock()
		w.Header().Set("Cache-Control", "max-age=3600")
		w.Write(body)
	})}
	var silentHits atomic.Int32
	silentSrv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		silentHits.Add(1)
		<-r.Context().Done() // accepts, never answers
	})}
	go liveSrv.Serve(live)
	go silentSrv.Serve(silent)
	defer liveSrv.Close()
	defer silentSrv.Close()

	var addrs atomic.Pointer[[]string]
	addrs.Store(&[]string{"127.0.0.2", "127.0.0.1"})
	var lookups atomic.Int32
	lookup := func(ctx context.Context, host string) ([]string, error) {
		lookups.Add(1)
		if host != "origin.test" {
			return nil, fmt.Errorf("no such host %q", host)
		}
		return *addrs.Load(), nil
	}
	name := fmt.Sprintf("origin.test:%d", port)
	s, base := startEdge(t, Config{Origins: []string{"http://" + name}, OriginResolve: 20 * time.Millisecond, OriginLookup: lookup,
		OriginHeaderTimeout: 300 * time.Millisecond, ProbeInterval: -1})
	o := s.origins.list[0]
	harness.Eventually(t, 5*time.Second, "the origin's name resolved to two addresses", func() bool {
		p := o.pods.Load()
		return p != nil && len(*p) == 2
	})
	for i := range 8 {
		r := get(t, fmt.Sprintf("%s/vod/t/r/seg%d.ts", base, i))
		if r.code != 200 || !bytes.Equal(r.body, body) {
			t.Fatalf("fill %d: %d, %d bytes; want 200 and the object from the live address", i, r.code, len(r.body))
		}
	}
	if n := silentHits.Load(); n > int32(originRule.Failures) {
		t.Errorf("the silent address was asked %d times in 8 fills; ejected after %d failures, it should be asked no more", n, originRule.Failures)
	}
	hostsMu.Lock()
	if hosts[name] != 8 || len(hosts) != 1 {
		t.Errorf("the live address saw Host fields %v, want %q on all 8 fills", hosts, name)
	}
	hostsMu.Unlock()
	if !o.up(time.Now()) {
		t.Error("the origin is reported down while one of its addresses answers")
	}
	var liveOrigin *origin
	for _, p := range *o.pods.Load() {
		if p.base == fmt.Sprintf("http://127.0.0.1:%d", port) {
			liveOrigin = p
		}
	}
	if liveOrigin == nil || liveOrigin.host != name {
		t.Fatalf("no origin for the live address with Host %q among %v", name, *o.pods.Load())
	}
	if got := o.fetches.Load(); got < 8 {
		t.Errorf("%d fetches counted on the origin given, want at least 8", got)
	}

	// The name loses the silent address: the live one stays the same origin, its health kept;
	// then the lookup fails, and the addresses stay as they were.
	addrs.Store(&[]string{"127.0.0.1"})
	harness.Eventually(t, 5*time.Second, "the name resolved to the one address left", func() bool {
		p := o.pods.Load()
		return p != nil && len(*p) == 1
	})
	if (*o.pods.Load())[0] != liveOrigin {
		t.Error("the address kept by the new lookup is a new origin (its health lost)")
	}
	addrs.Store(&[]string{})
	n := lookups.Load()
	harness.Eventually(t, 5*time.Second, "two more lookups", func() bool { return lookups.Load() >= n+2 })
	if p := o.pods.Load(); p == nil || len(*p) != 1 {
		t.Error("a lookup that found nothing changed the addresses")
	}
	if r := get(t, base+"/vod/t/r/after.ts"); r.code != 200 {
		t.Errorf("a fill after an empty lookup: %d, want 200", r.code)
	}
}

// TestOriginResolveAddressesLeftAlone: origins given as addresses are not looked up, nor an
// https origin (its certificate names the name, not the addresses).
func TestOriginResolveAddressesLeftAlone(t *testing.T) {
	os, err := newOrigins([]string{"http://127.0.0.1:9", "http://[::1]:9", "https://origin.test:9"}, time.Second, "1.1 e (edgecdn)")
	if err != nil {
		t.Fatal(err)
	}
	called := false
	lookup := func(context.Context, string) ([]string, error) { called = true; return []string{"127.0.0.9"}, nil }
	for _, o := range os.list {
		os.resolveOne(context.Background(), o, time.Second, lookup, quiet)
		if o.pods.Load() != nil {
			t.Errorf("%s: an address was given addresses", o.base)
		}
	}
	if called {
		t.Error("an address was looked up")
	}
	os.resolving = true
	if got := len(os.targets()); got != 3 {
		t.Errorf("%d targets, want the 3 origins given", got)
	}
}

// TestEdgeNotReadyUntilOriginResolves: an edge whose only origin is a name it cannot look up yet
// (its origin pods not Ready, so the headless Service has no records) answers /readyz 503, so
// that nothing is sent to it while every miss would answer 502; it turns ready once the name
// resolves (looked up every second at most until then, however long --origin-resolve is), and
// stays ready when a later lookup fails. Origins given as addresses are ready at once.
func TestEdgeNotReadyUntilOriginResolves(t *testing.T) {
	body := randomBytes(1000, 7)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(body) })}
	go srv.Serve(ln)
	defer srv.Close()
	port := ln.Addr().(*net.TCPAddr).Port

	var addrs atomic.Pointer[[]string]
	addrs.Store(&[]string{})
	var lookups atomic.Int32
	lookup := func(ctx context.Context, host string) ([]string, error) {
		lookups.Add(1)
		if a := *addrs.Load(); len(a) > 0 {
			return a, nil
		}
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	s, base := startEdge(t, Config{Origins: []string{fmt.Sprintf("http://origin.test:%d", port)}, OriginResolve: time.Hour,
		OriginLookup: lookup, ProbeInterval: -1})
	harness.Eventually(t, 5*time.Second, "two lookups of the name", func() bool { return lookups.Load() >= 2 })
	if s.Ready() {
		t.Fatal("ready while the origin's name has never resolved")
	}
	if r := get(t, base+"/readyz"); r.code != 503 {
		t.Errorf("/readyz %d before the name resolved, want 503", r.code)
	}
	addrs.Store(&[]string{"127.0.0.1"})
	harness.Eventually(t, 5*time.Second, "ready once the name resolves", s.Ready)
	if r := get(t, base+"/vod/t/r/a.ts"); r.code != 200 || !bytes.Equal(r.body, body) {
		t.Errorf("a fill once ready: %d, %d bytes", r.code, len(r.body))
	}
	addrs.Store(&[]string{})
	s.origins.resolveOne(context.Background(), s.origins.list[0], time.Second, lookup, quiet)
	if !s.Ready() {
		t.Error("a failed lookup after one that resolved made the edge not ready")
	}

	s2, _ := startEdge(t, Config{Origins: []string{fmt.Sprintf("http://127.0.0.1:%d", port)}, OriginResolve: time.Hour,
		OriginLookup: lookup, ProbeInterval: -1})
	if !s2.Ready() {
		t.Error("an edge whose origin is an address is not ready")
	}
}

// TestStartingUntilOriginResolves: an edge that joins a cluster before its origin's name has
// resolved announces itself starting: another member sees it in the gossip but not among the
// healthy edges (steering, balancers, DNS and rings leave it out) until the name resolves,
// and then sees it alive without anything else done.
func TestStartingUntilOriginResolves(t *testing.T) {
	var addrs atomic.Pointer[[]string]
	addrs.Store(&[]string{})
	lookup := func(ctx context.Context, host string) ([]string, error) {
		if a := *addrs.Load(); len(a) > 0 {
			return a, nil
		}
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	s, base := startEdge(t, Config{Name: "edge-s", Origins: []string{"http://origin.test:9"}, OriginResolve: time.Hour,
		OriginLookup: lookup, ProbeInterval: -1, Clustered: true})
	if s.Usable() {
		t.Fatal("usable before the origin's name resolved")
	}
	watcher := clustertest.Start(t, cluster.Config{Name: "watcher", Meta: cluster.Meta{Role: cluster.RoleSteering}})
	cl := clustertest.Start(t, cluster.Config{Name: "edge-s", Join: []string{watcher.GossipAddr()},
		Meta: cluster.Meta{Role: cluster.RoleEdge, HTTP: strings.TrimPrefix(base, "http://"), Starting: !s.Usable()}})
	s.AttachCluster(cl)
	stateAt := func() cluster.State {
		for _, m := range watcher.Members() {
			if m.Name == "edge-s" {
				return m.State
			}
		}
		return ""
	}
	harness.Eventually(t, 5*time.Second, "the edge starting at the watcher", func() bool { return stateAt() == cluster.Starting })
	if h := watcher.Healthy(cluster.RoleEdge); len(h) != 0 {
		t.Errorf("a starting edge counted healthy: %+v", h)
	}
	addrs.Store(&[]string{"127.0.0.1"})
	harness.Eventually(t, 10*time.Second, "the edge alive at the watcher once its origin resolves", func() bool {
		return stateAt() == cluster.Alive && len(watcher.Healthy(cluster.RoleEdge)) == 1
	})
	if cl.Starting() {
		t.Error("the edge still announces itself starting")
	}
	s2, _ := startEdge(t, Config{Origins: []string{"http://127.0.0.1:9"}, OriginResolve: time.Hour, OriginLookup: lookup, ProbeInterval: -1})
	if !s2.Usable() {
		t.Error("an edge whose origin is an address is not usable")
	}
}
