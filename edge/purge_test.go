package edge

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"edgecdn/internal/harness"
	"edgecdn/internal/purge"
)

func TestClusterPurge(t *testing.T) {
	o := newFakeOrigin(t)
	v1, v2 := randomBytes(20_000, 1), randomBytes(20_000, 2)
	o.put("/vod/t/a/1.m4s", &fakeObject{body: v1, cacheControl: "max-age=3600"})
	o.put("/vod/t/a/2.m4s", &fakeObject{body: v1, cacheControl: "max-age=3600"})
	o.put("/vod/u/a/1.m4s", &fakeObject{body: v1, cacheControl: "max-age=3600"})
	edges := startClusterEdges(t, o.url(), []string{"zone-a", "zone-a", "zone-b", "zone-b"}, func(c *Config) {
		c.AdminToken = "s3cret"
		c.HotThreshold = 1 // every edge keeps what it serves, so every edge has something to purge
	})
	for _, e := range edges {
		harness.Eventually(t, 10*time.Second, e.s.cfg.Name+" sees 4 edges", func() bool { return e.s.ClusterSize() == 4 })
	}
	for _, e := range edges {
		for _, p := range []string{"/vod/t/a/1.m4s", "/vod/t/a/2.m4s", "/vod/u/a/1.m4s"} {
			if r := get(t, e.base+p); r.code != 200 {
				t.Fatalf("%s%s: %d", e.base, p, r.code)
			}
		}
		if r := get(t, e.base+"/vod/t/a/1.m4s"); !strings.Contains(r.header.Get("Cache-Status"), "; hit") {
			t.Fatalf("%s: not cached: %q", e.s.cfg.Name, r.header.Get("Cache-Status"))
		}
	}
	o.put("/vod/t/a/1.m4s", &fakeObject{body: v2, cacheControl: "max-age=3600"})

	// Without the token: refused, nothing purged anywhere.
	for _, auth := range []string{"", "Bearer wrong"} {
		if r := do(t, "POST", edges[1].base+"/admin/purge?prefix=/vod/t/", "Authorization", auth); r.code != 401 {
			t.Errorf("purge with %q: %d, want 401", auth, r.code)
		}
	}
	if r := do(t, "POST", edges[1].base+"/admin/purge?prefix=/vod/t/&wait=forever", "Authorization", "Bearer s3cret"); r.code != 400 {
		t.Errorf("bad wait: %d, want 400", r.code)
	}
	for _, e := range edges {
		if st := e.s.cache.Stats(); st.Objects < 3 {
			t.Fatalf("%s lost objects to a refused purge: %d", e.s.cfg.Name, st.Objects)
		}
	}

	r := do(t, "POST", edges[1].base+"/admin/purge?prefix=/vod/t/", "Authorization", "Bearer s3cret")
	var res purge.Result
	if err := json.Unmarshal(r.body, &res); r.code != 200 || err != nil {
		t.Fatalf("cluster purge: %d %s", r.code, r.body)
	}
	if !res.Complete || res.Edges != 4 || len(res.Confirmed) != 4 || len(res.Missing) != 0 || res.Purged != 8 {
		t.Errorf("cluster purge: %+v; want 4 of 4 edges confirmed, 8 objects", res)
	}
	for _, e := range edges {
		for _, p := range []string{"/vod/t/a/1.m4s", "/vod/t/a/2.m4s"} {
			if _, ok := e.s.cache.Peek(p); ok {
				t.Errorf("%s still holds %s after the purge answered", e.s.cfg.Name, p)
			}
		}
		if _, ok := e.s.cache.Peek("/vod/u/a/1.m4s"); !ok {
			t.Errorf("%s lost an object outside the prefix", e.s.cfg.Name)
		}
		// The next request refetches: the new bytes, never the purged ones (not even from a
		// peer that has refilled meanwhile from an old copy).
		r := get(t, e.base+"/vod/t/a/1.m4s")
		if r.code != 200 || string(r.body) != string(v2) {
			t.Errorf("%s after the purge: %d, %q, old bytes %v", e.s.cfg.Name, r.code, r.header.Get("Cache-Status"), string(r.body) == string(v1))
		}
	}
	// scope=local purges only the edge it is sent to.
	r = do(t, "POST", edges[2].base+"/admin/purge?path=/vod/u/a/1.m4s&scope=local", "Authorization", "Bearer s3cret")
	if r.code != 200 || strings.TrimSpace(string(r.body)) != `{"purged":1}` {
		t.Errorf("local purge: %d %s", r.code, r.body)
	}
	if _, ok := edges[3].s.cache.Peek("/vod/u/a/1.m4s"); !ok {
		t.Error("a local purge reached another edge")
	}
}

// A fill in flight when a purge arrives serves its clients but is not stored, and nobody new
// joins it: the next request fetches again.
func TestPurgeDuringFillNotStored(t *testing.T) {
	o := newFakeOrigin(t)
	gate := make(chan struct{})
	v1, v2 := randomBytes(100_000, 1), randomBytes(100_000, 2)
	o.put("/vod/t/1.m4s", &fakeObject{body: v1, cacheControl: "max-age=3600", gate: gate})
	s, base := startEdge(t, Config{Origins: []string{o.url()}, AdminToken: "s3cret", ProbeInterval: -1})
	first := make(chan resp, 1)
	go func() { first <- get(t, base+"/vod/t/1.m4s") }()
	harness.Eventually(t, 5*time.Second, "the fill has started", func() bool { return o.count("/vod/t/1.m4s") == 1 })
	if r := do(t, "POST", base+"/admin/purge?path=/vod/t/1.m4s", "Authorization", "Bearer s3cret"); r.code != 200 {
		t.Fatalf("purge: %d %s", r.code, r.body)
	}
	o.put("/vod/t/1.m4s", &fakeObject{body: v2, cacheControl: "max-age=3600"})
	close(gate)
	if r := <-first; r.code != 200 || string(r.body) != string(v1) {
		t.Fatalf("the client of the purged fill: %d, %d bytes", r.code, len(r.body))
	}
	harness.Eventually(t, 5*time.Second, "the purged fill ends", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.inflight) == 0
	})
	if _, ok := s.cache.Peek("/vod/t/1.m4s"); ok {
		t.Fatal("a fill purged in flight was stored")
	}
	if r := get(t, base+"/vod/t/1.m4s"); r.code != 200 || string(r.body) != string(v2) {
		t.Errorf("after the purge: %d, new bytes %v", r.code, string(r.body) == string(v2))
	}
	if n := s.m.purgeDiscarded.Get(); n != 1 {
		t.Errorf("discarded fills: %d, want 1", n)
	}
}
