package loadbalancer

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"edgecdn/internal/cli"
	"edgecdn/internal/cluster"
	"edgecdn/internal/cluster/clustertest"
	"edgecdn/internal/harness"
	"edgecdn/internal/httpx"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// fakeEdge is an HTTP server standing in for an edge: it counts requests and echoes what the
// balancer sent it.
type fakeEdge struct {
	name  string
	ln    net.Listener
	srv   *http.Server
	count atomic.Int64
	body  []byte
	down  atomic.Bool // answer 503 (shutting down)
}

func newFakeEdge(t *testing.T, name string, body []byte) *fakeEdge {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := &fakeEdge{name: name, ln: ln, body: body}
	e.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/readyz" {
			if e.down.Load() {
				w.WriteHeader(503)
			}
			return
		}
		e.count.Add(1)
		if e.down.Load() {
			w.WriteHeader(503)
			return
		}
		w.Header().Set("X-Served-By", e.name)
		w.Header().Set("X-Seen-XFF", r.Header.Get("X-Forwarded-For"))
		w.Header().Set("X-Seen-Via", r.Header.Get("Via"))
		w.Header().Set("ETag", `"e"`)
		if r.Header.Get("If-None-Match") == `"e"` {
			w.WriteHeader(304)
			return
		}
		http.ServeContent(w, r, "x.ts", time.Unix(0, 0), bytes.NewReader(e.body)) // Range handled
	})}
	go e.srv.Serve(ln)
	t.Cleanup(func() { e.srv.Close() })
	return e
}

func (e *fakeEdge) addr() string { return e.ln.Addr().String() }
func (e *fakeEdge) kill()        { e.srv.Close() }

func startLB(t *testing.T, cfg Config) (*Server, string) {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = quiet
	}
	if cfg.Name == "" {
		cfg.Name = "lb-test"
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s, harness.ServeLoopback(t, s)
}

var client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 32, Proxy: nil}, Timeout: 30 * time.Second}

func get(t *testing.T, url string, hdr ...string) (*http.Response, []byte, error) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	r, err := client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer r.Body.Close()
	b, err := io.ReadAll(r.Body)
	return r, b, err
}

// TestRoundRobin: 3,000 requests over 3 edges land within 5% of even.
func TestRoundRobin(t *testing.T) {
	var edges []*fakeEdge
	var addrs []string
	for i := 0; i < 3; i++ {
		e := newFakeEdge(t, fmt.Sprintf("e%d", i), []byte("x"))
		edges = append(edges, e)
		addrs = append(addrs, e.addr())
	}
	_, base := startLB(t, Config{Zone: "z", Upstreams: addrs, ProbeInterval: -1})
	var wg sync.WaitGroup
	for w := 0; w < 10; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 300; i++ {
				if r, _, err := get(t, base+"/vod/t/r/s.ts"); err != nil || r.StatusCode != 200 {
					t.Errorf("request failed: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, e := range edges {
		n := e.count.Load()
		t.Logf("%s: %d requests", e.name, n)
		if n < 950 || n > 1050 {
			t.Errorf("%s got %d of 3000 requests, want 1000 ±5%%", e.name, n)
		}
	}
}

// TestKilledEdge: an edge that dies is ejected, and no client request fails: the one request
// that finds it dead is retried on another edge.
func TestKilledEdge(t *testing.T) {
	a, b, c := newFakeEdge(t, "a", []byte("x")), newFakeEdge(t, "b", []byte("x")), newFakeEdge(t, "c", []byte("x"))
	s, base := startLB(t, Config{Zone: "z", Upstreams: []string{a.addr(), b.addr(), c.addr()}, ProbeInterval: 50 * time.Millisecond})
	for i := 0; i < 30; i++ {
		get(t, base+"/x")
	}
	b.kill()
	failed := 0
	for i := 0; i < 300; i++ {
		if r, _, err := get(t, base+"/x"); err != nil || r.StatusCode != 200 {
			failed++
		}
	}
	if failed > 0 {
		t.Errorf("%d of 300 requests failed after an edge died", failed)
	}
	if l, _ := s.Healthy(); l != 2 {
		t.Errorf("%d edges in service, want 2", l)
	}
	// An edge answering 503 (shutting down) is also skipped, and the probe keeps it out.
	c.down.Store(true)
	for i := 0; i < 100; i++ {
		if r, _, err := get(t, base+"/x"); err != nil || r.StatusCode != 200 {
			t.Fatalf("request with one edge draining: %v", err)
		}
	}
	harness.Eventually(t, 2*time.Second, "draining edge out of service", func() bool { l, _ := s.Healthy(); return l == 1 })
	c.down.Store(false)
	harness.Eventually(t, 2*time.Second, "edge back after the probe", func() bool { l, _ := s.Healthy(); return l == 2 })
	if r, _, err := get(t, base+"/x"); err != nil || r.StatusCode != 200 {
		t.Fatal(err)
	}
}

func TestHeadersAndStreaming(t *testing.T) {
	body := make([]byte, 3_000_000)
	rng := rand.New(rand.NewPCG(1, 1))
	for i := range body {
		body[i] = byte(rng.Uint32())
	}
	e := newFakeEdge(t, "e", body)
	_, base := startLB(t, Config{Name: "lb-a", Zone: "z", Upstreams: []string{e.addr()}, ProbeInterval: -1})
	r, b, err := get(t, base+"/vod/t/r/big.ts")
	if err != nil || r.StatusCode != 200 || !bytes.Equal(b, body) {
		t.Fatalf("whole body: %v, %d bytes", err, len(b))
	}
	if r.Header.Get("X-Served-By") != "e" || r.Header.Get("X-Seen-XFF") != "127.0.0.1" || !strings.Contains(r.Header.Get("X-Seen-Via"), "lb-a") {
		t.Errorf("headers: served by %q, XFF %q, Via %q", r.Header.Get("X-Served-By"), r.Header.Get("X-Seen-XFF"), r.Header.Get("X-Seen-Via"))
	}
	r, _, _ = get(t, base+"/x", "X-Forwarded-For", "203.0.113.7")
	if got := r.Header.Get("X-Seen-XFF"); got != "203.0.113.7, 127.0.0.1" {
		t.Errorf("XFF appended: %q", got)
	}
	r, b, _ = get(t, base+"/x", "Range", "bytes=100-199")
	if r.StatusCode != 206 || !bytes.Equal(b, body[100:200]) || r.Header.Get("Content-Range") != "bytes 100-199/3000000" {
		t.Errorf("range: %d %q", r.StatusCode, r.Header.Get("Content-Range"))
	}
	r, b, _ = get(t, base+"/x", "If-None-Match", `"e"`)
	if r.StatusCode != 304 || len(b) != 0 {
		t.Errorf("conditional: %d", r.StatusCode)
	}
	req, _ := http.NewRequest("HEAD", base+"/x", nil)
	hr, err := client.Do(req)
	if err != nil || hr.StatusCode != 200 || hr.Header.Get("Content-Length") != strconv.Itoa(len(body)) {
		t.Errorf("HEAD: %v %v", err, hr.Header.Get("Content-Length"))
	}
}

// TestCrossZoneSpill: with the zone's edges gone, --cross-zone sends requests to other zones;
// without it the balancer answers 503.
func TestCrossZoneSpill(t *testing.T) {
	ea, eb := newFakeEdge(t, "a1", []byte("a")), newFakeEdge(t, "b1", []byte("b"))
	ma := startMember(t, "a1", cluster.Meta{Role: cluster.RoleEdge, Zone: "zone-a", HTTP: ea.addr()}, "")
	startMember(t, "b1", cluster.Meta{Role: cluster.RoleEdge, Zone: "zone-b", HTTP: eb.addr()}, ma.GossipAddr())
	for _, cross := range []bool{true, false} {
		lbm := startMember(t, fmt.Sprintf("lb-%v", cross), cluster.Meta{Role: cluster.RoleLB, Zone: "zone-a"}, ma.GossipAddr())
		s, base := startLB(t, Config{Zone: "zone-a", CrossZone: cross, ProbeInterval: -1})
		s.AttachCluster(lbm)
		harness.Eventually(t, 5*time.Second, "lb sees both zones", func() bool { l, r := s.Healthy(); return l == 1 && r == 1 })
		if r, b, _ := get(t, base+"/x"); r.StatusCode != 200 || string(b) != "a" {
			t.Errorf("cross=%v: zone-a up: %d %q", cross, r.StatusCode, b)
		}
		ea.down.Store(true)
		r, b, _ := get(t, base+"/x")
		switch {
		case cross && (r.StatusCode != 200 || string(b) != "b"):
			t.Errorf("cross-zone spill: %d %q, want zone-b's answer", r.StatusCode, b)
		case !cross && r.StatusCode != 503:
			t.Errorf("no spill: %d, want 503", r.StatusCode)
		}
		ea.down.Store(false)
		for _, u := range s.pool.Load().all {
			u.health.OK(time.Now())
		}
	}
}

func startMember(t *testing.T, name string, meta cluster.Meta, join string) *cluster.Cluster {
	t.Helper()
	return clustertest.Start(t, cluster.Config{Name: name, Meta: meta, Join: cli.SplitList(join)})
}

func TestNoEdges(t *testing.T) {
	_, base := startLB(t, Config{Zone: "z", ProbeInterval: -1})
	if r, _, err := get(t, base+"/x"); err != nil || r.StatusCode != 503 {
		t.Errorf("no edges: %v %d", err, r.StatusCode)
	}
	if r, _, _ := get(t, base+"/readyz"); r.StatusCode != 503 {
		t.Errorf("readyz with no edges: %d", r.StatusCode)
	}
	if _, err := New(Config{Upstreams: []string{"nope"}}); err == nil {
		t.Error("bad upstream accepted")
	}
}

// TestAdminListener: with an admin listener, the client port serves content, /healthz and
// /readyz only: /metrics, /debug/pprof/ and the edges' /cluster and /admin/ are 404 there (and
// never forwarded to an edge); the admin port serves /metrics with no token and /debug/pprof/
// only with it.
func TestAdminListener(t *testing.T) {
	e := newFakeEdge(t, "e1", []byte("0123456789"))
	s, base := startLB(t, Config{Zone: "z", Upstreams: []string{e.addr()}, ProbeInterval: -1, AdminToken: "tok"})
	aln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.ServeAdmin(aln)
	admin := "http://" + aln.Addr().String()
	// ServeAdmin separates the listeners before it serves: once the admin listener answers,
	// the client listener no longer serves /metrics.
	harness.Eventually(t, 5*time.Second, "admin listener answers", func() bool {
		r, _, err := get(t, admin+"/healthz")
		return err == nil && r.StatusCode == 200
	})
	for _, c := range []struct {
		url, tok string
		want     int
	}{
		{base + "/vod/t/x.ts", "", 200},
		{base + "/healthz", "", 200},
		{base + "/readyz", "", 200},
		{base + "/metrics", "", 404},
		{base + "/debug/pprof/cmdline", "tok", 404},
		{base + "/cluster", "tok", 404},
		{base + "/admin/purge?prefix=/vod/", "tok", 404},
		{admin + "/metrics", "", 200},
		{admin + "/readyz", "", 200},
		{admin + "/debug/pprof/cmdline", "", 401},
		{admin + "/debug/pprof/cmdline", "tok", 200},
		{admin + "/vod/t/x.ts", "tok", 404},
	} {
		var hdr []string
		if c.tok != "" {
			hdr = []string{"Authorization", "Bearer " + c.tok}
		}
		r, _, err := get(t, c.url, hdr...)
		if err != nil || r.StatusCode != c.want {
			t.Errorf("GET %s: %v %v, want %d", c.url, err, r, c.want)
		}
	}
	if n := e.count.Load(); n != 1 {
		t.Errorf("the edge got %d requests, want 1 (the content one): an admin path was forwarded", n)
	}
}

// TestDrainingEdgeDropped: an edge that announces its drain in the gossip leaves the
// balancer's rotation at once (no probe, no ejection needed), though it still answers.
func TestDrainingEdgeDropped(t *testing.T) {
	a, b := newFakeEdge(t, "a", []byte("aaaa")), newFakeEdge(t, "b", []byte("bbbb"))
	ma := startMember(t, "a", cluster.Meta{Role: cluster.RoleEdge, Zone: "z", HTTP: a.addr()}, "")
	startMember(t, "b", cluster.Meta{Role: cluster.RoleEdge, Zone: "z", HTTP: b.addr()}, ma.GossipAddr())
	s, base := startLB(t, Config{Zone: "z", ProbeInterval: -1})
	s.AttachCluster(startMember(t, "lb", cluster.Meta{Role: cluster.RoleLB, Zone: "z"}, ma.GossipAddr()))
	harness.Eventually(t, 5*time.Second, "2 edges in rotation", func() bool { l, _ := s.Healthy(); return l == 2 })
	if err := ma.SetDraining(time.Second); err != nil {
		t.Fatal(err)
	}
	d := harness.Eventually(t, 2*time.Second, "the draining edge out of rotation", func() bool { l, _ := s.Healthy(); return l == 1 })
	t.Logf("out of rotation %v after the drain was announced", d)
	before := a.count.Load()
	for i := 0; i < 20; i++ {
		if r, _, err := get(t, base+"/vod/t/x.ts"); err != nil || r.Header.Get("X-Served-By") != "b" {
			t.Fatalf("request %d: %v %v, want it served by b", i, err, r)
		}
	}
	if a.count.Load() != before {
		t.Errorf("the draining edge got %d requests", a.count.Load()-before)
	}
}

// TestNoCrossZoneWhenZoneGone: when the zone's edges leave the cluster altogether (not only
// fail), a balancer without CrossZone answers 503 with Retry-After and never sends a request to
// another zone's edge; with CrossZone it does.
func TestNoCrossZoneWhenZoneGone(t *testing.T) {
	for _, cross := range []bool{false, true} {
		t.Run(fmt.Sprintf("cross=%v", cross), func(t *testing.T) {
			ea, eb := newFakeEdge(t, "a1", []byte("a")), newFakeEdge(t, "b1", []byte("b"))
			mb := startMember(t, "b1", cluster.Meta{Role: cluster.RoleEdge, Zone: "zone-b", HTTP: eb.addr()}, "")
			ma := startMember(t, "a1", cluster.Meta{Role: cluster.RoleEdge, Zone: "zone-a", HTTP: ea.addr()}, mb.GossipAddr())
			lbm := startMember(t, "lb", cluster.Meta{Role: cluster.RoleLB, Zone: "zone-a"}, mb.GossipAddr())
			s, base := startLB(t, Config{Zone: "zone-a", CrossZone: cross, ProbeInterval: -1})
			s.AttachCluster(lbm)
			harness.Eventually(t, 5*time.Second, "lb sees both zones", func() bool { l, r := s.Healthy(); return l == 1 && r == 1 })
			if err := ma.Leave(time.Second); err != nil {
				t.Fatal(err)
			}
			ma.Shutdown()
			harness.Eventually(t, 10*time.Second, "zone-a's edge gone from the pool", func() bool { return len(s.pool.Load().local) == 0 })
			for i := 0; i < 20; i++ {
				r, b, err := get(t, base+"/x")
				if err != nil {
					t.Fatal(err)
				}
				switch {
				case cross && (r.StatusCode != 200 || string(b) != "b"):
					t.Fatalf("cross-zone: %d %q, want zone-b's answer", r.StatusCode, b)
				case !cross && (r.StatusCode != 503 || r.Header.Get("Retry-After") == ""):
					t.Fatalf("no cross-zone: %d, Retry-After %q; want 503 with Retry-After", r.StatusCode, r.Header.Get("Retry-After"))
				}
			}
			if got := eb.count.Load(); !cross && got != 0 {
				t.Errorf("zone-b's edge got %d requests from zone-a's balancer without --cross-zone", got)
			}
			r, _, _ := get(t, base+"/readyz")
			if want := map[bool]int{false: 503, true: 200}[cross]; r.StatusCode != want {
				t.Errorf("/readyz %d, want %d", r.StatusCode, want)
			}
		})
	}
}

// TestCORSOnceThroughTheBalancer: the balancer answers CORS with its own policy, replacing the
// edge's headers whatever their spelling, so each appears exactly once; its preflights never
// reach an edge; its 503 for want of an edge carries CORS too.
func TestCORSOnceThroughTheBalancer(t *testing.T) {
	const page = "http://127.0.0.1:3000"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var hits atomic.Int64
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/readyz" {
			return
		}
		hits.Add(1)
		h := w.Header()
		// An edge allowing any origin, one header in an odd spelling (not canonicalized).
		h["access-control-allow-origin"] = []string{"*"}
		h.Set("Access-Control-Expose-Headers", "X-Edge")
		h.Set("Access-Control-Max-Age", "5")
		h.Set("Vary", "Origin")
		h.Set("X-Served-By", "e1")
		w.Write([]byte("x"))
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	_, base := startLB(t, Config{Zone: "z", Upstreams: []string{ln.Addr().String()}, ProbeInterval: -1, CORSOrigins: []string{page}})
	_, empty := startLB(t, Config{Zone: "z", ProbeInterval: -1, CORSOrigins: []string{page}})
	tests := []struct {
		name, method, url string
		hdr               []string
		code              int
		want              map[string]string // exactly once with this value; "" absent
		edgeHits          int64
	}{
		{"GET, listed origin", "GET", base + "/vod/t/x.ts", []string{"Origin", page}, 200,
			map[string]string{"Access-Control-Allow-Origin": page, "Access-Control-Allow-Credentials": "true",
				"Access-Control-Expose-Headers": httpx.CORSExposeHeaders, "Access-Control-Max-Age": "", "Vary": "Origin", "X-Served-By": "e1"}, 1},
		{"GET, another origin", "GET", base + "/vod/t/x.ts", []string{"Origin", "http://evil.example"}, 200,
			map[string]string{"Access-Control-Allow-Origin": "", "Access-Control-Expose-Headers": "", "Vary": "Origin"}, 1},
		{"preflight", "OPTIONS", base + "/vod/t/x.ts", []string{"Origin", page, "Access-Control-Request-Method", "GET"}, 204,
			map[string]string{"Access-Control-Allow-Origin": page, "Access-Control-Allow-Methods": httpx.CORSAllowMethods,
				"Access-Control-Max-Age": "7200"}, 0},
		{"no edge: 503", "GET", empty + "/vod/t/x.ts", []string{"Origin", page}, 503,
			map[string]string{"Access-Control-Allow-Origin": page, "Access-Control-Expose-Headers": httpx.CORSExposeHeaders}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := hits.Load()
			req, _ := http.NewRequest(tt.method, tt.url, nil)
			for i := 0; i+1 < len(tt.hdr); i += 2 {
				req.Header.Set(tt.hdr[i], tt.hdr[i+1])
			}
			r, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, r.Body)
			r.Body.Close()
			if r.StatusCode != tt.code {
				t.Errorf("status %d, want %d", r.StatusCode, tt.code)
			}
			for k, v := range tt.want {
				got := r.Header.Values(k)
				if v == "" && len(got) != 0 || v != "" && (len(got) != 1 || got[0] != v) {
					t.Errorf("%s %q, want exactly [%s]", k, got, v)
				}
			}
			if got := hits.Load() - before; got != tt.edgeHits {
				t.Errorf("the edge got %d requests, want %d", got, tt.edgeHits)
			}
		})
	}
}
