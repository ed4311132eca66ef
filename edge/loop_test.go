package edge

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"edgecdn/internal/evloop"
	"edgecdn/internal/harness"
)

// TestEnginesAnswerAlike sends the same raw requests to an edge of each engine in front of the
// same origin and finds the same answers (status, every header but Date, body) and the same
// connection handling: hits the event loop answers itself (GET, HEAD, a query, Connection:
// close, an Origin), the requests that visit the fasthttp server one at a time (a miss, a
// range, a precondition, a peer's hop, the probes and admin paths, a bad path), pipelined
// mixes of both, and the connections handed over for good (HTTP/1.0, POST, OPTIONS, a bad
// version, no Host or a malformed one, obs-fold, an oversized head).
func TestEnginesAnswerAlike(t *testing.T) {
	o := newFakeOrigin(t)
	seg := randomBytes(200_000, 7)
	o.put("/vod/t/a.ts", &fakeObject{body: seg, cacheControl: "public, max-age=3600"})
	o.put("/vod/t/p.m3u8", &fakeObject{body: []byte("#EXTM3U\n#EXT-X-VERSION:3\n"), cacheControl: "max-age=60"})
	for i := range 4 {
		o.put(fmt.Sprintf("/vod/t/m%d.ts", i), &fakeObject{body: randomBytes(50_000, uint64(i)), cacheControl: "max-age=60"})
	}
	const etag = "If-None-Match: \"nope\"\r\n"
	cases := []struct {
		name  string
		raw   string
		heads []bool
	}{
		{"get", "GET /vod/t/a.ts HTTP/1.1\r\nHost: x\r\n\r\n", []bool{false}},
		{"head", "HEAD /vod/t/a.ts HTTP/1.1\r\nHost: x\r\n\r\n", []bool{true}},
		{"query", "GET /vod/t/p.m3u8?session=1&x=%20 HTTP/1.1\r\nHost: x\r\nOrigin: https://player.example\r\n\r\n", []bool{false}},
		{"other-origin", "GET /vod/t/p.m3u8 HTTP/1.1\r\nHost: x\r\nOrigin: https://evil.example\r\n\r\n", []bool{false}},
		{"close", "GET /vod/t/a.ts HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", []bool{false}},
		{"range", "GET /vod/t/a.ts HTTP/1.1\r\nHost: x\r\nRange: bytes=10-99\r\n\r\n", []bool{false}},
		{"precondition", "GET /vod/t/a.ts HTTP/1.1\r\nHost: x\r\n" + etag + "\r\n", []bool{false}},
		{"miss-then-hit", "GET /vod/t/m0.ts HTTP/1.1\r\nHost: x\r\n\r\nGET /vod/t/m0.ts HTTP/1.1\r\nHost: x\r\n\r\n", []bool{false, false}},
		{"pipelined", "GET /vod/t/a.ts HTTP/1.1\r\nHost: x\r\nRange: bytes=0-9\r\n\r\nHEAD /vod/t/a.ts HTTP/1.1\r\nHost: x\r\n\r\nGET /vod/t/m1.ts HTTP/1.1\r\nHost: x\r\n\r\nGET /vod/t/p.m3u8 HTTP/1.1\r\nHost: x\r\n\r\nGET /vod/t/none HTTP/1.1\r\nHost: x\r\n\r\nGET /vod/t/a.ts HTTP/1.1\r\nHost: x\r\n\r\n", []bool{false, true, false, false, false, false}},
		{"miss-close", "GET /vod/t/m2.ts HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET /vod/t/a.ts HTTP/1.1\r\nHost: x\r\n\r\n", []bool{false}},
		{"head-miss", "HEAD /vod/t/m3.ts HTTP/1.1\r\nHost: x\r\n\r\nGET /vod/t/a.ts HTTP/1.1\r\nHost: x\r\n\r\n", []bool{true, false}},
		{"hop", "GET /vod/t/a.ts HTTP/1.1\r\nHost: x\r\nX-Edgecdn-Hop: 1\r\n\r\n", []bool{false}},
		{"probes", "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /readyz HTTP/1.1\r\nHost: x\r\n\r\nGET /cluster HTTP/1.1\r\nHost: x\r\n\r\nGET /admin/purge HTTP/1.1\r\nHost: x\r\n\r\n", []bool{false, false, false, false}},
		{"bad-path", "GET /vod/../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\nGET /vod/t/a.ts HTTP/1.1\r\nHost: x\r\n\r\n", []bool{false, false}},
		{"http10", "GET /vod/t/a.ts HTTP/1.0\r\n\r\n", []bool{false}},
		{"post", "POST /vod/t/a.ts HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc", []bool{false}},
		{"options", "OPTIONS /vod/t/a.ts HTTP/1.1\r\nHost: x\r\nOrigin: https://player.example\r\nAccess-Control-Request-Method: GET\r\n\r\n", []bool{false}},
		{"bad-version", "GET /vod/t/a.ts HTTP/2.0\r\nHost: x\r\n\r\n", []bool{false}},
		{"no-host", "GET /vod/t/a.ts HTTP/1.1\r\nX-A: 1\r\n\r\n", []bool{false}},
		{"bad-host", "GET /vod/t/a.ts HTTP/1.1\r\nHost: a b\r\n\r\n", []bool{false}},
		{"obs-fold", "GET /vod/t/a.ts HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n  2\r\n\r\n", []bool{false}},
		{"long-head", "GET /vod/t/a.ts HTTP/1.1\r\nHost: x\r\nX-A: " + strings.Repeat("a", 9000) + "\r\n\r\n", []bool{false}},
	}
	// Age depends on when each edge filled, CMSD-Dynamic on its load: both are only said to be
	// there.
	vary := regexp.MustCompile(`(?m)^(Age|Cmsd-Dynamic): .*$`)
	for _, origins := range [][]string{nil, {"https://player.example"}} {
		answers := map[string][2]string{}
		for i, engine := range []string{evloop.EngineGoroutines, evloop.EngineLoop} {
			s, base := startEdge(t, Config{Origins: []string{o.url()}, ProbeInterval: -1, Engine: engine, CORSOrigins: origins})
			addr := strings.TrimPrefix(base, "http://")
			for _, p := range []string{"/vod/t/a.ts", "/vod/t/p.m3u8"} {
				if r := get(t, base+p); r.code != 200 {
					t.Fatalf("%s: %d %v", p, r.code, r.err) // a miss: the cases' GETs of it are hits
				}
			}
			got := make([]string, len(cases))
			var wg sync.WaitGroup
			for k, tc := range cases {
				wg.Add(1)
				go func() {
					defer wg.Done()
					text, closed := harness.RawExchange(t, addr, tc.raw, tc.heads...)
					got[k] = vary.ReplaceAllString(text, "$1: present") + "closed " + strconv.FormatBool(closed)
				}()
			}
			wg.Wait()
			if engine == evloop.EngineLoop && runtime.GOOS == "linux" {
				// The loop handed over the connections of the last eight cases and nothing
				// else; it answered the hits itself.
				if h := s.m.loopHandoffs.Get(); h != 8 {
					t.Errorf("origins %v: the event loop handed %d connections to fasthttp, want 8", origins, h)
				}
				if v := s.m.loopVisits.Get(); v < 15 {
					t.Errorf("origins %v: %d requests visited fasthttp, want at least 15", origins, v)
				}
			}
			for k, tc := range cases {
				a := answers[tc.name]
				a[i] = got[k]
				answers[tc.name] = a
			}
		}
		for _, tc := range cases {
			a := answers[tc.name]
			if a[0] != a[1] {
				t.Errorf("origins %v, %s: goroutines answered\n%s\nthe event loop\n%s", origins, tc.name, a[0], a[1])
			}
		}
	}
}

// TestLoopShutdown: a graceful shutdown closes idle keep-alive connections and returns nil; a
// shutdown whose context is already done (a crash, as the demo makes it) returns at once with
// an error wrapping the context's while a miss still visits the fasthttp server, waiting on
// the origin. Either way Serve returns and the port refuses new connections.
func TestLoopShutdown(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the event loop engine is Linux only")
	}
	o := newFakeOrigin(t)
	gate := make(chan struct{})
	defer close(gate)
	o.put("/vod/t/slow.ts", &fakeObject{body: randomBytes(100_000, 3), cacheControl: "max-age=60", gate: gate})
	o.put("/vod/t/a.ts", &fakeObject{body: randomBytes(1000, 4), cacheControl: "max-age=60"})
	for _, graceful := range []bool{true, false} {
		s, err := New(Config{Origins: []string{o.url()}, ProbeInterval: -1, Engine: evloop.EngineLoop, Name: "edge-test", Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		served := make(chan error, 1)
		go func() { served <- s.Serve(ln) }()
		addr := ln.Addr().String()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		path := "/vod/t/a.ts"
		if !graceful {
			path = "/vod/t/slow.ts"
		}
		io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n")
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		if graceful {
			// The miss visited fasthttp; the hit that follows on the same connection is the
			// loop's, which leaves the connection idle in the loop.
			io.Copy(io.Discard, resp.Body)
			io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n")
			if resp, err = http.ReadResponse(br, nil); err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			if v, h := s.m.loopVisits.Get(), s.m.loopHits.Get(); v != 1 || h != 1 {
				t.Fatalf("visits %d, loop hits %d: want 1 and 1", v, h)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if !graceful {
			cancel()
		}
		start := time.Now()
		err = s.Shutdown(ctx)
		cancel()
		switch {
		case graceful && err != nil:
			t.Errorf("graceful shutdown: %v", err)
		case !graceful && !errors.Is(err, context.Canceled):
			t.Errorf("killed: Shutdown returned %v, want an error wrapping context.Canceled", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("graceful %v: shutdown took %v", graceful, d)
		}
		select {
		case <-served:
		case <-time.After(5 * time.Second):
			t.Fatalf("graceful %v: Serve did not return after Shutdown", graceful)
		}
		if graceful {
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := br.ReadByte(); err != io.EOF {
				t.Errorf("the idle connection was not closed: %v", err)
			}
		}
		if c2, err := net.DialTimeout("tcp", addr, 2*time.Second); err == nil {
			c2.Close()
			t.Errorf("graceful %v: the port still accepts connections after Shutdown", graceful)
		}
	}
}

// TestLoopSlowReaderAndComeback: on one connection, a miss visits the fasthttp server and the
// connection comes back to the loop, which then answers hits itself, one of 3 MB to a client
// whose small receive buffer makes the loop write it in many pieces as the socket drains, and
// a pipelined pair behind it; every body arrives whole.
func TestLoopSlowReaderAndComeback(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the event loop engine is Linux only")
	}
	o := newFakeOrigin(t)
	big, small := randomBytes(3<<20, 11), randomBytes(10_000, 12)
	o.put("/vod/t/big.ts", &fakeObject{body: big, cacheControl: "max-age=60"})
	o.put("/vod/t/small.ts", &fakeObject{body: small, cacheControl: "max-age=60"})
	s, base := startEdge(t, Config{Origins: []string{o.url()}, ProbeInterval: -1, Engine: evloop.EngineLoop})
	if r := get(t, base+"/vod/t/big.ts"); r.code != 200 { // cached before the slow client comes
		t.Fatalf("fill: %d %v", r.code, r.err)
	}
	visits, hits := s.m.loopVisits.Get(), s.m.loopHits.Get()
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		rc.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		return nil
	}}
	c, err := d.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	br := bufio.NewReaderSize(c, 512)
	read := func(want []byte, cacheStatus string) {
		t.Helper()
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		var body []byte
		buf := make([]byte, 1000) // small reads: the loop meets a full socket again and again
		for {
			n, err := resp.Body.Read(buf)
			body = append(body, buf[:n]...)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(body, want) || resp.Header.Get("Cache-Status") != cacheStatus {
			t.Fatalf("%d bytes (want %d, equal %v), Cache-Status %q, want %q", len(body), len(want), bytes.Equal(body, want), resp.Header.Get("Cache-Status"), cacheStatus)
		}
	}
	io.WriteString(c, "GET /vod/t/small.ts HTTP/1.1\r\nHost: x\r\n\r\n")
	read(small, "edge-test; fwd=miss; stored")
	io.WriteString(c, "GET /vod/t/big.ts HTTP/1.1\r\nHost: x\r\n\r\n")
	read(big, "edge-test; hit")
	io.WriteString(c, "GET /vod/t/small.ts HTTP/1.1\r\nHost: x\r\n\r\nGET /vod/t/big.ts HTTP/1.1\r\nHost: x\r\n\r\n")
	read(small, "edge-test; hit")
	read(big, "edge-test; hit")
	if v, h := s.m.loopVisits.Get()-visits, s.m.loopHits.Get()-hits; v != 1 || h != 3 {
		t.Errorf("of the connection's 4 requests %d visited fasthttp and the loop answered %d, want 1 (the miss) and 3", v, h)
	}
}
