package edge

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
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

	"edgecdn/internal/harness"
	"edgecdn/internal/signing"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// fakeOrigin is an origin whose answers a test controls, and which counts requests per path.
type fakeOrigin struct {
	t       testing.TB
	ln      net.Listener
	srv     *http.Server
	mu      sync.Mutex
	objects map[string]*fakeObject
	counts  map[string]int
	total   atomic.Int64
	down    atomic.Bool // answer 503 to everything, /healthz included
}

type fakeObject struct {
	body         []byte
	cacheControl string
	etag         string // default: the SHA-256 of body
	delay        time.Duration
	truncate     int           // send only this many bytes, then close (Content-Length stays full)
	gate         chan struct{} // when set, the first half is sent, then the rest once gate closes
	status       int
	ranges       bool   // answer "Range: bytes=N-" with a 206 (truncate applies to whole-body GETs only)
	rangeETag    string // the ETag of its 206 answers, when not etag (an object that changed)
}

func newFakeOrigin(t testing.TB) *fakeOrigin {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeOrigin{t: t, ln: ln, objects: map[string]*fakeObject{}, counts: map[string]int{}}
	f.srv = &http.Server{Handler: http.HandlerFunc(f.serve)}
	go f.srv.Serve(ln)
	t.Cleanup(func() { f.srv.Close() })
	return f
}

func (f *fakeOrigin) url() string { return "http://" + f.ln.Addr().String() }

func (f *fakeOrigin) put(path string, o *fakeObject) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.objects[path] = o
}

func (f *fakeOrigin) count(path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.counts[path]
}

func (f *fakeOrigin) serve(w http.ResponseWriter, r *http.Request) {
	if f.down.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	if r.URL.Path == "/healthz" {
		io.WriteString(w, "ok\n")
		return
	}
	f.total.Add(1)
	f.mu.Lock()
	if r.Header.Get("Range") != "" {
		f.counts[r.URL.Path+" range"]++ // counted apart: a resumed fill asks for the rest
	} else {
		f.counts[r.URL.Path]++
	}
	o := f.objects[r.URL.Path]
	f.mu.Unlock()
	if o == nil {
		http.NotFound(w, r)
		return
	}
	if o.delay > 0 {
		time.Sleep(o.delay)
	}
	if o.status != 0 {
		w.WriteHeader(o.status)
		return
	}
	etag := o.etag
	if etag == "" {
		sum := sha256.Sum256(o.body)
		etag = `"` + hex.EncodeToString(sum[:]) + `"`
	}
	if r.Header.Get("If-None-Match") == etag {
		w.Header().Set("Cache-Control", o.cacheControl)
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("ETag", etag)
	w.Header().Set("Cache-Control", o.cacheControl)
	w.Header().Set("Content-Type", "video/mp2t")
	var from int
	if rg := r.Header.Get("Range"); o.ranges && rg != "" {
		if _, err := fmt.Sscanf(rg, "bytes=%d-", &from); err != nil || from >= len(o.body) {
			w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
			return
		}
		if o.rangeETag != "" {
			w.Header().Set("ETag", o.rangeETag)
		}
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", from, len(o.body)-1, len(o.body)))
		w.Header().Set("Content-Length", strconv.Itoa(len(o.body)-from))
		w.WriteHeader(http.StatusPartialContent)
		w.Write(o.body[from:])
		return
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(o.body)))
	switch {
	case o.truncate > 0:
		w.Write(o.body[:o.truncate])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // close the connection mid-body
	case o.gate != nil:
		half := len(o.body) / 2
		w.Write(o.body[:half])
		w.(http.Flusher).Flush()
		<-o.gate
		w.Write(o.body[half:])
	default:
		w.Write(o.body)
	}
}

func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// startEdge runs an edge on a loopback port and returns it and its base URL.
func startEdge(t testing.TB, cfg Config) (*Server, string) {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = quiet
	}
	if cfg.Name == "" {
		cfg.Name = "edge-test"
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s, harness.ServeLoopback(t, s)
}

type resp struct {
	code   int
	header http.Header
	body   []byte
	err    error
}

var client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, Proxy: nil}}

func get(t testing.TB, url string, hdr ...string) resp {
	t.Helper()
	return do(t, "GET", url, hdr...)
}

func do(t testing.TB, method, url string, hdr ...string) resp {
	t.Helper()
	return doBody(t, method, url, "", hdr...)
}

func TestHitMissHeaders(t *testing.T) {
	o := newFakeOrigin(t)
	body := randomBytes(300_000, 1)
	o.put("/vod/t/r/seg.ts", &fakeObject{body: body, cacheControl: "public, max-age=31536000, immutable"})
	_, base := startEdge(t, Config{Origins: []string{o.url()}, Name: "edge-a1"})

	r := get(t, base+"/vod/t/r/seg.ts")
	if r.code != 200 || !bytes.Equal(r.body, body) || r.header.Get("Cache-Status") != "edge-a1; fwd=miss; stored" {
		t.Fatalf("miss: %d, %d bytes, Cache-Status %q", r.code, len(r.body), r.header.Get("Cache-Status"))
	}
	r = get(t, base+"/vod/t/r/seg.ts")
	sum := sha256.Sum256(body)
	want := map[string]string{
		"Cache-Status":  "edge-a1; hit",
		"ETag":          `"` + hex.EncodeToString(sum[:]) + `"`,
		"Via":           "1.1 edge-a1 (edgecdn)",
		"X-Served-By":   "edge-a1",
		"Cache-Control": "public, max-age=31536000, immutable",
		"Content-Type":  "video/mp2t",
		"Accept-Ranges": "bytes",
	}
	for k, v := range want {
		if got := r.header.Get(k); got != v {
			t.Errorf("hit: %s = %q, want %q", k, got, v)
		}
	}
	if age, err := strconv.Atoi(r.header.Get("Age")); err != nil || age < 0 || age > 5 {
		t.Errorf("hit: Age %q", r.header.Get("Age"))
	}
	if !bytes.Equal(r.body, body) || o.count("/vod/t/r/seg.ts") != 1 {
		t.Errorf("hit: %d bytes, origin asked %d times", len(r.body), o.count("/vod/t/r/seg.ts"))
	}
	// Not found at the origin: passed through, not cached.
	for i := 0; i < 2; i++ {
		r = get(t, base+"/vod/t/r/missing.ts")
		if r.code != 404 || !strings.Contains(r.header.Get("Cache-Status"), "fwd-status=404") {
			t.Errorf("404: %d %q", r.code, r.header.Get("Cache-Status"))
		}
	}
	if n := o.count("/vod/t/r/missing.ts"); n != 2 {
		t.Errorf("a 404 was cached: origin asked %d times for 2 requests", n)
	}
}

// TestCoalescing: 1,000 concurrent requests for one uncached object make one origin fetch, and
// every client gets the same, correct bytes.
func TestCoalescing(t *testing.T) {
	o := newFakeOrigin(t)
	size := 2_000_000
	if raceEnabled {
		size = 200_000 // the same 1,000 clients, less to copy under the race detector
	}
	body := randomBytes(size, 2)
	gate := make(chan struct{})
	o.put("/vod/t/r/hot.ts", &fakeObject{body: body, cacheControl: "max-age=3600", gate: gate})
	s, base := startEdge(t, Config{Origins: []string{o.url()}})

	const n = 1000
	tr := &http.Transport{MaxConnsPerHost: 0, MaxIdleConnsPerHost: n, Proxy: nil}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 120 * time.Second}
	var wg sync.WaitGroup
	var started atomic.Int64
	results := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			started.Add(1)
			r, err := c.Get(base + "/vod/t/r/hot.ts")
			if err != nil {
				results[i] = err
				return
			}
			defer r.Body.Close()
			b, err := io.ReadAll(r.Body)
			switch {
			case err != nil:
				results[i] = err
			case r.StatusCode != 200 || !bytes.Equal(b, body):
				results[i] = fmt.Errorf("status %d, %d bytes (want %d identical bytes)", r.StatusCode, len(b), len(body))
			}
		}()
	}
	// Hold the origin's body half-sent until every request has reached the edge (joined the
	// fill, or about to), then let it finish.
	harness.Eventually(t, 30*time.Second, "all requests started", func() bool { return started.Load() == n })
	harness.Eventually(t, 30*time.Second, "the fill started", func() bool { return o.count("/vod/t/r/hot.ts") == 1 })
	harness.Eventually(t, 30*time.Second, "requests joined the fill", func() bool {
		return s.m.collapsed[kindSegment].Get()+1 >= n*9/10 // most of them wait on the one fill
	})
	close(gate)
	wg.Wait()
	failed := 0
	for i, err := range results {
		if err != nil {
			failed++
			if failed < 5 {
				t.Errorf("client %d: %v", i, err)
			}
		}
	}
	if got := o.count("/vod/t/r/hot.ts"); got != 1 {
		t.Errorf("origin fetches = %d, want exactly 1 for %d concurrent requests", got, n)
	}
	t.Logf("%d requests, %d collapsed onto the fill, %d failed, origin fetches %d", n, s.m.collapsed[kindSegment].Get(), failed, o.count("/vod/t/r/hot.ts"))
}

// TestClientDisconnectDoesNotBreakFill: the client that started a fill hangs up mid-body;
// another client waiting on the same fill still gets every byte, and the object is cached.
func TestClientDisconnectDoesNotBreakFill(t *testing.T) {
	o := newFakeOrigin(t)
	body := randomBytes(1_000_000, 3)
	gate := make(chan struct{})
	o.put("/vod/t/r/a.ts", &fakeObject{body: body, cacheControl: "max-age=3600", gate: gate})
	s, base := startEdge(t, Config{Origins: []string{o.url()}})

	// Client A: reads the head and some body, then closes its connection.
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "GET /vod/t/r/a.ts HTTP/1.1\r\nHost: x\r\n\r\n")
	buf := make([]byte, 64<<10)
	if _, err := io.ReadAtLeast(conn, buf, 1000); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	// Client B joins the same fill.
	got := make(chan resp, 1)
	go func() { got <- get(t, base+"/vod/t/r/a.ts") }()
	harness.Eventually(t, 10*time.Second, "client B joined the fill", func() bool { return s.m.collapsed[kindSegment].Get() == 1 })
	close(gate)
	r := <-got
	if r.err != nil || r.code != 200 || !bytes.Equal(r.body, body) {
		t.Fatalf("client B: %v %d, %d bytes", r.err, r.code, len(r.body))
	}
	if r := get(t, base+"/vod/t/r/a.ts"); r.header.Get("Cache-Status") != "edge-test; hit" || !bytes.Equal(r.body, body) {
		t.Errorf("after the fill: %q", r.header.Get("Cache-Status"))
	}
	if n := o.count("/vod/t/r/a.ts"); n != 1 {
		t.Errorf("origin fetches %d, want 1", n)
	}
}

// TestBadBodiesNotCached: a truncated body or one whose bytes do not match the ETag's SHA-256
// reaches the client as a broken response (never a complete one) and is not cached.
func TestBadBodiesNotCached(t *testing.T) {
	o := newFakeOrigin(t)
	body := randomBytes(500_000, 4)
	o.put("/vod/t/r/trunc.ts", &fakeObject{body: body, cacheControl: "max-age=3600", truncate: 200_000})
	wrong := sha256.Sum256([]byte("other bytes"))
	o.put("/vod/t/r/corrupt.ts", &fakeObject{body: body, cacheControl: "max-age=3600", etag: `"` + hex.EncodeToString(wrong[:]) + `"`})
	s, base := startEdge(t, Config{Origins: []string{o.url()}})

	for _, path := range []string{"/vod/t/r/trunc.ts", "/vod/t/r/corrupt.ts"} {
		for i := 0; i < 2; i++ {
			r := get(t, base+path)
			if r.err == nil && r.code == 200 && len(r.body) == len(body) {
				t.Errorf("%s: a complete 200 response from a bad origin body", path)
			}
			if r.err == nil && r.code == 200 {
				t.Errorf("%s: the client read %d bytes as a complete body", path, len(r.body))
			}
		}
		if n := o.count(path); n != 2 {
			t.Errorf("%s: origin fetched %d times for 2 requests: the bad body was cached", path, n)
		}
		if _, ok := s.cache.Peek(path); ok {
			t.Errorf("%s is in the cache", path)
		}
	}
	if s.m.fillRejected.Get() < 4 {
		t.Errorf("fill_rejected = %d, want 4", s.m.fillRejected.Get())
	}
}

func TestStaleIfError(t *testing.T) {
	o := newFakeOrigin(t)
	pl := []byte("#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4,\nseg.ts\n#EXT-X-ENDLIST\n")
	o.put("/vod/t/r/index.m3u8", &fakeObject{body: pl, cacheControl: "max-age=1"})
	_, base := startEdge(t, Config{Origins: []string{o.url()}, StaleIfError: time.Minute, ProbeInterval: -1})
	if r := get(t, base+"/vod/t/r/index.m3u8"); r.code != 200 {
		t.Fatalf("first: %d", r.code)
	}
	// While fresh: a hit. Once expired with the origin up: revalidated (304 from the origin).
	harness.Eventually(t, 5*time.Second, "revalidation after max-age=1", func() bool {
		r := get(t, base+"/vod/t/r/index.m3u8")
		return r.code == 200 && strings.Contains(r.header.Get("Cache-Status"), "fwd=stale; fwd-status=304") && bytes.Equal(r.body, pl)
	})
	o.down.Store(true)
	harness.Eventually(t, 5*time.Second, "stale-if-error once expired with the origin down", func() bool {
		r := get(t, base+"/vod/t/r/index.m3u8")
		return r.code == 200 && strings.Contains(r.header.Get("Cache-Status"), "detail=stale-if-error") && bytes.Equal(r.body, pl)
	})
	// An object never cached fails fast and cleanly.
	if r := get(t, base+"/vod/t/r/other.m3u8"); r.code != 502 {
		t.Errorf("uncached with the origin down: %d, want 502", r.code)
	}
}

func TestStaleBound(t *testing.T) {
	o := newFakeOrigin(t)
	o.put("/vod/t/r/index.m3u8", &fakeObject{body: []byte("#EXTM3U\n"), cacheControl: "max-age=1"})
	_, base := startEdge(t, Config{Origins: []string{o.url()}, StaleIfError: time.Millisecond, ProbeInterval: -1})
	get(t, base+"/vod/t/r/index.m3u8")
	o.down.Store(true)
	// Past max-age and past the stale bound: the edge must not serve it.
	harness.Eventually(t, 5*time.Second, "502 beyond the stale-if-error bound", func() bool {
		return get(t, base+"/vod/t/r/index.m3u8").code == 502
	})
}

func TestOriginFailover(t *testing.T) {
	a, b := newFakeOrigin(t), newFakeOrigin(t)
	for i := 0; i < 20; i++ {
		body := randomBytes(10_000, uint64(100+i))
		for _, o := range []*fakeOrigin{a, b} {
			o.put(fmt.Sprintf("/vod/t/r/%d.ts", i), &fakeObject{body: body, cacheControl: "max-age=3600"})
		}
	}
	a.down.Store(true)
	s, base := startEdge(t, Config{Origins: []string{a.url(), b.url()}, ProbeInterval: 50 * time.Millisecond})
	for i := 0; i < 10; i++ {
		if r := get(t, base+fmt.Sprintf("/vod/t/r/%d.ts", i)); r.code != 200 {
			t.Fatalf("object %d with origin a down: %d", i, r.code)
		}
	}
	if !s.origins.list[1].healthy(time.Now()) || s.origins.list[0].healthy(time.Now()) {
		t.Error("after failures, origin a should be ejected and b healthy")
	}
	// Origin a recovers: the probe brings it back and fetches reach it again.
	a.down.Store(false)
	harness.Eventually(t, 5*time.Second, "origin a back after the probe", func() bool { return s.origins.list[0].healthy(time.Now()) })
	before := a.total.Load()
	for i := 10; i < 20; i++ {
		if r := get(t, base+fmt.Sprintf("/vod/t/r/%d.ts", i)); r.code != 200 {
			t.Fatalf("object %d: %d", i, r.code)
		}
	}
	if a.total.Load() == before {
		t.Error("no fetch reached origin a after it recovered")
	}
}

func TestOriginTimeoutFailover(t *testing.T) {
	slow, fast := newFakeOrigin(t), newFakeOrigin(t)
	body := randomBytes(1000, 9)
	for _, p := range []string{"/vod/t/r/x.ts", "/vod/t/r/y.ts"} {
		slow.put(p, &fakeObject{body: body, delay: 2 * time.Second})
		fast.put(p, &fakeObject{body: body})
	}
	_, base := startEdge(t, Config{Origins: []string{slow.url(), fast.url()}, OriginHeaderTimeout: 200 * time.Millisecond, ProbeInterval: -1})
	// Round robin makes one of the two fetches try the hanging origin first.
	for _, p := range []string{"/vod/t/r/x.ts", "/vod/t/r/y.ts"} {
		start := time.Now()
		r := get(t, base+p)
		if r.code != 200 || !bytes.Equal(r.body, body) {
			t.Fatalf("%s: %d", p, r.code)
		}
		if d := time.Since(start); d > 1500*time.Millisecond {
			t.Errorf("%s took %v: the hanging origin was waited on past --origin-timeout", p, d)
		}
	}
	if slow.total.Load() == 0 {
		t.Error("the hanging origin was never tried: the test proves nothing")
	}
}

func TestPurge(t *testing.T) {
	o := newFakeOrigin(t)
	for _, p := range []string{"/vod/t/a/1.ts", "/vod/t/a/2.ts", "/vod/u/a/1.ts"} {
		o.put(p, &fakeObject{body: []byte(p), cacheControl: "max-age=3600"})
	}
	_, base := startEdge(t, Config{Origins: []string{o.url()}, AdminToken: "s3cret"})
	for _, p := range []string{"/vod/t/a/1.ts", "/vod/t/a/2.ts", "/vod/u/a/1.ts"} {
		get(t, base+p)
	}
	for _, c := range []struct {
		auth string
		code int
	}{{"", 401}, {"Bearer wrong", 401}, {"Basic s3cret", 401}} {
		r := do(t, "POST", base+"/admin/purge?path=/vod/t/a/1.ts", "Authorization", c.auth)
		if r.code != c.code {
			t.Errorf("purge with %q: %d, want %d", c.auth, r.code, c.code)
		}
	}
	if r := get(t, base+"/vod/t/a/1.ts"); r.header.Get("Cache-Status") != "edge-test; hit" {
		t.Error("an unauthorised purge removed the object")
	}
	r := do(t, "POST", base+"/admin/purge?path=/vod/t/a/1.ts", "Authorization", "Bearer s3cret")
	if r.code != 200 || strings.TrimSpace(string(r.body)) != `{"purged":1}` {
		t.Errorf("purge one: %d %s", r.code, r.body)
	}
	if r := get(t, base+"/vod/t/a/1.ts"); !strings.Contains(r.header.Get("Cache-Status"), "fwd=miss") {
		t.Errorf("after purge: %q", r.header.Get("Cache-Status"))
	}
	r = do(t, "POST", base+"/admin/purge?prefix=/vod/t/", "Authorization", "Bearer s3cret")
	if r.code != 200 || strings.TrimSpace(string(r.body)) != `{"purged":2}` {
		t.Errorf("purge prefix: %d %s", r.code, r.body)
	}
	if r := get(t, base+"/vod/u/a/1.ts"); r.header.Get("Cache-Status") != "edge-test; hit" {
		t.Error("a prefix purge removed an object outside the prefix")
	}
	for _, q := range []string{"", "?path=/a&prefix=/b", "?path=/../etc", "?prefix=/"} {
		if r := do(t, "POST", base+"/admin/purge"+q, "Authorization", "Bearer s3cret"); r.code != 400 {
			t.Errorf("purge%s: %d, want 400", q, r.code)
		}
	}
	if r := do(t, "GET", base+"/admin/purge?path=/x", "Authorization", "Bearer s3cret"); r.code != 405 {
		t.Errorf("GET purge: %d, want 405", r.code)
	}
	// Without a configured token the admin endpoints do not exist.
	_, base2 := startEdge(t, Config{Origins: []string{o.url()}})
	if r := do(t, "POST", base2+"/admin/purge?path=/x", "Authorization", "Bearer "); r.code != 404 {
		t.Errorf("purge with no token configured: %d, want 404", r.code)
	}
}

func TestRangesAndConditionalsFromCache(t *testing.T) {
	o := newFakeOrigin(t)
	body := randomBytes(100_000, 5)
	o.put("/vod/t/r/s.ts", &fakeObject{body: body, cacheControl: "max-age=3600"})
	_, base := startEdge(t, Config{Origins: []string{o.url()}})
	// A range on a miss: the right bytes, and the whole object is stored.
	r := get(t, base+"/vod/t/r/s.ts", "Range", "bytes=100-199")
	if r.code != 206 || !bytes.Equal(r.body, body[100:200]) || r.header.Get("Content-Range") != "bytes 100-199/100000" {
		t.Fatalf("range on miss: %d %q %d bytes", r.code, r.header.Get("Content-Range"), len(r.body))
	}
	etag := get(t, base+"/vod/t/r/s.ts").header.Get("ETag")
	tests := []struct {
		hdr  []string
		code int
		body []byte
		cr   string
	}{
		{[]string{"Range", "bytes=0-9"}, 206, body[:10], "bytes 0-9/100000"},
		{[]string{"Range", "bytes=-10"}, 206, body[len(body)-10:], "bytes 99990-99999/100000"},
		{[]string{"Range", "bytes=99999-"}, 206, body[99999:], "bytes 99999-99999/100000"},
		{[]string{"Range", "bytes=100000-"}, 416, nil, "bytes */100000"},
		{[]string{"Range", "bytes=9-0"}, 200, body, ""},
		{[]string{"If-None-Match", etag}, 304, nil, ""},
		{[]string{"If-None-Match", `"x"`}, 200, body, ""},
		{[]string{"If-Match", `"x"`}, 412, nil, ""},
		{[]string{"Range", "bytes=0-9", "If-Range", `"x"`}, 200, body, ""},
	}
	for _, tt := range tests {
		r := get(t, base+"/vod/t/r/s.ts", tt.hdr...)
		if r.code != tt.code || r.header.Get("Content-Range") != tt.cr || (tt.body != nil && !bytes.Equal(r.body, tt.body)) {
			t.Errorf("%v: %d %q, %d bytes; want %d %q", tt.hdr, r.code, r.header.Get("Content-Range"), len(r.body), tt.code, tt.cr)
		}
		if r.header.Get("Cache-Status") != "edge-test; hit" {
			t.Errorf("%v: Cache-Status %q, want a hit", tt.hdr, r.header.Get("Cache-Status"))
		}
	}
	r = get(t, base+"/vod/t/r/s.ts", "Range", "bytes=0-1,10-11")
	if r.code != 206 || !strings.HasPrefix(r.header.Get("Content-Type"), "multipart/byteranges") {
		t.Errorf("multi-range: %d %q", r.code, r.header.Get("Content-Type"))
	}
	h := do(t, "HEAD", base+"/vod/t/r/s.ts")
	if h.code != 200 || h.header.Get("Content-Length") != "100000" || len(h.body) != 0 {
		t.Errorf("HEAD: %d %q", h.code, h.header.Get("Content-Length"))
	}
	if n := o.count("/vod/t/r/s.ts"); n != 1 {
		t.Errorf("origin fetches %d, want 1", n)
	}
}

func TestQueryStringsAndHostilePaths(t *testing.T) {
	o := newFakeOrigin(t)
	o.put("/vod/t/r/q.ts", &fakeObject{body: []byte("q"), cacheControl: "max-age=3600"})
	_, base := startEdge(t, Config{Origins: []string{o.url()}})
	for _, q := range []string{"", "?a=1", "?b=2&c=3", "?cb=" + strconv.Itoa(rand.Int()), "?%00=x"} {
		if r := get(t, base+"/vod/t/r/q.ts"+q); r.code != 200 || string(r.body) != "q" {
			t.Errorf("query %q: %d", q, r.code)
		}
	}
	if n := o.count("/vod/t/r/q.ts"); n != 1 {
		t.Errorf("query strings split the cache: %d origin fetches, want 1", n)
	}
	for _, p := range []string{"/vod/%2e%2e/etc/passwd", "/vod/..%5cx", "/vod//x", "/vod/a%00b"} {
		c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", p)
		b, _ := io.ReadAll(c)
		c.Close()
		if !strings.HasPrefix(string(b), "HTTP/1.1 400") {
			t.Errorf("GET %s: %q", p, strings.SplitN(string(b), "\r\n", 2)[0])
		}
	}
	if r := do(t, "DELETE", base+"/vod/t/r/q.ts"); r.code != 405 || r.header.Get("Allow") != "GET, HEAD, OPTIONS" {
		t.Errorf("DELETE: %d", r.code)
	}
	if o.total.Load() != 1 {
		t.Errorf("bad requests reached the origin: %d fetches", o.total.Load())
	}
}

func TestQueryAllowlist(t *testing.T) {
	o := newFakeOrigin(t)
	o.put("/vod/t/r/q.ts", &fakeObject{body: []byte("q"), cacheControl: "max-age=3600"})
	_, base := startEdge(t, Config{Origins: []string{o.url()}, QueryAllowlist: []string{"v"}})
	for _, q := range []string{"?v=1", "?x=9&v=1", "?v=2", "?v=2&v=2"} {
		get(t, base+"/vod/t/r/q.ts"+q)
	}
	if n := o.count("/vod/t/r/q.ts"); n != 2 {
		t.Errorf("allowlisted parameter: %d origin fetches, want 2 (v=1 and v=2)", n)
	}
}

func TestDiskTier(t *testing.T) {
	o := newFakeOrigin(t)
	dir := t.TempDir()
	bodies := map[string][]byte{}
	for i := 0; i < 5; i++ {
		p := fmt.Sprintf("/vod/t/r/%d.ts", i)
		n := 50_000 + i
		if i == 0 {
			n = min(sendfileMin, 1<<20) + 1 // in a memfd on Linux: written to disk from it, read back into one
		}
		bodies[p] = randomBytes(n, uint64(i))
		o.put(p, &fakeObject{body: bodies[p], cacheControl: "max-age=3600"})
	}
	s1, err := New(Config{Origins: []string{o.url()}, DiskDir: dir, Logger: quiet, Name: "e1", ProbeInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go s1.Serve(ln)
	base := "http://" + ln.Addr().String()
	for p := range bodies {
		if r := get(t, base+p); r.code != 200 {
			t.Fatal(r.code)
		}
	}
	harness.Eventually(t, 10*time.Second, "objects written to disk", func() bool { _, n, _ := s1.disk.stats(); return n == 5 })
	s1.Close()

	// Restart with the origin down: every object comes from disk, checked.
	o.down.Store(true)
	s2, base2 := startEdge(t, Config{Origins: []string{o.url()}, DiskDir: dir, Name: "e2", ProbeInterval: -1})
	for p, b := range bodies {
		r := get(t, base2+p)
		if r.code != 200 || !bytes.Equal(r.body, b) || r.header.Get("Cache-Status") != "e2; hit; detail=disk" {
			t.Errorf("%s after restart: %d %q", p, r.code, r.header.Get("Cache-Status"))
		}
	}
	// A damaged file is detected, dropped, and the object fetched again.
	s2.Close()
	o.down.Store(false)
	damaged := "/vod/t/r/3.ts"
	file := dir + "/" + diskFileName(damaged)
	raw, err := readFile(file)
	if err != nil {
		t.Fatal(err)
	}
	raw[len(raw)-10] ^= 0xff
	writeFile(t, file, raw)
	s3, base3 := startEdge(t, Config{Origins: []string{o.url()}, DiskDir: dir, Name: "e3", ProbeInterval: -1})
	before := o.count(damaged)
	r := get(t, base3+damaged)
	if r.code != 200 || !bytes.Equal(r.body, bodies[damaged]) || !strings.Contains(r.header.Get("Cache-Status"), "fwd=miss") {
		t.Errorf("damaged disk object: %d %q", r.code, r.header.Get("Cache-Status"))
	}
	if _, _, corrupt := s3.disk.stats(); corrupt != 1 || o.count(damaged) != before+1 {
		t.Errorf("corrupt count %d, refetches %d", corrupt, o.count(damaged)-before)
	}
}

func TestMetricsEndpoint(t *testing.T) {
	o := newFakeOrigin(t)
	o.put("/vod/t/r/m.ts", &fakeObject{body: []byte("m"), cacheControl: "max-age=3600"})
	_, base := startEdge(t, Config{Origins: []string{o.url()}})
	get(t, base+"/vod/t/r/m.ts")
	get(t, base+"/vod/t/r/m.ts")
	m := string(get(t, base+"/metrics").body)
	for _, want := range []string{
		`edgecdn_edge_requests_total{kind="segment",result="hit"} 1`,
		`edgecdn_edge_requests_total{kind="segment",result="miss"} 1`,
		`edgecdn_edge_origin_fetches_total{kind="segment"} 1`,
		`edgecdn_edge_served_bytes_total{kind="segment"} 2`,
		`edgecdn_edge_origin_fetch_duration_seconds_count 1`,
		`edgecdn_edge_cache_objects 1`,
		`edgecdn_edge_origin_up{origin="` + o.url() + `"} 1`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	for _, p := range []string{"/healthz", "/readyz", "/debug/pprof/"} {
		if r := get(t, base+p); r.code != 200 {
			t.Errorf("%s: %d", p, r.code)
		}
	}
}

func TestNewErrors(t *testing.T) {
	for _, cfg := range []Config{
		{},
		{Origins: []string{"ftp://x"}},
		{Origins: []string{"http://127.0.0.1:1/path"}},
		{Origins: []string{"http://127.0.0.1:1"}, CacheBytes: 10},
		{Origins: []string{"http://127.0.0.1:1"}, CachePolicy: "nope"},
	} {
		cfg.Logger = quiet
		if s, err := New(cfg); err == nil {
			s.Close()
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
}

// TestStreamWhileFilling: a client receives the first half of an object while the origin is
// still holding back the second half.
func TestStreamWhileFilling(t *testing.T) {
	o := newFakeOrigin(t)
	body := randomBytes(2_000_000, 11)
	gate := make(chan struct{})
	o.put("/vod/t/r/big.ts", &fakeObject{body: body, cacheControl: "max-age=3600", gate: gate})
	_, base := startEdge(t, Config{Origins: []string{o.url()}})
	r, err := client.Get(base + "/vod/t/r/big.ts")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	first := make([]byte, len(body)/2-1)
	if _, err := io.ReadFull(r.Body, first); err != nil {
		t.Fatalf("reading the first half while the origin holds the rest: %v", err)
	}
	if !bytes.Equal(first, body[:len(first)]) {
		t.Fatal("first half differs")
	}
	close(gate)
	rest, err := io.ReadAll(r.Body)
	if err != nil || !bytes.Equal(append(first, rest...), body) {
		t.Fatalf("whole body: %v, %d bytes", err, len(first)+len(rest))
	}
}

// TestCMSD: every response carries CMSD-Dynamic with the edge's name and an estimated
// throughput; an edge whose egress is over 90% of its capacity says it is under duress.
func TestCMSD(t *testing.T) {
	o := newFakeOrigin(t)
	o.put("/vod/t/r/c.ts", &fakeObject{body: randomBytes(200_000, 8), cacheControl: "max-age=3600"})
	s, base := startEdge(t, Config{Origins: []string{o.url()}, Name: "edge-c", EgressCapacity: 1e9})
	r := get(t, base+"/vod/t/r/c.ts")
	v := r.header.Get("CMSD-Dynamic")
	if !strings.HasPrefix(v, `"edge-c";etp=`) || strings.Contains(v, ";du") {
		t.Errorf("CMSD-Dynamic %q, want the edge's name and etp, no duress", v)
	}
	// A tiny capacity: the next sample finds the edge over 90% of it.
	s.cfg.EgressCapacity = 1000
	for i := 0; i < 5; i++ {
		get(t, base+"/vod/t/r/c.ts")
	}
	s.sample()
	for i := 0; i < 5; i++ {
		get(t, base+"/vod/t/r/c.ts")
	}
	s.sample()
	if v := get(t, base+"/vod/t/r/c.ts").header.Get("CMSD-Dynamic"); !strings.HasSuffix(v, ";du") {
		t.Errorf("over capacity: CMSD-Dynamic %q, want du", v)
	}
}

// TestSignedURLs: with signing keys, a request needs a valid /t/<token>/ path; missing, bad,
// expired and out-of-scope tokens get 403; two keys verify at once (rotation); the token never
// enters the cache key.
func TestSignedURLs(t *testing.T) {
	o := newFakeOrigin(t)
	body := randomBytes(5000, 12)
	o.put("/vod/t/r/s.ts", &fakeObject{body: body, cacheControl: "max-age=3600"})
	oldKey, newKey := []byte("0123456789abcdef0123456789abcdef"), []byte("fedcba9876543210fedcba9876543210")
	_, base := startEdge(t, Config{Origins: []string{o.url()}, SigningKeys: [][]byte{newKey, oldKey}})
	now := time.Now()
	tok := func(key []byte, c signing.Claims) string { return "/t/" + signing.Sign(key, c) }
	good := tok(newKey, signing.Claims{Prefix: "/vod/t/", Expires: now.Add(time.Hour)})
	for _, c := range []struct {
		path string
		code int
	}{
		{good + "/vod/t/r/s.ts", 200},
		{tok(oldKey, signing.Claims{Prefix: "/vod/", Expires: now.Add(time.Hour)}) + "/vod/t/r/s.ts", 200},
		{tok(newKey, signing.Claims{Prefix: "/vod/", Expires: now.Add(time.Hour), IP: "127.0.0.1"}) + "/vod/t/r/s.ts", 200},
		{"/vod/t/r/s.ts", 403},
		{tok(newKey, signing.Claims{Prefix: "/vod/", Expires: now.Add(-time.Minute)}) + "/vod/t/r/s.ts", 403},
		{tok(newKey, signing.Claims{Prefix: "/vod/u/", Expires: now.Add(time.Hour)}) + "/vod/t/r/s.ts", 403},
		{tok(newKey, signing.Claims{Prefix: "/vod/", Expires: now.Add(time.Hour), IP: "10.1.1.1"}) + "/vod/t/r/s.ts", 403},
		{tok([]byte("another key, not configured here"), signing.Claims{Prefix: "/vod/", Expires: now.Add(time.Hour)}) + "/vod/t/r/s.ts", 403},
		{good + "/vod/t/../u/s.ts", 400},
	} {
		r := get(t, base+c.path)
		if r.code != c.code || (c.code == 200 && !bytes.Equal(r.body, body)) {
			t.Errorf("GET %.70s...: %d, want %d", c.path, r.code, c.code)
		}
	}
	if n := o.count("/vod/t/r/s.ts"); n != 1 {
		t.Errorf("three valid tokens for one object: %d origin fetches, want 1 (the token must not split the cache)", n)
	}
	if o.total.Load() != 1 {
		t.Errorf("refused requests reached the origin: %d fetches", o.total.Load())
	}
}

// TestAdminSeparate: with an admin token, /cluster needs it too; with an admin listener, the
// admin endpoints answer only there.
func TestAdminSeparate(t *testing.T) {
	o := newFakeOrigin(t)
	o.put("/vod/t/r/a.ts", &fakeObject{body: []byte("a"), cacheControl: "max-age=3600"})
	s, base := startEdge(t, Config{Origins: []string{o.url()}, AdminToken: "tok"})
	if r := get(t, base+"/cluster"); r.code != 401 {
		t.Errorf("/cluster without the token: %d, want 401", r.code)
	}
	if r := get(t, base+"/cluster", "Authorization", "Bearer tok"); r.code != 200 {
		t.Errorf("/cluster with the token: %d", r.code)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.ServeAdmin(ln)
	admin := "http://" + ln.Addr().String()
	harness.Eventually(t, 5*time.Second, "admin listener up", func() bool { return get(t, admin+"/healthz").code == 200 })
	get(t, base+"/vod/t/r/a.ts")
	if r := do(t, "POST", base+"/admin/purge?path=/vod/t/r/a.ts", "Authorization", "Bearer tok"); r.code != 404 {
		t.Errorf("purge on the content listener: %d, want 404", r.code)
	}
	if r := do(t, "POST", admin+"/admin/purge?path=/vod/t/r/a.ts", "Authorization", "Bearer tok"); r.code != 200 {
		t.Errorf("purge on the admin listener: %d", r.code)
	}
	if r := get(t, admin+"/vod/t/r/a.ts"); r.code != 404 {
		t.Errorf("content on the admin listener: %d, want 404", r.code)
	}
}
