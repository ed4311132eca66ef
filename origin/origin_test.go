package origin

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"edgecdn/internal/catalog"
	"edgecdn/internal/harness"
	"edgecdn/origin/packager"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

var (
	contentOnce sync.Once
	contentDir  string
	contentCat  *catalog.Catalog
	contentErr  error
)

// testContent packages one small title once for every test in the package.
func testContent(t testing.TB) (string, *catalog.Catalog) {
	t.Helper()
	contentOnce.Do(func() {
		contentDir, contentErr = os.MkdirTemp("", "edgecdn-origin-test-")
		if contentErr != nil {
			return
		}
		contentCat, contentErr = packager.Package(context.Background(), packager.Config{
			Out: contentDir, Titles: 1, Duration: 12 * time.Second, Ladder: "small", Logger: quiet,
		})
	})
	if contentErr != nil {
		t.Fatal(contentErr)
	}
	return contentDir, contentCat
}

func TestMain(m *testing.M) {
	code := m.Run()
	if contentDir != "" {
		os.RemoveAll(contentDir)
	}
	os.Exit(code)
}

// start runs an origin on a loopback port and returns its base URL.
func start(t *testing.T, cfg Config) (*Server, string) {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = quiet
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s, harness.ServeLoopback(t, s)
}

type response struct {
	code   int
	header http.Header
	body   []byte
}

func do(t *testing.T, method, url string, hdr map[string]string) response {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, url, err)
	}
	return response{resp.StatusCode, resp.Header, body}
}

// rawGet sends a request line byte for byte, for paths net/http would clean or refuse.
func rawGet(t *testing.T, base, target string) (int, string) {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", target)
	b, _ := io.ReadAll(c)
	var code int
	fmt.Sscanf(string(b), "HTTP/1.1 %d", &code)
	return code, string(b)
}

func segmentPath(cat *catalog.Catalog, rendition, segment int) (string, catalog.Segment) {
	t := cat.Titles[0]
	r := t.Renditions[rendition]
	s := r.Segments[segment]
	return "/vod/" + t.Name + "/" + r.Name + "/" + s.Name, s
}

func TestContentTypesAndCaching(t *testing.T) {
	dir, cat := testContent(t)
	_, base := start(t, Config{Content: dir})
	title := cat.Titles[0]
	seg, segInfo := segmentPath(cat, 0, 0)
	tests := []struct {
		path, ctype, cache string
	}{
		{"/vod/" + title.Name + "/master.m3u8", "application/vnd.apple.mpegurl", "public, max-age=2"},
		{"/vod/" + title.Name + "/" + title.Renditions[0].Name + "/index.m3u8", "application/vnd.apple.mpegurl", "public, max-age=2"},
		{seg, "video/mp4", "public, max-age=31536000, immutable"},
		{"/vod/" + title.Name + "/" + title.Renditions[0].Name + "/init.mp4", "video/mp4", "public, max-age=31536000, immutable"},
		{"/vod/" + title.Name + "/manifest.mpd", "application/dash+xml", "public, max-age=2"},
		{"/catalog.json", "application/json", "public, max-age=2"},
	}
	for _, tt := range tests {
		r := do(t, "GET", base+tt.path, nil)
		if r.code != 200 || r.header.Get("Content-Type") != tt.ctype || r.header.Get("Cache-Control") != tt.cache {
			t.Errorf("GET %s: %d %q %q, want 200 %q %q", tt.path, r.code, r.header.Get("Content-Type"), r.header.Get("Cache-Control"), tt.ctype, tt.cache)
		}
		if r.header.Get("ETag") == "" || r.header.Get("Last-Modified") == "" || r.header.Get("Accept-Ranges") != "bytes" {
			t.Errorf("GET %s: missing ETag, Last-Modified or Accept-Ranges: %v", tt.path, r.header)
		}
	}
	r := do(t, "GET", base+seg, nil)
	if want := `"` + segInfo.SHA256 + `"`; r.header.Get("ETag") != want || int64(len(r.body)) != segInfo.Size {
		t.Errorf("segment: ETag %s, %d bytes; want %s, %d", r.header.Get("ETag"), len(r.body), want, segInfo.Size)
	}
	// catalog.json served by the origin is the one on disk and decodes.
	r = do(t, "GET", base+"/catalog.json", nil)
	if _, err := catalog.Decode(bytes.NewReader(r.body)); err != nil {
		t.Errorf("served catalog.json: %v", err)
	}
	// HEAD: same headers, length, no body.
	h := do(t, "HEAD", base+seg, nil)
	if h.code != 200 || h.header.Get("Content-Length") != fmt.Sprint(segInfo.Size) || len(h.body) != 0 || h.header.Get("ETag") == "" {
		t.Errorf("HEAD: %d, Content-Length %q, %d body bytes", h.code, h.header.Get("Content-Length"), len(h.body))
	}
}

func TestRanges(t *testing.T) {
	dir, cat := testContent(t)
	for _, preload := range []int64{512 << 20, 1} { // from memory, and from disk with sendfile
		t.Run(fmt.Sprintf("preload=%d", preload), func(t *testing.T) {
			_, base := start(t, Config{Content: dir, PreloadBytes: preload})
			path, seg := segmentPath(cat, 2, 1)
			full, err := os.ReadFile(filepath.Join(dir, strings.TrimPrefix(path, "/vod/")))
			if err != nil {
				t.Fatal(err)
			}
			size := seg.Size
			tests := []struct {
				rng, ifRange string
				code         int
				cr           string
				start, end   int64 // body = full[start:end] for 200/206
			}{
				{"bytes=0-99", "", 206, fmt.Sprintf("bytes 0-99/%d", size), 0, 100},
				{"bytes=100-", "", 206, fmt.Sprintf("bytes 100-%d/%d", size-1, size), 100, size},
				{"bytes=-500", "", 206, fmt.Sprintf("bytes %d-%d/%d", size-500, size-1, size), size - 500, size},
				{"bytes=0-0", "", 206, fmt.Sprintf("bytes 0-0/%d", size), 0, 1},
				{fmt.Sprintf("bytes=%d-%d", size-10, size+1000), "", 206, fmt.Sprintf("bytes %d-%d/%d", size-10, size-1, size), size - 10, size},
				{fmt.Sprintf("bytes=%d-", size), "", 416, fmt.Sprintf("bytes */%d", size), 0, 0},
				{"bytes=-0", "", 416, fmt.Sprintf("bytes */%d", size), 0, 0},
				{"bytes=50-10", "", 200, "", 0, size}, // invalid: ignored
				{"bytes=abc", "", 200, "", 0, size},
				{"items=0-10", "", 200, "", 0, size},
				{"bytes=0-99", `"not-the-etag"`, 200, "", 0, size}, // If-Range mismatch: whole
				{"bytes=0-99", `"` + seg.SHA256 + `"`, 206, fmt.Sprintf("bytes 0-99/%d", size), 0, 100},
				{"bytes=0-9,5-19", "", 206, fmt.Sprintf("bytes 0-19/%d", size), 0, 20}, // overlapping: coalesced
			}
			for _, tt := range tests {
				hdr := map[string]string{"Range": tt.rng}
				if tt.ifRange != "" {
					hdr["If-Range"] = tt.ifRange
				}
				r := do(t, "GET", base+path, hdr)
				if r.code != tt.code || r.header.Get("Content-Range") != tt.cr {
					t.Errorf("Range %q: %d %q, want %d %q", tt.rng, r.code, r.header.Get("Content-Range"), tt.code, tt.cr)
					continue
				}
				if tt.code != 416 && !bytes.Equal(r.body, full[tt.start:tt.end]) {
					t.Errorf("Range %q: body of %d bytes does not match bytes %d-%d", tt.rng, len(r.body), tt.start, tt.end)
				}
			}
			// Multiple ranges: multipart/byteranges with each part's bytes.
			r := do(t, "GET", base+path, map[string]string{"Range": "bytes=0-9,1000-1099,-16"})
			mt, params, err := mime.ParseMediaType(r.header.Get("Content-Type"))
			if r.code != 206 || err != nil || mt != "multipart/byteranges" {
				t.Fatalf("multi-range: %d %q %v", r.code, r.header.Get("Content-Type"), err)
			}
			if r.header.Get("Content-Length") != fmt.Sprint(len(r.body)) {
				t.Errorf("multi-range: Content-Length %s, body %d", r.header.Get("Content-Length"), len(r.body))
			}
			mr := multipart.NewReader(bytes.NewReader(r.body), params["boundary"])
			want := [][2]int64{{0, 10}, {1000, 1100}, {size - 16, size}}
			for i := 0; ; i++ {
				p, err := mr.NextPart()
				if err == io.EOF {
					if i != len(want) {
						t.Errorf("multi-range: %d parts, want %d", i, len(want))
					}
					break
				}
				if err != nil || i >= len(want) {
					t.Fatalf("multi-range part %d: %v", i, err)
				}
				b, _ := io.ReadAll(p)
				cr := fmt.Sprintf("bytes %d-%d/%d", want[i][0], want[i][1]-1, size)
				if p.Header.Get("Content-Range") != cr || p.Header.Get("Content-Type") != "video/mp4" || !bytes.Equal(b, full[want[i][0]:want[i][1]]) {
					t.Errorf("multi-range part %d: %q %q, %d bytes; want %q", i, p.Header.Get("Content-Range"), p.Header.Get("Content-Type"), len(b), cr)
				}
			}
		})
	}
}

func TestConditionals(t *testing.T) {
	dir, cat := testContent(t)
	_, base := start(t, Config{Content: dir})
	path, seg := segmentPath(cat, 1, 0)
	etag := `"` + seg.SHA256 + `"`
	lm := do(t, "GET", base+path, nil).header.Get("Last-Modified")
	past := time.Unix(0, 0).UTC().Format(http.TimeFormat)
	future := time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)
	tests := []struct {
		name string
		hdr  map[string]string
		code int
	}{
		{"If-None-Match match", map[string]string{"If-None-Match": etag}, 304},
		{"If-None-Match weak match", map[string]string{"If-None-Match": "W/" + etag}, 304},
		{"If-None-Match in list", map[string]string{"If-None-Match": `"a", ` + etag}, 304},
		{"If-None-Match star", map[string]string{"If-None-Match": "*"}, 304},
		{"If-None-Match other", map[string]string{"If-None-Match": `"other"`}, 200},
		{"If-Modified-Since same", map[string]string{"If-Modified-Since": lm}, 304},
		{"If-Modified-Since future", map[string]string{"If-Modified-Since": future}, 304},
		{"If-Modified-Since past", map[string]string{"If-Modified-Since": past}, 200},
		{"If-Modified-Since garbage", map[string]string{"If-Modified-Since": "yesterday"}, 200},
		{"If-None-Match wins over IMS", map[string]string{"If-None-Match": `"other"`, "If-Modified-Since": future}, 200},
		{"If-Match match", map[string]string{"If-Match": etag}, 200},
		{"If-Match other", map[string]string{"If-Match": `"other"`}, 412},
		{"If-Match weak never matches", map[string]string{"If-Match": "W/" + etag}, 412},
		{"304 beats Range", map[string]string{"If-None-Match": etag, "Range": "bytes=0-1"}, 304},
	}
	for _, tt := range tests {
		r := do(t, "GET", base+path, tt.hdr)
		if r.code != tt.code {
			t.Errorf("%s: %d, want %d", tt.name, r.code, tt.code)
		}
		if r.code == 304 && (len(r.body) != 0 || r.header.Get("ETag") != etag) {
			t.Errorf("%s: 304 with %d body bytes, ETag %q", tt.name, len(r.body), r.header.Get("ETag"))
		}
	}
}

func TestHostilePaths(t *testing.T) {
	dir, cat := testContent(t)
	// A secret beside the content folder, and symlinks inside it pointing out and in.
	secretDir := t.TempDir()
	secret := "TOP-SECRET-" + fmt.Sprint(time.Now().UnixNano())
	os.WriteFile(filepath.Join(secretDir, "secret.ts"), []byte(secret), 0o644)
	title := cat.Titles[0].Name
	linkOut := filepath.Join(dir, title, "evil.ts")
	linkIn := filepath.Join(dir, title, "alias.m3u8")
	linkDir := filepath.Join(dir, "evil-dir")
	if err := os.Symlink(filepath.Join(secretDir, "secret.ts"), linkOut); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(linkOut)
	os.Symlink(filepath.Join(dir, title, "master.m3u8"), linkIn)
	defer os.Remove(linkIn)
	os.Symlink(secretDir, linkDir)
	defer os.Remove(linkDir)
	_, base := start(t, Config{Content: dir})

	rel, _ := filepath.Rel(dir, filepath.Join(secretDir, "secret.ts"))
	tests := []struct {
		target string
		codes  []int
	}{
		{"/vod/../" + rel, []int{400}},
		{"/vod/" + title + "/../../" + rel, []int{400}},
		{"/vod/%2e%2e/%2e%2e" + filepath.Join(secretDir, "secret.ts"), []int{400}},
		{"/vod/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd", []int{400}},
		{"/vod/%252e%252e/%252e%252e/etc/passwd", []int{400}},
		{"/vod/..%5c..%5cetc%5cpasswd", []int{400}},
		{"/vod/" + title + "/master.m3u8%00.ts", []int{400}},
		{"/vod/" + title + "//master.m3u8", []int{400}},
		{"/vod/" + title + "/evil.ts", []int{404}},
		{"/vod/evil-dir/secret.ts", []int{404}},
		{"/etc/passwd", []int{404}},
		{"/vod/" + strings.Repeat("a", 5000), []int{414, 431, 400}},
		{"/vod/nope/master.m3u8", []int{404}},
		{"/vod/" + title, []int{404}},
		{"/vod/" + title + "/", []int{404}},
		{"/" + title + "/master.m3u8", []int{404}},
		{"/vod/catalog.json", []int{404}},
		{"*", []int{400, 404}},
	}
	for _, tt := range tests {
		code, body := rawGet(t, base, tt.target)
		ok := false
		for _, c := range tt.codes {
			ok = ok || code == c
		}
		if !ok {
			t.Errorf("GET %s: %d, want one of %v", tt.target, code, tt.codes)
		}
		if strings.Contains(body, secret) || strings.Contains(body, "root:") {
			t.Errorf("GET %s leaked bytes from outside the content folder", tt.target)
		}
	}
	// A symlink that stays inside the folder is served.
	if code, _ := rawGet(t, base, "/vod/"+title+"/alias.m3u8"); code != 200 {
		t.Errorf("symlink inside the content folder: %d, want 200", code)
	}
	// The server still serves normally afterwards.
	if r := do(t, "GET", base+"/vod/"+title+"/master.m3u8", nil); r.code != 200 {
		t.Errorf("after hostile paths: %d", r.code)
	}
}

func TestMethods(t *testing.T) {
	dir, cat := testContent(t)
	_, base := start(t, Config{Content: dir})
	path, _ := segmentPath(cat, 0, 0)
	for _, m := range []string{"POST", "PUT", "DELETE", "PATCH", "TRACE", "PURGE", "BREW"} {
		r := do(t, m, base+path, nil)
		if r.code != 405 || r.header.Get("Allow") != "GET, HEAD, OPTIONS" {
			t.Errorf("%s: %d Allow %q, want 405 with Allow: GET, HEAD, OPTIONS", m, r.code, r.header.Get("Allow"))
		}
	}
	// OPTIONS is a browser's preflight: 204, CORS headers, and never a body.
	if r := do(t, "OPTIONS", base+path, nil); r.code != 204 || r.header.Get("Allow") != "GET, HEAD, OPTIONS" || r.header.Get("Access-Control-Allow-Origin") != "*" || len(r.body) != 0 {
		t.Errorf("OPTIONS: %d Allow %q, Access-Control-Allow-Origin %q, %d bytes; want 204, GET, HEAD, OPTIONS, *, none",
			r.code, r.header.Get("Allow"), r.header.Get("Access-Control-Allow-Origin"), len(r.body))
	}
}

func TestAdminEndpointsAndMetrics(t *testing.T) {
	dir, cat := testContent(t)
	s, base := start(t, Config{Content: dir})
	path, seg := segmentPath(cat, 0, 0)
	do(t, "GET", base+path, nil)
	do(t, "GET", base+"/vod/nope", nil)
	for _, p := range []string{"/healthz", "/readyz", "/debug/pprof/"} {
		if r := do(t, "GET", base+p, nil); r.code != 200 {
			t.Errorf("GET %s: %d", p, r.code)
		}
	}
	m := string(do(t, "GET", base+"/metrics", nil).body)
	for _, want := range []string{
		`edgecdn_origin_requests_total{kind="segment",code="200"} 1`,
		`edgecdn_origin_requests_total{kind="other",code="404"} 1`,
		fmt.Sprintf(`edgecdn_origin_sent_bytes_total{kind="segment"} %d`, seg.Size),
		`edgecdn_origin_request_duration_seconds_count{kind="segment"} 1`,
		`edgecdn_origin_titles 1`,
		`go_goroutines`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	s.stopping.Store(true) // what Shutdown sets first
	if r := do(t, "GET", base+"/readyz", nil); r.code != 503 {
		t.Errorf("readyz while stopping: %d, want 503", r.code)
	}
	s.stopping.Store(false)
}

func TestVerify(t *testing.T) {
	src, cat := testContent(t)
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	path, seg := segmentPath(cat, 0, 1)
	file := filepath.Join(dir, strings.TrimPrefix(path, "/vod/"))
	b, _ := os.ReadFile(file)
	b[1000] ^= 0xff // same size, different bytes
	os.WriteFile(file, b, 0o644)

	// Without --verify (and not preloaded) the origin serves the file under the catalog's ETag,
	// so an edge checking bodies against ETags refuses it.
	_, base := start(t, Config{Content: dir, PreloadBytes: 1})
	r := do(t, "GET", base+path, nil)
	if r.code != 200 || r.header.Get("ETag") != `"`+seg.SHA256+`"` {
		t.Errorf("unverified: %d ETag %s", r.code, r.header.Get("ETag"))
	}
	// With --verify the damaged file is not served at all; the others are.
	_, base = start(t, Config{Content: dir, Verify: true})
	if r := do(t, "GET", base+path, nil); r.code != 404 {
		t.Errorf("verified, damaged segment: %d, want 404", r.code)
	}
	other, _ := segmentPath(cat, 0, 0)
	if r := do(t, "GET", base+other, nil); r.code != 200 {
		t.Errorf("verified, intact segment: %d, want 200", r.code)
	}
}

func TestNewErrors(t *testing.T) {
	f := filepath.Join(t.TempDir(), "file")
	os.WriteFile(f, nil, 0o644)
	for _, cfg := range []Config{{}, {Content: "/nonexistent/edgecdn"}, {Content: f}} {
		cfg.Logger = quiet
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
}

// TestGracefulShutdown: a response in flight when shutdown starts arrives whole. The file is
// larger than the sockets' buffers can hold, so the server is still writing when shutdown starts.
func TestGracefulShutdown(t *testing.T) {
	src, _ := testContent(t)
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), 4<<20) // 64 MiB
	os.MkdirAll(filepath.Join(dir, "big", "r"), 0o755)
	if err := os.WriteFile(filepath.Join(dir, "big", "r", "big.ts"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Content: dir, Logger: quiet, PreloadBytes: 1})
	if err != nil {
		t.Fatal(err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()

	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET /vod/big/r/big.ts HTTP/1.1\r\nHost: x\r\n\r\n")
	first := make([]byte, 1)
	if _, err := io.ReadFull(c, first); err != nil {
		t.Fatal(err)
	}
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		shut <- s.Shutdown(ctx)
	}()
	// Wait until the server no longer accepts connections, then read the rest.
	deadline := time.Now().Add(5 * time.Second)
	for {
		nc, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			break
		}
		nc.Close()
		if time.Now().After(deadline) {
			t.Fatal("server still accepting 5 s after Shutdown began")
		}
		time.Sleep(time.Millisecond)
	}
	c.SetDeadline(time.Now().Add(20 * time.Second))
	br := bufio.NewReader(io.MultiReader(bytes.NewReader(first), c))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil || !bytes.Equal(body, big) {
		t.Fatalf("response during shutdown: %d of %d body bytes, %v", len(body), len(big), err)
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if err := <-done; err != nil {
		t.Errorf("Serve: %v", err)
	}
}
