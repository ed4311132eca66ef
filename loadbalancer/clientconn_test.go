package loadbalancer

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"edgecdn/internal/httpx"
)

// TestClientConnectionWaits: a keep-alive client's connection whose response was written from
// inside the wait for its next request (httpx.ClientListener) serves a request sent at once, one sent
// after longer than the wait (httpx.NextRequestWait), pipelined requests sent in one write and in two,
// and a HEAD, in order and within deadlines; a shutdown is not held up by a connection waiting
// for its next request.
func TestClientConnectionWaits(t *testing.T) {
	e := newFakeEdge(t, "e1", []byte(strings.Repeat("p", 2000)))
	s, err := New(Config{Zone: "z", Upstreams: []string{e.addr()}, ProbeInterval: -1, Logger: quiet, Name: "lb-test"})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { s.Serve(ln); close(done) }()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	br := bufio.NewReader(c)
	get := "GET /vod/t/p.m3u8 HTTP/1.1\r\nHost: lb\r\n\r\n"
	read := func(what string, method string, want int) {
		t.Helper()
		req, _ := http.NewRequest(method, "/", nil)
		resp, err := http.ReadResponse(br, req)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || len(b) != want {
			t.Fatalf("%s: status %d, %d bytes, want 200 and %d", what, resp.StatusCode, len(b), want)
		}
	}
	timed := func(what string, within time.Duration, f func()) {
		t.Helper()
		t0 := time.Now()
		f()
		if d := time.Since(t0); d > within {
			t.Errorf("%s took %v, want under %v", what, d, within)
		}
	}
	// Timed in groups, with room for a loaded machine: a request that waited out the wait would
	// cost NextRequestWait each, more than the group's bound.
	timed("5 requests sent at once", 4*httpx.NextRequestWait, func() {
		for i := range 5 {
			io.WriteString(c, get)
			read("request "+string(rune('1'+i)), "GET", 2000)
		}
	})
	time.Sleep(httpx.NextRequestWait + 100*time.Millisecond) // past the wait: the connection goes on as before
	timed("a request after the wait, two pipelined in one write and a HEAD", 3*httpx.NextRequestWait, func() {
		io.WriteString(c, get)
		read("after the wait", "GET", 2000)
		io.WriteString(c, get+get)
		read("pipelined 1", "GET", 2000)
		read("pipelined 2", "GET", 2000)
		io.WriteString(c, "HEAD /vod/t/p.m3u8 HTTP/1.1\r\nHost: lb\r\n\r\n")
		read("HEAD", "HEAD", 0)
	})
	// In two writes: the second may arrive after the balancer read the first, and its
	// readiness be spent before the first response is written; the wait bounds that.
	timed("two pipelined requests in two writes", httpx.NextRequestWait+2*time.Second, func() {
		io.WriteString(c, get)
		io.WriteString(c, get)
		read("pipelined in two writes 1", "GET", 2000)
		read("pipelined in two writes 2", "GET", 2000)
	})
	io.WriteString(c, get) // leaves the connection waiting for its next request
	read("before the shutdown", "GET", 2000)
	t0 := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Errorf("shutdown: %v", err)
	}
	<-done
	if d := time.Since(t0); d > 2*time.Second+httpx.NextRequestWait {
		t.Errorf("shutdown took %v with a connection waiting for its next request", d)
	}
}

// TestConnectionCloseNotHeld: a response to a request with Connection: close is written and
// the connection closed at once, not after a wait for a next request.
func TestConnectionCloseNotHeld(t *testing.T) {
	e := newFakeEdge(t, "e1", []byte("ok"))
	_, base := startLB(t, Config{Zone: "z", Upstreams: []string{e.addr()}, ProbeInterval: -1})
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	t0 := time.Now()
	io.WriteString(c, "GET /vod/t/x.ts HTTP/1.1\r\nHost: lb\r\nConnection: close\r\n\r\n")
	b, err := io.ReadAll(c) // to the connection's close
	if err != nil || !strings.HasSuffix(string(b), "\r\n\r\nok") {
		t.Fatalf("%v: %q", err, b)
	}
	if d := time.Since(t0); d >= httpx.NextRequestWait {
		t.Errorf("closed after %v", d)
	}
}
