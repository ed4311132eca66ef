package edge

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"edgecdn/internal/harness"
)

// putTitle puts an HLS title on the fake origin: one rendition "r1" with an init section and
// n segments of size bytes.
func putTitle(o *fakeOrigin, title string, n, size int) []string {
	o.put("/vod/"+title+"/master.m3u8", &fakeObject{cacheControl: "max-age=60",
		body: []byte("#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-STREAM-INF:BANDWIDTH=800000\nr1/index.m3u8\n")})
	var b strings.Builder
	b.WriteString("#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:4\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-MAP:URI=\"init.mp4\"\n")
	o.put("/vod/"+title+"/r1/init.mp4", &fakeObject{body: randomBytes(500, 9), cacheControl: "max-age=3600"})
	var segs []string
	for i := 1; i <= n; i++ {
		p := fmt.Sprintf("/vod/%s/r1/%05d.m4s", title, i)
		o.put(p, &fakeObject{body: randomBytes(size, uint64(i)), cacheControl: "max-age=3600"})
		fmt.Fprintf(&b, "#EXTINF:4.0,\n%05d.m4s\n", i)
		segs = append(segs, p)
	}
	b.WriteString("#EXT-X-ENDLIST\n")
	o.put("/vod/"+title+"/r1/index.m3u8", &fakeObject{body: []byte(b.String()), cacheControl: "max-age=60"})
	return segs
}

func TestParsePlan(t *testing.T) {
	for _, c := range []struct {
		in string
		ok bool
	}{
		{`{"titles":["t1"],"segments":3}`, true},
		{`{"top":5,"window":"30m","rate_bps":1e6}`, true},
		{`{"zones":{"zone-a":["t1"]},"renditions":["r1"]}`, true},
		{`{}`, false},
		{`{"titles":["../etc"]}`, false},
		{`{"titles":["a/b"]}`, false},
		{`{"titles":["t1"],"top":3}`, false},
		{`{"titles":["t1"],"segments":-1}`, false},
		{`{"top":3,"window":"48h"}`, false},
		{`{"titles":["t1"],"bogus":1}`, false},
		{`{"titles":["t1"]} {}`, false},
		{`{"titles":["t1"],"not_before":"2030-01-01T00:00:00Z","not_after":"2029-01-01T00:00:00Z"}`, false},
	} {
		_, err := ParsePlan([]byte(c.in))
		if (err == nil) != c.ok {
			t.Errorf("ParsePlan(%s): %v, want ok %v", c.in, err, c.ok)
		}
	}
}

func FuzzParsePlan(f *testing.F) {
	f.Add([]byte(`{"titles":["t1"],"segments":3}`))
	f.Add([]byte(`{"top":5,"window":"30m"}`))
	f.Add([]byte(`{"zones":{"z":["t"]},"renditions":["r1"],"rate_bps":100}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParsePlan(b)
		if err != nil {
			return
		}
		if p.check() != nil || p.Segments < 0 || p.Top < 0 {
			t.Fatalf("accepted a bad plan: %+v", p)
		}
	})
}

func TestPrefillStandalone(t *testing.T) {
	o := newFakeOrigin(t)
	segs := putTitle(o, "t1", 5, 50_000)
	putTitle(o, "t2", 5, 50_000)
	s, base := startEdge(t, Config{Origins: []string{o.url()}, AdminToken: "s3cret", ProbeInterval: -1, CacheBytes: 64 << 20})
	auth := []string{"Authorization", "Bearer s3cret"}
	if r := do(t, "POST", base+"/admin/prefill", auth...); r.code != 400 {
		t.Errorf("empty plan: %d, want 400", r.code)
	}
	if r := do(t, "POST", base+"/admin/prefill"); r.code != 401 {
		t.Errorf("without the token: %d, want 401", r.code)
	}
	r := doBody(t, "POST", base+"/admin/prefill", `{"titles":["t1"],"segments":3}`, auth...)
	if r.code != 200 {
		t.Fatalf("plan: %d %s", r.code, r.body)
	}
	harness.Eventually(t, 10*time.Second, "the plan done", s.PrefillIdle)
	// master, media playlist, init, 3 segments
	if got := s.m.prefillFetched.Get(); got != 6 {
		t.Errorf("fetched %d objects, want 6", got)
	}
	if got := s.m.prefillBytes.Get(); got < 150_000 {
		t.Errorf("prefill bytes %d", got)
	}
	for i, p := range segs {
		cs := get(t, base+p).header.Get("Cache-Status")
		if hit := strings.Contains(cs, "; hit"); hit != (i < 3) {
			t.Errorf("segment %d after the plan: %q", i+1, cs)
		}
	}
	// Top-N from this edge's own counts: sessions of t2 started twice, none of t1 (its master
	// playlist was prefilled, not requested).
	for range 2 {
		get(t, base+"/vod/t2/master.m3u8")
	}
	r = doBody(t, "POST", base+"/admin/prefill", `{"top":1,"window":"10m"}`, auth...)
	if r.code != 200 || !strings.Contains(string(r.body), `["t2"]`) {
		t.Fatalf("top-1 plan: %d %s", r.code, r.body)
	}
	harness.Eventually(t, 10*time.Second, "the top-1 plan done", s.PrefillIdle)
	if cs := get(t, base+"/vod/t2/r1/00005.m4s").header.Get("Cache-Status"); !strings.Contains(cs, "; hit") {
		t.Errorf("t2's last segment after the top-1 plan: %q", cs)
	}
}

// A plan never evicts: with no free space it skips.
func TestPrefillNeverEvicts(t *testing.T) {
	o := newFakeOrigin(t)
	putTitle(o, "t1", 4, 100_000)
	o.put("/vod/hot.m4s", &fakeObject{body: randomBytes(100_000, 7), cacheControl: "max-age=3600"})
	s, base := startEdge(t, Config{Origins: []string{o.url()}, AdminToken: "s3cret", ProbeInterval: -1, CacheBytes: 1 << 20})
	for range 3 {
		get(t, base+"/vod/hot.m4s")
	}
	r := doBody(t, "POST", base+"/admin/prefill", `{"titles":["t1"]}`, "Authorization", "Bearer s3cret")
	if r.code != 200 {
		t.Fatalf("plan: %d %s", r.code, r.body)
	}
	harness.Eventually(t, 10*time.Second, "the plan done", s.PrefillIdle)
	if s.m.prefillSkipped["room"].Get() == 0 {
		t.Error("no object skipped for room in a full cache")
	}
	if st := s.cache.Stats(); st.Evictions != 0 {
		t.Errorf("the plan evicted %d objects", st.Evictions)
	}
	if _, ok := s.cache.Peek("/vod/hot.m4s"); !ok {
		t.Error("the hot object is gone")
	}
}

// In a cluster a plan sent to one edge reaches every edge, and each object is fetched once
// per zone: by its owner.
func TestPrefillCluster(t *testing.T) {
	o := newFakeOrigin(t)
	segs := putTitle(o, "t1", 12, 20_000)
	edges := startClusterEdges(t, o.url(), []string{"zone-a", "zone-a", "zone-b", "zone-b"}, func(c *Config) {
		c.AdminToken = "s3cret"
	})
	for _, e := range edges {
		harness.Eventually(t, 10*time.Second, e.s.cfg.Name+" sees 4 edges", func() bool { return e.s.ClusterSize() == 4 })
	}
	r := doBody(t, "POST", edges[0].base+"/admin/prefill", `{"titles":["t1"],"rate_bps":1e9}`, "Authorization", "Bearer s3cret")
	if r.code != 200 || !strings.Contains(string(r.body), `"confirmed":["zone-a-0","zone-a-1","zone-b-2","zone-b-3"]`) {
		t.Fatalf("plan: %d %s", r.code, r.body)
	}
	for _, e := range edges {
		harness.Eventually(t, 10*time.Second, e.s.cfg.Name+" done", e.s.PrefillIdle)
	}
	var fetched uint64
	for _, e := range edges {
		fetched += e.s.m.prefillFetched.Get()
	}
	// Per zone: the master, the media playlist, init and 12 segments.
	if fetched != 2*15 {
		t.Errorf("fetched %d objects in all, want %d (each once per zone)", fetched, 2*15)
	}
	for _, p := range segs {
		if n := o.count(p); n != 2 {
			t.Errorf("%s fetched %d times from the origin, want 2 (once per zone)", p, n)
		}
	}
	// A first viewer anywhere now costs the origin nothing.
	for _, e := range edges {
		get(t, e.base+segs[0])
	}
	if n := o.count(segs[0]); n != 2 {
		t.Errorf("first viewers went to the origin: %d fetches", n)
	}
}

func doBody(t testing.TB, method, url, body string, hdr ...string) resp {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	r, err := client.Do(req)
	if err != nil {
		return resp{err: err}
	}
	defer r.Body.Close()
	b, err := io.ReadAll(r.Body)
	return resp{code: r.StatusCode, header: r.Header, body: b, err: err}
}
