package edge

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"edgecdn/internal/cluster"
	"edgecdn/internal/harness"
	"edgecdn/internal/ring"
)

// testEdge is one edge of an in-process cluster on loopback: real HTTP and real gossip.
type testEdge struct {
	s    *Server
	base string
	cl   *cluster.Cluster
	ln   net.Listener
	done chan struct{}
}

// kill stops an edge as SIGKILL would: no goodbye to the cluster, connections dropped.
func (e *testEdge) kill() {
	e.cl.Shutdown()
	e.s.cluster.Store(nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	e.s.Shutdown(ctx)
	<-e.done
}

func startClusterEdges(t *testing.T, origin string, zones []string, mod func(*Config)) []*testEdge {
	t.Helper()
	var edges []*testEdge
	var join []string
	for i, z := range zones {
		// A generous peer timeout: these tests are about placement and coalescing, and on a
		// loaded test machine a slow dial would (rightly) send a fill to the origin.
		cfg := Config{Name: fmt.Sprintf("%s-%d", z, i), Zone: z, Origins: []string{origin}, Logger: quiet, ProbeInterval: -1, PeerTimeout: 5 * time.Second}
		if mod != nil {
			mod(&cfg)
		}
		s, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		cl, err := cluster.Start(cluster.Config{
			Name: cfg.Name, Meta: cluster.Meta{Role: cluster.RoleEdge, Zone: z, HTTP: ln.Addr().String()},
			GossipListen: "127.0.0.1:0", Join: join, LoadFunc: s.Load, Logger: quiet,
			EventKey: []byte(cfg.AdminToken), OnEvent: s.ClusterEvent,
		})
		if err != nil {
			t.Fatal(err)
		}
		join = []string{cl.GossipAddr()}
		s.AttachCluster(cl)
		e := &testEdge{s: s, base: "http://" + ln.Addr().String(), cl: cl, ln: ln, done: make(chan struct{})}
		go func() { s.Serve(ln); close(e.done) }()
		edges = append(edges, e)
	}
	t.Cleanup(func() {
		for _, e := range edges {
			select {
			case <-e.done:
				continue
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			e.s.Shutdown(ctx)
			cancel()
			<-e.done
		}
	})
	for _, e := range edges {
		harness.Eventually(t, 30*time.Second, e.s.cfg.Name+" sees every edge on its rings", func() bool {
			return e.s.ClusterSize() == len(zones)
		})
	}
	return edges
}

func ownerIn(edges []*testEdge, zone, key string) *testEdge {
	var names []string
	for _, e := range edges {
		if e.s.cfg.Zone == zone {
			names = append(names, e.s.cfg.Name)
		}
	}
	owner := ring.New(names, 0).OwnerName(ring.HashString(key))
	for _, e := range edges {
		if e.s.cfg.Name == owner {
			return e
		}
	}
	return nil
}

var sixEdges = []string{"zone-a", "zone-a", "zone-b", "zone-b", "zone-c", "zone-c"}

// TestClusterCoalescing: 1,000 concurrent requests for one new object, spread over 6 edges in
// 3 zones, reach the origin at most once per zone, and once with cross-zone fill.
func TestClusterCoalescing(t *testing.T) {
	for _, cross := range []bool{false, true} {
		t.Run(fmt.Sprintf("cross-zone=%v", cross), func(t *testing.T) {
			o := newFakeOrigin(t)
			body := randomBytes(500_000, 21)
			o.put("/vod/t/r/new.ts", &fakeObject{body: body, cacheControl: "max-age=3600"})
			edges := startClusterEdges(t, o.url(), sixEdges, func(c *Config) { c.CrossZoneFill = cross })
			n := 1000
			if raceEnabled {
				// Under the race detector 1,000 connections make peer dials outlast the peer
				// timeout, and edges rightly fall back to the origin; fewer show the coalescing.
				n = 200
			}
			tr := &http.Transport{MaxIdleConnsPerHost: 200, Proxy: nil}
			defer tr.CloseIdleConnections()
			c := &http.Client{Transport: tr, Timeout: 30 * time.Second}
			var wg sync.WaitGroup
			var mu sync.Mutex
			failed := 0
			start := make(chan struct{})
			for i := 0; i < n; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					r, err := c.Get(edges[i%len(edges)].base + "/vod/t/r/new.ts")
					ok := err == nil && r.StatusCode == 200
					if ok {
						b := make([]byte, len(body)+1)
						m, _ := ioReadFull(r.Body, b)
						ok = m == len(body)
						r.Body.Close()
					}
					if !ok {
						mu.Lock()
						failed++
						mu.Unlock()
					}
				}()
			}
			close(start)
			wg.Wait()
			fetches := o.count("/vod/t/r/new.ts")
			want := 3
			if cross {
				want = 1
			}
			t.Logf("%d requests over 6 edges in 3 zones (cross-zone fill %v): %d origin fetches, %d failed", n, cross, fetches, failed)
			if failed > 0 {
				t.Errorf("%d requests failed", failed)
			}
			if fetches > want || fetches == 0 {
				t.Errorf("origin fetches = %d, want at most %d", fetches, want)
			}
		})
	}
}

// TestPeerFill: a request at a non-owner is served through the owner; the object is stored
// once in the zone, at its owner; a key requested often at the non-owner is kept there too.
func TestPeerFill(t *testing.T) {
	o := newFakeOrigin(t)
	edges := startClusterEdges(t, o.url(), []string{"z", "z", "z"}, func(c *Config) { c.HotThreshold = 3 })
	key := "/vod/t/r/peer.ts"
	o.put(key, &fakeObject{body: randomBytes(10_000, 3), cacheControl: "max-age=3600"})
	owner := ownerIn(edges, "z", key)
	var other *testEdge
	for _, e := range edges {
		if e != owner {
			other = e
			break
		}
	}
	if r := get(t, other.base+key); r.code != 200 {
		t.Fatalf("at the non-owner: %d", r.code)
	}
	if _, ok := owner.s.cache.Peek(key); !ok {
		t.Error("the owner did not store the object")
	}
	if _, ok := other.s.cache.Peek(key); ok {
		t.Error("the non-owner stored an object it does not own on its first request")
	}
	if other.s.m.peerFetches[kindSegment].Get() != 1 || o.count(key) != 1 {
		t.Errorf("peer fetches %d, origin fetches %d; want 1 and 1", other.s.m.peerFetches[kindSegment].Get(), o.count(key))
	}
	// Hot: after a few more misses the non-owner keeps a copy and answers hits itself.
	for i := 0; i < 3; i++ {
		get(t, other.base+key)
	}
	if r := get(t, other.base+key); r.header.Get("Cache-Status") != other.s.cfg.Name+"; hit" {
		t.Errorf("hot object at the non-owner: %q", r.header.Get("Cache-Status"))
	}
	if o.count(key) != 1 {
		t.Errorf("origin fetches %d, want 1", o.count(key))
	}
}

// TestHopHeader: a malformed hop header is ignored (the non-owner still asks the owner, so the
// origin is asked once), a valid one from an edge of the cluster makes the edge fill itself, and
// no address outside the cluster is trusted with it.
func TestHopHeader(t *testing.T) {
	o := newFakeOrigin(t)
	edges := startClusterEdges(t, o.url(), []string{"z", "z"}, func(c *Config) { c.HotThreshold = -1 })
	key := "/vod/t/r/hop.ts"
	o.put(key, &fakeObject{body: []byte("hop"), cacheControl: "max-age=3600"})
	owner := ownerIn(edges, "z", key)
	other := edges[0]
	if other == owner {
		other = edges[1]
	}
	for _, v := range []string{"9", "x", "11", "", "0"} {
		if r := get(t, other.base+key, hopHeader, v); r.code != 200 {
			t.Fatalf("hop %q: %d", v, r.code)
		}
	}
	if n := o.count(key); n != 1 {
		t.Errorf("malformed hop headers: origin asked %d times, want 1 (through the owner)", n)
	}
	// In this all-loopback cluster 127.0.0.1 is an edge's address, so a valid hop is honoured.
	if r := get(t, other.base+key, hopHeader, "2"); r.code != 200 {
		t.Fatalf("hop 2: %d", r.code)
	}
	if n := o.count(key); n != 2 {
		t.Errorf("a hop-2 request at the non-owner: origin asked %d times in all, want 2", n)
	}
	if other.s.trustedPeer(net.ParseIP("10.9.9.9")) || !other.s.trustedPeer(net.ParseIP("127.0.0.1")) {
		t.Error("trust: an address outside the cluster is trusted, or an edge's is not")
	}
}

// TestOwnerFailureFallsBack: an owner killed without a goodbye; until the cluster notices, the
// other edges fall back to the origin and no request fails.
func TestOwnerFailureFallsBack(t *testing.T) {
	o := newFakeOrigin(t)
	edges := startClusterEdges(t, o.url(), []string{"z", "z", "z"}, nil)
	var keys []string
	for i := 0; i < 60; i++ {
		k := fmt.Sprintf("/vod/t/r/%d.ts", i)
		keys = append(keys, k)
		o.put(k, &fakeObject{body: randomBytes(2000, uint64(i)), cacheControl: "max-age=3600"})
	}
	victim := edges[0]
	victim.kill()
	killed := time.Now()
	survivors := edges[1:]
	failures := 0
	i := 0
	// Keep asking until both survivors have dropped the victim from their rings.
	for {
		for _, e := range survivors {
			r := get(t, e.base+keys[i%len(keys)])
			if r.code != 200 {
				failures++
			}
			i++
		}
		gone := true
		for _, e := range survivors {
			for _, n := range e.s.place.Load().zone.Ring().Nodes() {
				gone = gone && n != victim.s.cfg.Name
			}
		}
		if gone {
			break
		}
		if time.Since(killed) > 20*time.Second {
			t.Fatal("the victim is still on a ring 20 s after it died")
		}
	}
	t.Logf("victim dropped from the rings %v after it was killed; %d requests meanwhile, %d failed", time.Since(killed).Round(time.Millisecond), i, failures)
	if failures > 0 {
		t.Errorf("%d requests to surviving edges failed", failures)
	}
}

func TestClusterEndpoint(t *testing.T) {
	o := newFakeOrigin(t)
	edges := startClusterEdges(t, o.url(), sixEdges, nil)
	r := get(t, edges[0].base+"/cluster")
	var info ClusterInfo
	if err := json.Unmarshal(r.body, &info); err != nil || r.code != 200 {
		t.Fatalf("/cluster: %d %v", r.code, err)
	}
	if len(info.Members) != 6 || len(info.Rings) != 3 || info.Self != "zone-a-0" {
		t.Errorf("/cluster: %d members, %d rings, self %q", len(info.Members), len(info.Rings), info.Self)
	}
	for _, m := range info.Members {
		if m.State != cluster.Alive || m.RingShare < 0.2 || m.RingShare > 0.8 || m.HTTP == "" || m.Zone == "" {
			t.Errorf("member %+v", m)
		}
	}
}
