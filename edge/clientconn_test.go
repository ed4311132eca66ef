package edge

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"edgecdn/internal/httpx"
)

// TestHitsOnOneConnection: hits of every kind on one keep-alive connection, whose small
// responses are written from inside the wait for the next request (httpx.ClientListener) and
// whose large ones leave by writev: each answer whole and in order, a request sent at once
// answered within the wait, one sent after it too, pipelined requests too.
func TestHitsOnOneConnection(t *testing.T) {
	o := newFakeOrigin(t)
	small, large := randomBytes(2000, 1), randomBytes(300_000, 2)
	o.put("/vod/t/r/index.m3u8", &fakeObject{body: small, cacheControl: "max-age=3600"})
	o.put("/vod/t/r/seg.ts", &fakeObject{body: large, cacheControl: "max-age=3600"})
	_, base := startEdge(t, Config{Origins: []string{o.url()}, ProbeInterval: -1})
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	br := bufio.NewReader(c)
	req := func(method, path string) string {
		return method + " " + path + " HTTP/1.1\r\nHost: edge\r\n\r\n"
	}
	read := func(what, method string, want []byte) {
		t.Helper()
		r, _ := http.NewRequest(method, "/", nil)
		resp, err := http.ReadResponse(br, r)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !bytes.Equal(b, want) {
			t.Fatalf("%s: status %d, %d bytes, want 200 and %d", what, resp.StatusCode, len(b), len(want))
		}
	}
	// The misses that fill the cache.
	io.WriteString(c, req("GET", "/vod/t/r/index.m3u8"))
	read("miss", "GET", small)
	io.WriteString(c, req("GET", "/vod/t/r/seg.ts"))
	read("miss", "GET", large)
	t0 := time.Now()
	for i := range 20 {
		if i%2 == 0 {
			io.WriteString(c, req("GET", "/vod/t/r/index.m3u8"))
			read("small hit", "GET", small)
		} else {
			io.WriteString(c, req("GET", "/vod/t/r/seg.ts"))
			read("large hit", "GET", large)
		}
	}
	if d := time.Since(t0); d > 20*httpx.NextRequestWait {
		t.Errorf("20 hits took %v", d)
	}
	time.Sleep(httpx.NextRequestWait + 100*time.Millisecond) // past the wait
	t0 = time.Now()
	io.WriteString(c, req("GET", "/vod/t/r/index.m3u8"))
	read("after the wait", "GET", small)
	io.WriteString(c, req("HEAD", "/vod/t/r/index.m3u8"))
	read("HEAD", "HEAD", nil)
	io.WriteString(c, req("GET", "/vod/t/r/index.m3u8")+req("GET", "/vod/t/r/seg.ts")+req("GET", "/vod/t/r/index.m3u8"))
	read("pipelined 1", "GET", small)
	read("pipelined 2", "GET", large)
	read("pipelined 3", "GET", small)
	// Room for a loaded machine; five requests that each waited out the wait would take more.
	if d := time.Since(t0); d > 4*httpx.NextRequestWait {
		t.Errorf("a request after the wait, a HEAD and three pipelined took %v", d)
	}
}
