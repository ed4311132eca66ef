package main

// Fault scenarios, run as processes: the real binary for origins, edges, balancer and steering,
// test-owned adversarial origins (net/http servers on loopback) where an origin has to
// misbehave in ways the real one never does. Every scenario also checks integrity: each 200
// body a client takes as complete is compared with the catalog's bytes, and none may differ.
//
//	go test -count=1 -run 'TestFault' -v ./cmd/edgecdn
//
// Timing bounds are generous on purpose (the tests share a small machine with other work);
// each states its bound next to the assertion and logs the figure it measured on one line.

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"edgecdn/internal/harness"
	"edgecdn/internal/steerapi"
	"edgecdn/internal/testenv"
	"edgecdn/player-sim/player"
)

// fxContent is a packaged catalog and the bytes each of its URL paths must have.
type fxContent struct {
	dir  string
	segs []segment

	mu   sync.Mutex
	want map[string][]byte
}

func packageContent(t *testing.T, duration string) *fxContent {
	t.Helper()
	dir := t.TempDir()
	if _, errOut, code := run(t, nil, "package", "--out", dir, "--titles", "1", "--ladder", "small", "--duration", duration, "--log-level", "warn"); code != 0 {
		t.Fatalf("package: exit %d: %s", code, errOut)
	}
	return &fxContent{dir: dir, segs: segmentsOf(t, dir), want: map[string][]byte{}}
}

// bytesOf returns the bytes of a URL path (/vod/... or /catalog.json), nil when there is none.
// The origin serves every file as it is on disk, so the file is the reference.
func (c *fxContent) bytesOf(path string) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if b, ok := c.want[path]; ok {
		return b
	}
	rel, ok := strings.CutPrefix(path, "/vod/")
	if path == "/catalog.json" {
		rel, ok = "catalog.json", true
	}
	if !ok || strings.Contains(rel, "..") {
		return nil
	}
	b, err := os.ReadFile(filepath.Join(c.dir, filepath.FromSlash(rel)))
	if err != nil {
		return nil
	}
	c.want[path] = b
	return b
}

// segmentAtLeast returns the segments of at least min bytes.
func (c *fxContent) segmentsAtLeast(min int64) []segment {
	var out []segment
	for _, s := range c.segs {
		if s.size >= min {
			out = append(out, s)
		}
	}
	return out
}

// fxResp is one response as a client saw it.
type fxResp struct {
	status int
	header http.Header
	body   []byte
	length int64 // Content-Length; -1 when not sent
	err    error // no response, or the body was cut
	dur    time.Duration
}

// complete reports whether the client got the whole body the response announced: what a client
// would take as a good response when the status is 200.
func (r fxResp) complete() bool {
	return r.err == nil && r.status != 0 && (r.length < 0 || int64(len(r.body)) == r.length)
}

func (r fxResp) cacheStatus() string { return r.header.Get("Cache-Status") }

func (r fxResp) String() string {
	if r.status == 0 {
		return fmt.Sprintf("no response after %v: %v", r.dur.Round(time.Millisecond), r.err)
	}
	s := fmt.Sprintf("%d, %d of %d bytes after %v, Cache-Status %q", r.status, len(r.body), r.length, r.dur.Round(time.Millisecond), r.cacheStatus())
	if r.err != nil {
		s += ", body error: " + r.err.Error()
	}
	return s
}

// fxClient is a raw HTTP client that checks every complete 200 body against the catalog
// (scenario 7, integrity): corrupt counts those that differ, which a client would have accepted.
type fxClient struct {
	t       *testing.T
	c       *http.Client
	content *fxContent

	checked, corrupt atomic.Int64
}

func newFxClient(t *testing.T, content *fxContent, timeout time.Duration) *fxClient {
	tr := &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 64, DisableCompression: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &fxClient{t: t, c: &http.Client{Timeout: timeout, Transport: tr}, content: content}
}

func (fc *fxClient) get(base, path string) fxResp { return fc.getThen(base, path, nil) }

// getThen is get that calls onHead (when set) once the response head has arrived.
func (fc *fxClient) getThen(base, path string, onHead func()) fxResp {
	start := time.Now()
	resp, err := fc.c.Get(base + path)
	if err != nil {
		return fxResp{err: err, dur: time.Since(start), length: -1}
	}
	defer resp.Body.Close()
	if onHead != nil {
		onHead()
	}
	body, err := io.ReadAll(resp.Body)
	r := fxResp{status: resp.StatusCode, header: resp.Header, body: body, length: resp.ContentLength, err: err, dur: time.Since(start)}
	if r.status == http.StatusOK && r.complete() {
		fc.checked.Add(1)
		if want := fc.content.bytesOf(path); want == nil || !bytes.Equal(body, want) {
			fc.corrupt.Add(1)
			fc.t.Errorf("CORRUPT: GET %s%s: a complete 200 whose %d bytes (sha256 %x) are not the catalog's (%d bytes): %s",
				base, path, len(body), sha256.Sum256(body), len(want), r)
		}
	}
	return r
}

// report logs and asserts the integrity figures.
func (fc *fxClient) report(scenario string) {
	fc.t.Helper()
	fc.t.Logf("%s: integrity: %d complete 200 bodies checked against the catalog, %d corrupt accepted", scenario, fc.checked.Load(), fc.corrupt.Load())
	if n := fc.corrupt.Load(); n != 0 {
		fc.t.Errorf("%s: %d corrupt bodies accepted as complete 200s", scenario, n)
	}
}

// mustOK fails the test unless r is a complete 200 (its bytes were checked by get).
func mustOK(t *testing.T, what string, r fxResp) {
	t.Helper()
	if r.status != http.StatusOK || !r.complete() {
		t.Fatalf("%s: %s", what, r)
	}
}

// startFxEdge runs a standalone edge (no gossip: the scenarios that use it are about one edge
// and its origin) in front of origin.
func startFxEdge(t *testing.T, name, origin string, extra ...string) *proc {
	t.Helper()
	args := []string{bin, "edge", "--name", name, "--standalone", "--origin", origin, "--listen", "127.0.0.1:0",
		"--cache-size", "64MiB", "--log-format", "json"}
	return startProc(t, name, "edge listening", append(args, extra...)...)
}

// metric reads one metric sum, failing the test when /metrics does not answer.
func metric(t *testing.T, c *http.Client, addr, prefix string) float64 {
	t.Helper()
	v, err := metricSum(c, addr, prefix)
	if err != nil {
		t.Fatalf("metrics of %s: %v", addr, err)
	}
	return v
}

// stopProc sends sig and waits (30 s at most) for the process to exit.
func stopProc(t *testing.T, p *proc, sig syscall.Signal) {
	t.Helper()
	if err := p.Cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %v to %s: %v", sig, p.Name, err)
	}
	select {
	case <-p.Done:
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not exit within 30 s of %v", p.Name, sig)
	}
}

// Fault modes of the adversarial origin.
const (
	faultStall        = "stall"         // accept, read the request, never answer
	faultTrickle      = "trickle"       // the head at once, then a few bytes per 100 ms
	faultTruncate     = "truncate"      // Content-Length N, then N/2 bytes and the connection closed
	faultFlip         = "flip"          // the right length and ETag, one byte flipped
	faultFlipHeld     = "flip-held"     // flip, with the second half held back until release closes
	faultChunkedShort = "chunked-short" // chunked, half the body, then the connection closed without the last chunk
)

// advOrigin is a test-owned origin on loopback that serves the catalog as the real one does
// (Content-Length, the strong ETag that is the body's SHA-256, Cache-Control), except for the
// paths given a fault.
type advOrigin struct {
	url     string
	content *fxContent
	stop    chan struct{}

	mu      sync.Mutex
	faults  map[string]string
	reqs    map[string]int
	release chan struct{} // faultFlipHeld sends its second half once this closes
	active  atomic.Int64  // handlers running
}

func startAdvOrigin(t *testing.T, content *fxContent) *advOrigin {
	t.Helper()
	o := &advOrigin{content: content, stop: make(chan struct{}), faults: map[string]string{}, reqs: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(o.serve))
	o.url = srv.URL
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(o.stop) }) // runs first: stalled handlers return, then Close returns
	return o
}

func (o *advOrigin) setFault(path, mode string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if mode == "" {
		delete(o.faults, path)
	} else {
		o.faults[path] = mode
	}
}

func (o *advOrigin) requests(path string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.reqs[path]
}

func (o *advOrigin) serve(w http.ResponseWriter, r *http.Request) {
	o.active.Add(1)
	defer o.active.Add(-1)
	if r.URL.Path == "/healthz" {
		w.Write([]byte("ok\n"))
		return
	}
	body := o.content.bytesOf(r.URL.Path)
	if body == nil {
		http.NotFound(w, r)
		return
	}
	o.mu.Lock()
	mode := o.faults[r.URL.Path]
	if r.Header.Get("Range") != "" {
		o.reqs[r.URL.Path+" range"]++ // an edge resuming a cut fill: not a fill of its own
	} else {
		o.reqs[r.URL.Path]++
	}
	release := o.release
	o.mu.Unlock()
	sum := sha256.Sum256(body)
	h := w.Header()
	h.Set("ETag", `"`+hex.EncodeToString(sum[:])+`"`)
	if strings.HasSuffix(r.URL.Path, ".ts") || strings.HasSuffix(r.URL.Path, ".m4s") || strings.HasSuffix(r.URL.Path, ".mp4") {
		h.Set("Content-Type", "video/mp2t")
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "public, max-age=2")
	}
	if mode != faultChunkedShort {
		h.Set("Content-Length", strconv.Itoa(len(body)))
	}
	flush := func() { http.NewResponseController(w).Flush() }
	switch mode {
	case "":
		w.Write(body)
	case faultStall:
		select {
		case <-r.Context().Done():
		case <-o.stop:
		}
	case faultTrickle:
		w.WriteHeader(http.StatusOK)
		flush()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for off := 0; off < len(body); off += 256 {
			if _, err := w.Write(body[off:min(off+256, len(body))]); err != nil {
				return
			}
			flush()
			select {
			case <-tick.C:
			case <-r.Context().Done():
				return
			case <-o.stop:
				return
			}
		}
	case faultTruncate:
		w.Write(body[:len(body)/2])
		flush()
		panic(http.ErrAbortHandler) // closes the connection short of the announced length
	case faultFlip:
		bad := slices.Clone(body)
		bad[len(bad)/2] ^= 0xff
		w.Write(bad)
	case faultFlipHeld:
		bad := slices.Clone(body)
		bad[len(bad)/4] ^= 0xff // in the half that streams to clients at once
		w.Write(bad[:len(bad)/2])
		flush()
		select {
		case <-release:
		case <-r.Context().Done():
			return
		case <-o.stop:
			return
		}
		w.Write(bad[len(bad)/2:])
	case faultChunkedShort:
		w.Write(body[:len(body)/2])
		flush()
		panic(http.ErrAbortHandler) // no terminating chunk
	}
}

// TestFaultOriginDown proves that an edge whose only origin dies (SIGKILL) keeps serving what
// it holds: fresh objects as hits, expired ones (a playlist with a 1 s max-age) as
// stale-if-error, all with 200 and the catalog's bytes; that an object it does not hold fails
// fast (502/504 in under 5 s, not after a timeout); and that once an origin is back on the same
// address the object is served at once (the edge's ejection of the origin does not keep it out).
func TestFaultOriginDown(t *testing.T) {
	content := packageContent(t, "16s")
	origin := startProc(t, "origin", "origin listening", bin, "origin", "--content", content.dir,
		"--listen", "127.0.0.1:0", "--playlist-max-age", "1s", "--log-format", "json")
	edge := startFxEdge(t, "edge-od", "http://"+origin.Addr)
	fc := newFxClient(t, content, 20*time.Second)
	base := "http://" + edge.Addr
	const playlist = "/vod/title-000/master.m3u8"
	warm, cold := content.segs[:4], content.segs[len(content.segs)-3:]

	mustOK(t, "warming "+playlist, fc.get(base, playlist))
	for _, s := range warm {
		mustOK(t, "warming "+s.path, fc.get(base, s.path))
	}

	stopProc(t, origin, syscall.SIGKILL)
	killed := time.Now()

	// Cached, fresh: hits.
	for _, s := range warm {
		r := fc.get(base, s.path)
		mustOK(t, "origin down, cached "+s.path, r)
		if !strings.Contains(r.cacheStatus(), "; hit") {
			t.Errorf("origin down, cached %s: Cache-Status %q, want a hit", s.path, r.cacheStatus())
		}
	}
	// Cached, expiring (max-age 1 s): hits until it expires, then stale-if-error; never an error.
	var last fxResp
	pollUntil(t, 15*time.Second, "the expired playlist served stale", func() (bool, string) {
		last = fc.get(base, playlist)
		if last.status != http.StatusOK || !last.complete() {
			t.Errorf("origin down, cached playlist: %s", last)
		}
		return strings.Contains(last.cacheStatus(), "fwd=stale"), last.String()
	})
	if !strings.Contains(last.cacheStatus(), "stale-if-error") {
		t.Errorf("expired playlist with the origin down: Cache-Status %q, want stale-if-error", last.cacheStatus())
	}
	t.Logf("origin down: expired playlist served stale (Cache-Status %q) %v after the kill", last.cacheStatus(), time.Since(killed).Round(time.Millisecond))

	// Not cached: a fast 502 or 504.
	var worst time.Duration
	for _, s := range cold {
		r := fc.get(base, s.path)
		if r.status != http.StatusBadGateway && r.status != http.StatusGatewayTimeout {
			t.Errorf("origin down, uncached %s: %s; want 502 or 504", s.path, r)
		}
		worst = max(worst, r.dur)
		t.Logf("origin down: uncached failed in %v with %d", r.dur.Round(10*time.Microsecond), r.status)
	}
	if worst > 5*time.Second { // bound: 5 s (a refused connection on loopback takes well under 1 s)
		t.Errorf("origin down: an uncached object took %v to fail, want under 5 s", worst)
	}

	// An origin comes back on the same address.
	startProc(t, "origin-restarted", "origin listening", bin, "origin", "--content", content.dir,
		"--listen", origin.Addr, "--playlist-max-age", "1s", "--log-format", "json")
	restarted := time.Now()
	var got fxResp
	recovery := pollUntil(t, 20*time.Second, "the uncached object served after the origin's restart", func() (bool, string) {
		got = fc.get(base, cold[0].path)
		return got.status == http.StatusOK && got.complete(), got.String()
	})
	if !strings.Contains(got.cacheStatus(), "fwd=miss") {
		t.Errorf("after the restart, %s: Cache-Status %q, want a miss", cold[0].path, got.cacheStatus())
	}
	t.Logf("origin down: recovery (origin listening again -> uncached object 200) in %v, %v after the kill", recovery.Round(time.Millisecond), restarted.Sub(killed).Round(time.Millisecond))
	if recovery > 10*time.Second { // bound: 10 s (the edge should try the origin on the next miss; its probe runs every 2 s)
		t.Errorf("recovery took %v, want under 10 s", recovery)
	}
	c := testClient()
	t.Logf("origin down: edge counted %.0f stale, %.0f error answers",
		metric(t, c, edge.Addr, `edgecdn_edge_requests_total{kind="playlist",result="stale"}`)+metric(t, c, edge.Addr, `edgecdn_edge_requests_total{kind="segment",result="stale"}`),
		metric(t, c, edge.Addr, `edgecdn_edge_requests_total{kind="segment",result="error"}`))
	fc.report("origin down")
}

// fxOutcome classifies one response to a fill that the origin botched: what the client got.
func fxOutcome(r fxResp) string {
	switch {
	case r.status == 0:
		return "no response"
	case r.status >= 500:
		return strconv.Itoa(r.status)
	case r.status == http.StatusOK && !r.complete():
		return "200 cut"
	case r.status == http.StatusOK:
		return "200 complete"
	}
	return strconv.Itoa(r.status)
}

// burst runs n concurrent GETs of path and returns the responses; onHead, when set, is
// called as each response head arrives.
func burst(fc *fxClient, base, path string, n int, onHead func()) []fxResp {
	out := make([]fxResp, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			out[i] = fc.getThen(base, path, onHead)
		}()
	}
	close(start)
	wg.Wait()
	return out
}

func countOutcomes(rs []fxResp) map[string]int {
	m := map[string]int{}
	for _, r := range rs {
		m[fxOutcome(r)]++
	}
	return m
}

// TestFaultOriginSlow proves that a slow origin costs clients no more than the fill timeout and
// costs the edge nothing that lasts. 50 concurrent clients ask an edge (--fill-timeout 2s,
// --origin-timeout left at 5 s) for one uncached object whose origin
//
//   - (a) accepts and never answers: every client gets exactly 504, within fill timeout + 3 s;
//   - (b) sends the head, then trickles 2.5 kB/s: every client gets exactly the 200 head (the
//     edge sends it as soon as the origin's arrives) and then the connection closed before the
//     announced Content-Length, within fill timeout + 3 s; the bytes it got are a prefix of the
//     right ones. (All 50 join the fill while it streams; a client that came after it failed
//     would get 504, and a test-owned client would see that as a failure here.)
//
// Neither object is cached (with the origin healthy again, the next request is a miss with the
// right bytes, the one after a hit); the edge closes its connections to the slow origin (no
// handler of it still runs) and its goroutines (go_goroutines from its /metrics) come back to
// within 10 of the count before the bursts.
func TestFaultOriginSlow(t *testing.T) {
	const fillTimeout = 2 * time.Second
	const margin = 3 * time.Second
	const clients = 50
	content := packageContent(t, "16s")
	adv := startAdvOrigin(t, content)
	edge := startFxEdge(t, "edge-slow", adv.url, "--fill-timeout", fillTimeout.String())
	base := "http://" + edge.Addr
	fc := newFxClient(t, content, 30*time.Second)
	mc := testClient()
	big := content.segmentsAtLeast(32 << 10)
	if len(big) < 3 {
		t.Fatalf("only %d segments of 32 KiB or more", len(big))
	}
	warmSeg, stalled, trickled := big[0], big[1], big[2]

	// Baseline: the edge after one ordinary fill (so it has its origin connection, as it will at
	// the end), idle, with no client connection open.
	mustOK(t, "warm-up", fc.get(base, warmSeg.path))
	fc.c.CloseIdleConnections()
	baseline := metric(t, mc, edge.Addr, "go_goroutines")

	check := func(what string, rs []fxResp, want func(fxResp) bool, size int64, body []byte) {
		t.Helper()
		var worst time.Duration
		for _, r := range rs {
			worst = max(worst, r.dur)
			if !want(r) {
				t.Errorf("%s: a client got %s", what, r)
			}
			if r.dur > fillTimeout+margin { // bound: fill timeout + 3 s
				t.Errorf("%s: a client waited %v, want at most %v", what, r.dur, fillTimeout+margin)
			}
			if r.status == http.StatusOK && (!bytes.HasPrefix(body, r.body) || int64(len(r.body)) >= size) {
				t.Errorf("%s: a client got %d bytes that are not a short prefix of the object", what, len(r.body))
			}
		}
		t.Logf("origin slow, %s: %d clients, outcomes %v, slowest %v (fill timeout %v)", what, len(rs), countOutcomes(rs), worst.Round(time.Millisecond), fillTimeout)
	}

	// (a) Accepts and never answers: 504 for everyone.
	adv.setFault(stalled.path, faultStall)
	peak := 0.0
	var peakMu sync.Mutex
	sample := func() {
		if g, err := metricSum(mc, edge.Addr, "go_goroutines"); err == nil {
			peakMu.Lock()
			peak = max(peak, g)
			peakMu.Unlock()
		}
	}
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			select {
			case <-stopSampling:
				return
			case <-time.After(200 * time.Millisecond):
				sample()
			}
		}
	}()
	rs := burst(fc, base, stalled.path, clients, nil)
	check("stalled head", rs, func(r fxResp) bool { return r.status == http.StatusGatewayTimeout }, stalled.size, content.bytesOf(stalled.path))
	t.Logf("origin slow, stalled head: %d origin requests for %d clients", adv.requests(stalled.path), clients)

	// (b) Trickles: the head, then 2.5 kB/s; the body is cut at the fill timeout.
	adv.setFault(trickled.path, faultTrickle)
	rs = burst(fc, base, trickled.path, clients, nil)
	close(stopSampling)
	<-sampled
	check("trickled body", rs, func(r fxResp) bool { return r.status == http.StatusOK && !r.complete() && r.err != nil },
		trickled.size, content.bytesOf(trickled.path))
	t.Logf("origin slow, trickled body: %d origin requests for %d clients", adv.requests(trickled.path), clients)

	// Nothing was cached: with the origin healthy, a miss and the right bytes.
	for _, s := range []segment{stalled, trickled} {
		adv.setFault(s.path, "")
		r := fc.get(base, s.path)
		mustOK(t, "origin healthy again, "+s.path, r)
		if !strings.Contains(r.cacheStatus(), "fwd=miss") {
			t.Errorf("origin healthy again, %s: Cache-Status %q, want a miss (nothing cached from the slow origin)", s.path, r.cacheStatus())
		}
		r = fc.get(base, s.path)
		mustOK(t, "second request, "+s.path, r)
		if !strings.Contains(r.cacheStatus(), "; hit") {
			t.Errorf("second request, %s: Cache-Status %q, want a hit", s.path, r.cacheStatus())
		}
	}
	if rej := metric(t, mc, edge.Addr, "edgecdn_edge_fill_rejected_total"); rej < 1 {
		t.Errorf("edgecdn_edge_fill_rejected_total = %v after a fill cut by its timeout, want at least 1", rej)
	}

	// No goroutine leak: back to the baseline once idle workers and connections are gone.
	fc.c.CloseIdleConnections()
	const bound = 10
	var after float64
	// Bound: 45 s to settle (fasthttp lets idle workers go after 10 s).
	settle := pollUntil(t, 45*time.Second, "the edge's goroutines back to the baseline, no request at the slow origin", func() (bool, string) {
		after = metric(t, mc, edge.Addr, "go_goroutines")
		return after <= baseline+bound && adv.active.Load() == 0,
			fmt.Sprintf("%v goroutines, baseline %v; %d requests still at the origin", after, baseline, adv.active.Load())
	})
	t.Logf("origin slow: goroutines baseline %.0f, peak %.0f, after %.0f (settled in %v; bound baseline+%d)",
		baseline, peak, after, settle.Round(time.Millisecond), bound)
	fc.report("origin slow")
}

// TestFaultOriginBadBody proves that an edge never passes off a body its origin botched as a
// good one, never caches it, and counts it. An adversarial origin (a) announces Content-Length N
// and closes after N/2; (b) sends N bytes with one flipped (its ETag is the right SHA-256);
// (b') the same, holding the second half back until every client has the response head, so
// that the flipped byte streams to them; (c) sends a chunked body that ends without its last
// chunk. Clients that joined the fill while it streamed get the 200 head and a body cut short of
// its Content-Length (the edge holds the last byte back until length and hash check out);
// those that came after it failed get 502; for (c), where the edge waits for the whole body of
// unannounced length, every client gets 502. (b') must be all "200 cut", (c) all 502, (a) and
// (b) either. No client ever gets a complete 200 with wrong bytes; every bad fill is counted in
// edgecdn_edge_fill_rejected_total; with a good origin the next request is a miss with the right
// bytes, then a hit.
func TestFaultOriginBadBody(t *testing.T) {
	content := packageContent(t, "16s")
	adv := startAdvOrigin(t, content)
	edge := startFxEdge(t, "edge-bad", adv.url)
	base := "http://" + edge.Addr
	fc := newFxClient(t, content, 20*time.Second)
	mc := testClient()
	segs := content.segmentsAtLeast(16 << 10)
	const clients = 8
	modes := []struct {
		mode  string
		allow []string // outcomes allowed (fxOutcome)
	}{
		{faultTruncate, []string{"200 cut", "502"}},
		{faultFlip, []string{"200 cut", "502"}},
		{faultFlipHeld, []string{"200 cut"}},
		{faultChunkedShort, []string{"502"}},
	}
	if len(segs) < len(modes) {
		t.Fatalf("only %d segments of 16 KiB or more", len(segs))
	}
	for i, m := range modes {
		s := segs[i]
		rejBefore := metric(t, mc, edge.Addr, "edgecdn_edge_fill_rejected_total")
		errBefore := metric(t, mc, edge.Addr, `edgecdn_edge_requests_total{kind="segment",result="error"}`)
		adv.setFault(s.path, m.mode)
		var onHead func()
		if m.mode == faultFlipHeld {
			release := make(chan struct{})
			var heads atomic.Int64
			adv.mu.Lock()
			adv.release = release
			adv.mu.Unlock()
			onHead = func() {
				if heads.Add(1) == clients {
					close(release) // every client streams: now the rest, and the hash check
				}
			}
		}
		rs := burst(fc, base, s.path, clients, onHead)
		for _, r := range rs {
			if !slices.Contains(m.allow, fxOutcome(r)) {
				t.Errorf("%s: a client got %s; want one of %q", m.mode, r, m.allow)
			}
		}
		fills := adv.requests(s.path)
		rej := metric(t, mc, edge.Addr, "edgecdn_edge_fill_rejected_total") - rejBefore
		errs := metric(t, mc, edge.Addr, `edgecdn_edge_requests_total{kind="segment",result="error"}`) - errBefore
		t.Logf("origin bad body, %s: %d clients, outcomes %v; %d origin fetches, %.0f counted as rejected fills, %.0f error answers",
			m.mode, clients, countOutcomes(rs), fills, rej, errs)
		if int(rej) != fills {
			t.Errorf("%s: %d bad fills from the origin, edgecdn_edge_fill_rejected_total rose by %v", m.mode, fills, rej)
		}
		if int(errs) != countOutcomes(rs)["502"] {
			t.Errorf("%s: %d clients got 502, edgecdn_edge_requests_total{result=\"error\"} rose by %v", m.mode, countOutcomes(rs)["502"], errs)
		}
		adv.setFault(s.path, "")
		r := fc.get(base, s.path)
		mustOK(t, m.mode+": origin good again", r)
		if !strings.Contains(r.cacheStatus(), "fwd=miss") {
			t.Errorf("%s: origin good again: Cache-Status %q, want a miss (nothing cached from the bad fill)", m.mode, r.cacheStatus())
		}
		if r = fc.get(base, s.path); !strings.Contains(r.cacheStatus(), "; hit") {
			t.Errorf("%s: second good request: %s, want a hit", m.mode, r)
		}
	}
	fc.report("origin bad body")
}

// TestFaultDiskCorrupted proves that the disk tier never serves a damaged file: an edge with
// --disk-cache fills objects and writes them to disk, stops (SIGTERM), one file gets a flipped
// byte in its body and another is truncated, and the edge starts again on the same folder.
// Every object comes back with the right bytes; the origin is asked again for exactly the two
// damaged ones (edgecdn_edge_origin_fetches_total rises by 2), the others are disk hits; the
// edge counts 2 damaged files, and writes good copies in their place.
func TestFaultDiskCorrupted(t *testing.T) {
	content := packageContent(t, "24s")
	origin := startProc(t, "origin", "origin listening", bin, "origin", "--content", content.dir, "--listen", "127.0.0.1:0", "--log-format", "json")
	diskDir := t.TempDir()
	originURL := "http://" + origin.Addr
	edge := startFxEdge(t, "edge-disk", originURL, "--disk-cache", diskDir)
	base := "http://" + edge.Addr
	fc := newFxClient(t, content, 20*time.Second)
	mc := testClient()
	segs := content.segs[:min(8, len(content.segs))]
	for _, s := range segs {
		mustOK(t, "fill "+s.path, fc.get(base, s.path))
	}
	pollUntil(t, 20*time.Second, "every object written to disk", func() (bool, string) {
		n := metric(t, mc, edge.Addr, "edgecdn_edge_disk_objects")
		return int(n) == len(segs), fmt.Sprintf("%v on disk, want %d", n, len(segs))
	})
	stopProc(t, edge, syscall.SIGTERM)
	if !edge.Cmd.ProcessState.Success() {
		t.Fatalf("edge after SIGTERM: %v", edge.Cmd.ProcessState)
	}

	// Damage two files: a flipped byte in the body of one, the other cut in half.
	fileOf := func(s segment) string {
		sum := sha256.Sum256([]byte(s.path))
		return filepath.Join(diskDir, hex.EncodeToString(sum[:16])+".obj")
	}
	flipped, truncated := segs[2], segs[5]
	b, err := os.ReadFile(fileOf(flipped))
	if err != nil {
		t.Fatalf("the disk tier's file for %s: %v (the file naming changed?)", flipped.path, err)
	}
	b[len(b)-int(flipped.size)/2] ^= 0xff
	if err := os.WriteFile(fileOf(flipped), b, 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(fileOf(truncated))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(fileOf(truncated), st.Size()/2); err != nil {
		t.Fatal(err)
	}

	edge2 := startFxEdge(t, "edge-disk-restarted", originURL, "--disk-cache", diskDir)
	base = "http://" + edge2.Addr
	fetchesBefore := metric(t, mc, edge2.Addr, "edgecdn_edge_origin_fetches_total")
	var statuses []string
	for _, s := range segs {
		r := fc.get(base, s.path)
		mustOK(t, "after the restart, "+s.path, r)
		damaged := s == flipped || s == truncated
		if damaged != strings.Contains(r.cacheStatus(), "fwd=miss") || !damaged && !strings.Contains(r.cacheStatus(), "detail=disk") {
			t.Errorf("after the restart, %s (damaged: %v): Cache-Status %q", s.path, damaged, r.cacheStatus())
		}
		statuses = append(statuses, r.cacheStatus())
	}
	fetches := metric(t, mc, edge2.Addr, "edgecdn_edge_origin_fetches_total") - fetchesBefore
	corrupt := metric(t, mc, edge2.Addr, "edgecdn_edge_disk_corrupt_total")
	t.Logf("disk corrupted: %d objects, 2 damaged (1 flipped byte, 1 truncated): origin fetches +%.0f, disk corrupt count %.0f, disk hits %.0f",
		len(segs), fetches, corrupt, metric(t, mc, edge2.Addr, "edgecdn_edge_disk_hits_total"))
	if fetches != 2 {
		t.Errorf("origin fetches rose by %v after the restart, want exactly 2 (the damaged objects); Cache-Status: %q", fetches, statuses)
	}
	if corrupt != 2 {
		t.Errorf("edgecdn_edge_disk_corrupt_total = %v, want 2", corrupt)
	}
	if hits := metric(t, mc, edge2.Addr, "edgecdn_edge_disk_hits_total"); int(hits) != len(segs)-2 {
		t.Errorf("edgecdn_edge_disk_hits_total = %v, want %d (every undamaged object)", hits, len(segs)-2)
	}
	// The damaged files are replaced by good copies.
	for _, s := range []segment{flipped, truncated} {
		want := content.bytesOf(s.path)
		pollUntil(t, 20*time.Second, "a good copy of "+s.path+" on disk", func() (bool, string) {
			b, err := os.ReadFile(fileOf(s))
			if err != nil {
				return false, err.Error()
			}
			_, body, ok := bytes.Cut(b, []byte("\n"))
			return ok && bytes.Equal(body, want), fmt.Sprintf("%d bytes", len(b))
		})
	}
	fc.report("disk corrupted")
}

// steerView is what `edgecdn steering` answers on GET /steer/<title>.
type steerView steerapi.Ranking

func getSteer(c *http.Client, addr, title, zone string) (steerView, error) {
	var v steerView
	resp, err := c.Get("http://" + addr + "/steer/" + title + "?zone=" + zone)
	if err != nil {
		return v, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return v, fmt.Errorf("GET /steer/%s: %s", title, resp.Status)
	}
	return v, json.NewDecoder(resp.Body).Decode(&v)
}

// healthyIn reports how many edges steering ranks as healthy, and whether name is one of them.
func (v steerView) healthyIn(name string) (n int, in bool) {
	for _, e := range v.Edges {
		if e.Healthy {
			n++
			in = in || e.Name == name
		}
	}
	return n, in
}

// chunkAt is one segment a player of the fleet got, and when.
type chunkAt struct {
	at  time.Time
	c   player.Chunk
	buf float64 // buffer after it, in seconds
}

// TestFaultEdgeKilledMidPlayback proves that players do not notice an edge dying under them.
// Three edges of one zone gossip, with a zone balancer (`edgecdn lb`) and a steering service
// (`edgecdn steering`) in the same cluster; a fleet of 8 real-time players (player.RunFleet,
// real HTTP) plays one title, half through the steering service (each gets the ranked list of
// edges and stays on the first until it fails, as HLS players do with pathways), half through
// the balancer (which round-robins every request). Once every player holds at least 8 s of
// buffer, the edge most steering players are on is SIGKILLed. No player stalls (0 rebuffers),
// fails, or receives a corrupt segment, and every segment it accepted was checked against the
// catalog's hash. Measured: detection (kill -> the victim dead and out of the ring at both
// survivors, out of the balancer's rotation, unhealthy at steering) and each affected player's
// switch time (kill -> its first segment from another edge).
func TestFaultEdgeKilledMidPlayback(t *testing.T) {
	content := packageContent(t, "36s")
	origin := startProc(t, "origin", "origin listening", bin, "origin", "--content", content.dir, "--listen", "127.0.0.1:0", "--log-format", "json")
	originURL := "http://" + origin.Addr
	const zone = "zone-k"
	z := startZoneStack(t, zone, originURL, "k")
	edges := z.edges
	c := testClient()
	const title = "title-000"
	z.waitFormed(t, c, title)

	const players = 8
	viaSteering := func(i int) bool { return i%2 == 0 }
	f := z.startFleet(t, title, players, 7, viaSteering)
	mu, got, done := &f.mu, f.got, f.done

	// Every player holds 8 s of buffer or more (its buffer after its last segment, less the
	// time played since), with 0.5 s to spare for the kill itself.
	minBuf := f.waitBuffer(t, 8.5)
	// The victim: the edge most steering players are on.
	on := f.lastEdges(viaSteering)
	victimName := ""
	for name, n := range on {
		if edges[name] != nil && (victimName == "" || n > on[victimName]) {
			victimName = name
		}
	}
	if victimName == "" {
		t.Fatalf("the steering players are on no known edge: %v", on)
	}
	_, survivors := z.signal(t, victimName, syscall.SIGKILL)
	killed := time.Now()
	t.Logf("edge killed mid-playback: SIGKILL %s (steering players on it: %d of %d), every player holding at least %.1f s of buffer", victimName, on[victimName], players/2, minBuf)

	// Detection, each view on its own.
	gossipAt, lbAt, steerAt := z.waitDropped(t, c, title, victimName, "dead", survivors, killed, 20*time.Second)
	t.Logf("edge killed mid-playback: detection: dead and out of the ring at both survivors %v, out of the balancer's rotation %v, unhealthy at steering %v",
		gossipAt.Round(time.Millisecond), lbAt.Round(time.Millisecond), steerAt.Round(time.Millisecond))

	var rep *player.Report
	select {
	case rep = <-done:
	case <-time.After(70 * time.Second):
		t.Fatal("the fleet did not finish within 70 s of the kill")
	}
	if rep == nil {
		t.Fatal("no fleet report")
	}

	// Switch times: kill -> the first segment from another edge, for each player that was on
	// the victim (its last segment before the kill came from it).
	mu.Lock()
	defer mu.Unlock()
	var steerSw, lbSw []time.Duration
	afterFromVictim := 0
	for i := range got {
		var before *chunkAt
		var sw time.Duration
		for k := range got[i] {
			ch := &got[i][k]
			if ch.at.Before(killed) {
				before = ch
				continue
			}
			if ch.c.EdgeName == victimName {
				afterFromVictim++ // only a body that was complete before the kill
			} else if sw == 0 {
				sw = ch.at.Sub(killed)
			}
		}
		if before == nil || before.c.EdgeName != victimName {
			continue
		}
		if sw == 0 {
			t.Errorf("player %d was on %s and got no segment from another edge after the kill", i, victimName)
			continue
		}
		if viaSteering(i) {
			steerSw = append(steerSw, sw)
		} else {
			lbSw = append(lbSw, sw)
		}
	}
	slices.Sort(steerSw)
	slices.Sort(lbSw)
	all := slices.Sorted(slices.Values(slices.Concat(steerSw, lbSw)))
	fmtSw := func(ds []time.Duration) string {
		if len(ds) == 0 {
			return "none on the victim"
		}
		return fmt.Sprintf("%d players, median %v, max %v", len(ds), harness.Median(ds).Round(time.Millisecond), ds[len(ds)-1].Round(time.Millisecond))
	}
	t.Logf("edge killed mid-playback: switch time (kill -> first segment from another edge): all %s; via steering %s; via the balancer %s",
		fmtSw(all), fmtSw(steerSw), fmtSw(lbSw))
	t.Logf("edge killed mid-playback: fleet: %d players, %d failed, %d stalls (%.2f s), %d segments, %d errors retried, %d edge switches, %d corrupt, %d unverified; %d segments from %s completed after the kill",
		rep.Players, rep.Failed, rep.RebufferCount, rep.RebufferS, rep.Segments, rep.Errors, rep.EdgeSwitches, rep.Corrupt, rep.Unverified, afterFromVictim, victimName)
	if len(steerSw) == 0 {
		t.Errorf("no steering player was on %s at the kill: the test did not exercise a switch", victimName)
	}
	if rep.Players != players || rep.Failed != 0 || rep.RebufferCount != 0 {
		t.Errorf("after %s was killed: %d players of %d, %d failed, %d stalls; want all, none, none", victimName, rep.Players, players, rep.Failed, rep.RebufferCount)
		for i, r := range rep.PerPlayer {
			if r.Failed || r.Rebuffers > 0 {
				t.Logf("player %d: failed %v (%s), %d stalls", i, r.Failed, r.FailReason, r.Rebuffers)
			}
		}
	}
	// Integrity: no segment whose bytes differ from the catalog's reached a player as a complete
	// 200 (a player counts those as corrupt and fetches them again), and none was accepted
	// unchecked: corrupt segments accepted = 0.
	if rep.Corrupt != 0 || rep.Unverified != 0 {
		t.Errorf("integrity: %d corrupt segments received, %d accepted unverified; want 0 and 0", rep.Corrupt, rep.Unverified)
	}
	// Bound: 20 s (memberlist: a failed 1 s probe, then 4 s of suspicion when the other members
	// confirm it, up to 24 s when none does; TestEdgeSIGKILLUnderLoad sees about 5 s).
	if gossipAt > 20*time.Second {
		t.Errorf("the survivors took %v to mark %s dead, want at most 20 s", gossipAt, victimName)
	}
}

// startCheckedLoad is startLoad with every complete 200 body checked against the catalog
// (through fc).
func startCheckedLoad(fc *fxClient, bases []string, segs []segment, workers int, maxDur time.Duration, maxReq int64) *load {
	return startLoadWith(bases, segs, workers, maxDur, maxReq, func(base string, s segment) error {
		if r := fc.get(base, s.path); r.status != http.StatusOK || !r.complete() {
			return fmt.Errorf("GET %s%s: %s", base, s.path, r)
		}
		return nil
	})
}

// The zone-cut test's subnet: not partition_test's, so that both can run.
const (
	cutSubnet = "10.232.0."
)

// TestFaultZoneCut proves that losing a whole zone's network costs the other zones nothing.
// Three network namespaces (zone-a, zone-b, zone-c) on a bridge, each with an origin and two
// edges of its zone, all six edges in one gossip cluster. Zone-c's bridge port is set down:
// zones a and b keep serving every segment with no client error (a load over their four edges
// from the cut until detection, then a full pass at each), and each of their edges marks c1
// and c2 dead. The port comes back up: the cluster merges again (all six alive in every
// member's /cluster) and zone-c serves again. Measured: detection and re-merge times.
func TestFaultZoneCut(t *testing.T) {
	testenv.Root(t)
	ip := testenv.Tool(t, "ip")
	_, nss := bridgedNamespaces(t, ip, cutSubnet, "fx", 3)
	type zoneNS struct {
		*netNS
		zone  string
		edges []*proc
	}
	zones := []*zoneNS{{netNS: nss[0], zone: "zone-a"}, {netNS: nss[1], zone: "zone-b"}, {netNS: nss[2], zone: "zone-c"}}

	content := packageContent(t, "24s")
	var all []*proc
	for _, z := range zones {
		_, z.edges = startInNS(t, ip, z.netNS, content.dir, z.zone, z.zone[len(z.zone)-1], "128MiB", zones[0].addr+":7946")
		all = append(all, z.edges...)
	}
	c := testClient()
	kept, cutZone := append(slices.Clone(zones[0].edges), zones[1].edges...), zones[2]

	// seeAll polls until every edge in at sees every edge in want alive and in its zone's ring,
	// and every edge in gone dead and out of it; it returns when each got there.
	seeAll := func(what string, at []*proc, want, gone []*proc, timeout time.Duration, from time.Time, logTrail bool) []time.Duration {
		t.Helper()
		zoneOf := func(name string) string { return "zone-" + name[:1] }
		// The states each edge goes through for the members of interest, for the log.
		trail := make([][]string, len(at))
		lastSeen := make([]string, len(at))
		defer func() {
			for i, e := range at {
				if !logTrail {
					break
				}
				t.Logf("zone cut: %s, %s: %s", what, e.Name, strings.Join(trail[i], " -> "))
			}
		}()
		when, all := edgeViews(c, at, from, func(i int, v clusterView) bool {
			var sts []string
			for _, o := range slices.Concat(want, gone) {
				if o.Name[0] != at[i].Name[0] {
					sts = append(sts, fmt.Sprintf("%s=%s,ring=%v", o.Name, v.state(o.Name), v.inRing(zoneOf(o.Name), o.Name)))
				}
			}
			if st := strings.Join(sts, " "); st != lastSeen[i] {
				lastSeen[i] = st
				trail[i] = append(trail[i], fmt.Sprintf("[%v] %s", time.Since(from).Round(time.Millisecond), st))
			}
			ok := true
			for _, o := range want {
				ok = ok && v.state(o.Name) == "alive" && v.inRing(zoneOf(o.Name), o.Name)
			}
			for _, o := range gone {
				ok = ok && v.state(o.Name) == "dead" && !v.inRing(zoneOf(o.Name), o.Name)
			}
			return ok
		})
		pollUntil(t, timeout, what, all)
		return when
	}
	seeAll("6 alive at every edge", all, all, nil, 30*time.Second, time.Now(), false)

	fc := newFxClient(t, content, 20*time.Second)
	var bases []string
	for _, e := range kept {
		bases = append(bases, "http://"+e.Addr)
	}
	// Warm every edge (also zone-c's), so that the cut finds caches as they are in service.
	for _, e := range all {
		for _, s := range content.segs {
			mustOK(t, "before the cut, at "+e.Name, fc.get("http://"+e.Addr, s.path))
		}
	}

	// Cut zone-c: its bridge port goes down.
	ipRun(t, ip, "link", "set", cutZone.hostIf, "down")
	cut := time.Now()
	during := startCheckedLoad(fc, bases, content.segs, 2, 45*time.Second, 50_000)
	defer during.end()
	detect := seeAll("zones a and b see c1 and c2 dead", kept, kept, cutZone.edges, 40*time.Second, cut, true)
	dur := during.end()
	t.Logf("zone cut: detection (c1, c2 dead and out of zone-c's ring) at %s", fmtWhen(kept, detect))
	t.Logf("zone cut: zones a and b during detection: %d requests in %v, %d failed", during.ok.Load()+during.failed.Load(), dur.Round(time.Millisecond), during.failed.Load())
	if n := during.failed.Load(); n != 0 {
		t.Errorf("%d requests failed at zones a and b during the cut:\n%s", n, during.errors())
	}
	// Bound: 30 s. Memberlist suspects after a failed 1 s probe and declares dead after 4 s
	// when other members confirm the suspicion, 24 s at most when none does (Lifeguard), or as
	// soon as another member's "dead" reaches it.
	if slices.Max(detect) > 30*time.Second {
		t.Errorf("detection took %v, want at most 30 s", slices.Max(detect))
	}
	// Cut and detected: every segment at every edge of zones a and b.
	failed := 0
	for _, e := range kept {
		for _, s := range content.segs {
			if r := fc.get("http://"+e.Addr, s.path); r.status != http.StatusOK || !r.complete() {
				failed++
				t.Errorf("zone-c cut, at %s: GET %s: %s", e.Name, s.path, r)
			}
		}
	}
	t.Logf("zone cut: after detection, %d segment GETs at zones a and b, %d failed", len(kept)*len(content.segs), failed)

	// Heal.
	ipRun(t, ip, "link", "set", cutZone.hostIf, "up")
	healed := time.Now()
	merged := seeAll("re-merge: 6 alive at every edge", all, all, nil, 60*time.Second, healed, true)
	t.Logf("zone cut: re-merge (6 alive and in their rings) at %s", fmtWhen(all, merged))
	for _, e := range all {
		for _, s := range content.segs {
			if r := fc.get("http://"+e.Addr, s.path); r.status != http.StatusOK || !r.complete() {
				t.Errorf("healed, at %s: GET %s: %s", e.Name, s.path, r)
			}
		}
	}
	fc.report("zone cut")
}
