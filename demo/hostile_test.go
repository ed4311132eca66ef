package demo

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"edgecdn/origin/packager"
)

// rawExchange sends a request exactly as written and reads one response (status, headers, body).
func rawExchange(t *testing.T, addr, req string) (int, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		return 0, ""
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, "" // the server closed the connection: an acceptable answer to garbage
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	return resp.StatusCode, string(b)
}

// TestHostileInput sends the same table of hostile requests to an origin, an edge, a zone
// balancer and the steering service: each gets the right 4xx (or a closed connection), no byte
// from outside the content, and afterwards every server still answers a normal request and no
// edge has cached anything wrong.
func TestHostileInput(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the whole CDN")
	}
	dir := t.TempDir()
	ctx := context.Background()
	if _, err := packager.Package(ctx, packager.Config{Out: dir, Titles: 1, Duration: 8 * time.Second, Ladder: "small"}); err != nil {
		t.Fatal(err)
	}
	secret := "SECRET-" + fmt.Sprint(time.Now().UnixNano())
	os.WriteFile(filepath.Join(filepath.Dir(dir), "secret.txt"), []byte(secret), 0o644)
	st, err := Start(ctx, StackConfig{Content: dir, Zones: []string{"zone-a"}, EdgesPerZone: 1, Origins: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Stop(ctx)
	seg := "/vod/title-000/400k/seg00000.m4s"
	servers := map[string]struct{ addr, normal string }{
		"origin":   {strings.TrimPrefix(st.Origins[0], "http://"), seg},
		"edge":     {strings.TrimPrefix(st.Edges[0].URL, "http://"), seg},
		"balancer": {st.LBs["zone-a"], seg},
		"steering": {strings.TrimPrefix(st.Steering, "http://"), "/steer/title-000?zone=zone-a"},
	}
	req := func(target string, extra ...string) string {
		return "GET " + target + " HTTP/1.1\r\nHost: cdn\r\n" + strings.Join(extra, "") + "Connection: close\r\n\r\n"
	}
	bad := []int{400, 404, 0}
	tests := []struct {
		name  string
		raw   string
		codes []int // acceptable statuses; 0 = connection closed
	}{
		{"traversal", req("/vod/../../etc/passwd"), bad},
		{"traversal to the secret", req("/vod/../secret.txt"), bad},
		{"percent-encoded traversal", req("/vod/%2e%2e/%2e%2e/etc/passwd"), bad},
		{"double-encoded traversal", req("/vod/%252e%252e/%252e%252e/etc/passwd"), bad},
		{"backslash traversal", req("/vod/..\\..\\etc\\passwd"), bad},
		{"encoded backslash", req("/vod/..%5c..%5cetc%5cpasswd"), bad},
		{"NUL", req("/vod/title-000/master.m3u8%00.ts"), bad},
		{"encoded newline", req("/vod/a%0d%0aSet-Cookie:x=1"), bad},
		{"encoded query", req("/vod/title-000/master.m3u8%3Fx=1"), bad},
		{"empty segment", req("/vod//title-000/master.m3u8"), bad},
		{"overlong URI", req("/vod/" + strings.Repeat("a", 10000)), []int{400, 404, 414, 431, 0}},
		{"oversized header", req(seg, "X-Big: "+strings.Repeat("b", 16000)+"\r\n"), []int{400, 431, 0}},
		{"too many headers", req(seg, strings.Repeat("X-H: v\r\n", 1000)), []int{400, 431, 0}},
		{"smuggling: CL and TE", "GET " + seg + " HTTP/1.1\r\nHost: cdn\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /x HTTP/1.1\r\n\r\n", []int{400, 200, 404, 405, 0}},
		{"bad request line", "GARBAGE\r\n\r\n", []int{400, 0}},
		{"HTTP/0.9", "GET " + seg + "\r\n", []int{400, 505, 0}},
		{"odd method", "BREW " + seg + " HTTP/1.1\r\nHost: cdn\r\nConnection: close\r\n\r\n", []int{400, 404, 405, 0}},
		{"TRACE", "TRACE " + seg + " HTTP/1.1\r\nHost: cdn\r\nConnection: close\r\n\r\n", []int{400, 404, 405, 0}},
	}
	for name, srv := range servers {
		for _, tt := range tests {
			code, body := rawExchange(t, srv.addr, tt.raw)
			if !slices.Contains(tt.codes, code) {
				t.Errorf("%s, %s: status %d, want one of %v", name, tt.name, code, tt.codes)
			}
			if strings.Contains(body, secret) || strings.Contains(body, "root:") {
				t.Errorf("%s, %s: leaked bytes from outside the content", name, tt.name)
			}
			// The server still answers a normal request.
			if code, _ := rawExchange(t, srv.addr, req(srv.normal)); code != 200 {
				t.Fatalf("%s after %s: normal request answered %d", name, tt.name, code)
			}
		}
	}
	// Range games and cache poisoning at the edge and through the balancer.
	for _, name := range []string{"edge", "balancer"} {
		addr := servers[name].addr
		for _, c := range []struct {
			what  string
			hdr   string
			codes []int
		}{
			{"invalid range", "Range: bytes=abc\r\n", []int{200}},
			{"reversed range", "Range: bytes=900-100\r\n", []int{200}},
			{"overlapping ranges", "Range: bytes=0-99,50-149\r\n", []int{206}},
			{"too many ranges", "Range: bytes=" + strings.TrimSuffix(strings.Repeat("1-2,", 100), ",") + "\r\n", []int{200}},
			{"unsatisfiable range", "Range: bytes=999999999-\r\n", []int{416}},
			{"Host header games", "X-Forwarded-Host: evil.example\r\n", []int{200}},
		} {
			if code, _ := rawExchange(t, addr, req(seg, c.hdr)); !slices.Contains(c.codes, code) {
				t.Errorf("%s, %s: %d, want %v", name, c.what, code, c.codes)
			}
		}
		for _, q := range []string{"?v=<script>", "?cachebuster=1", "?" + strings.Repeat("q", 2000)} {
			if code, _ := rawExchange(t, addr, req(seg+q)); code != 200 {
				t.Errorf("%s, query %.20q: %d", name, q, code)
			}
		}
	}
	// Nothing wrong was cached: the edge holds only real objects, and the segment once.
	s := st.Edges[0].Server.Stats()
	if s.OriginFetches > 2 {
		t.Errorf("the edge fetched from the origin %d times for one segment (and its playlists at most): hostile requests split the cache", s.OriginFetches)
	}
	resp, err := http.Get(st.Edges[0].URL + seg)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want, _ := os.ReadFile(filepath.Join(dir, "title-000", "400k", "seg00000.m4s"))
	if resp.StatusCode != 200 || string(b) != string(want) {
		t.Errorf("after the hostile table the segment is %d, %d bytes (want 200, %d bytes)", resp.StatusCode, len(b), len(want))
	}
}
