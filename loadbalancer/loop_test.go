package loadbalancer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"edgecdn/internal/harness"
)

// TestEnginesAnswerAlike sends the same raw requests through a balancer of each engine in front
// of the same edge and finds the same answers (status, every header but Date, body) and the
// same connection handling: hot-path GETs and HEADs, bodies within and beyond the first read,
// ranges, a 304, a chunked answer, pipelined requests, Connection: close, a prior
// X-Forwarded-For, a CORS allowlist, and what the event loop hands to the fasthttp server
// (HTTP/1.0, POST, OPTIONS, probes, admin paths, a malformed head).
func TestEnginesAnswerAlike(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 200_000/16)
	edge := newFakeEdge(t, "e1", big)
	chunked := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/vod/chunked") {
			for i := range 20 {
				fmt.Fprintf(w, "chunk %03d\n", i)
				w.(http.Flusher).Flush()
			}
			return
		}
		w.Header().Set("X-Seen-XFF", r.Header.Get("X-Forwarded-For"))
		w.Header().Set("X-Seen-Via", r.Header.Get("Via"))
		w.Header().Set("X-Seen-Connection", r.Header.Get("Connection")+"/"+r.Header.Get("Keep-Alive"))
		w.Header().Set("Access-Control-Allow-Origin", "https://edge.example")
		w.Header().Set("Vary", "Accept-Encoding")
		w.Header().Set("Content-Length", "5")
		io.WriteString(w, "hello")
	})}
	cln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go chunked.Serve(cln)
	t.Cleanup(func() { chunked.Close() })

	cases := []struct {
		name  string
		raw   string
		heads []bool
	}{
		{"get", "GET /vod/t/a.ts HTTP/1.1\r\nHost: x\r\n\r\n", []bool{false}},
		{"head", "HEAD /vod/t/a.ts HTTP/1.1\r\nHost: x\r\n\r\n", []bool{true}},
		{"range", "GET /vod/t/a.ts HTTP/1.1\r\nHost: x\r\nRange: bytes=10-99\r\n\r\n", []bool{false}},
		{"pipelined", "GET /vod/t/a.ts HTTP/1.1\r\nHost: x\r\nRange: bytes=0-9\r\n\r\nHEAD /vod/t/a.ts HTTP/1.1\r\nHost: x\r\n\r\nGET /vod/t/a.ts HTTP/1.1\r\nHost: x\r\n\r\n", []bool{false, true, false}},
		{"close", "GET /vod/t/a.ts HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", []bool{false}},
		{"headers", "GET /vod/h HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 10.1.2.3\r\nKeep-Alive: 300\r\nProxy-Connection: keep-alive\r\nOrigin: https://player.example\r\n\r\n", []bool{false}},
		{"chunked", "GET /vod/chunked HTTP/1.1\r\nHost: x\r\n\r\nGET /vod/h HTTP/1.1\r\nHost: x\r\n\r\n", []bool{false, false}},
		{"http10", "GET /vod/t/a.ts HTTP/1.0\r\n\r\n", []bool{false}},
		{"post", "POST /vod/h HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc", []bool{false}},
		{"options", "OPTIONS /vod/h HTTP/1.1\r\nHost: x\r\nOrigin: https://player.example\r\nAccess-Control-Request-Method: GET\r\n\r\n", []bool{false}},
		{"healthz", "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", []bool{false}},
		{"admin", "GET /vod/../cluster HTTP/1.1\r\nHost: x\r\n\r\nGET /cluster HTTP/1.1\r\nHost: x\r\n\r\n", []bool{false, false}},
		{"bad-version", "GET /vod/h HTTP/2.0\r\nHost: x\r\n\r\n", []bool{false}},
		{"no-host", "GET /vod/h HTTP/1.1\r\nX-A: 1\r\n\r\n", []bool{false}},
		{"two-hosts", "GET /vod/h HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", []bool{false}},
		{"obs-fold", "GET /vod/h HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n  2\r\n\r\n", []bool{false}},
		{"long-head", "GET /vod/h HTTP/1.1\r\nHost: x\r\nX-A: " + strings.Repeat("a", 9000) + "\r\n\r\n", []bool{false}},
	}
	for _, origins := range [][]string{nil, {"https://player.example"}} {
		answers := map[string][2]string{}
		for i, engine := range []string{EngineGoroutines, EngineLoop} {
			s1, base := startLB(t, Config{Zone: "z", Upstreams: []string{edge.addr()}, ProbeInterval: -1, Engine: engine, CORSOrigins: origins})
			s2, cbase := startLB(t, Config{Zone: "z", Upstreams: []string{cln.Addr().String()}, ProbeInterval: -1, Engine: engine, CORSOrigins: origins})
			// Each case on its own connection, all at once: a connection left open is known
			// so only after rawExchange's wait.
			got := make([]string, len(cases))
			var wg sync.WaitGroup
			for k, tc := range cases {
				addr := strings.TrimPrefix(base, "http://")
				if strings.Contains(tc.raw, "/vod/h ") || strings.Contains(tc.raw, "/vod/chunked") {
					addr = strings.TrimPrefix(cbase, "http://")
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					text, closed := harness.RawExchange(t, addr, tc.raw, tc.heads...)
					got[k] = text + "closed " + strconv.FormatBool(closed)
				}()
			}
			wg.Wait()
			// The event loop served the hot path itself: it handed the fasthttp server the
			// connections of the last ten cases and the chunked answer, nothing else.
			if h := s1.m.handoffs.Get() + s2.m.handoffs.Get(); engine == EngineLoop && runtime.GOOS == "linux" && h != 11 {
				t.Errorf("origins %v: the event loop handed %d connections to fasthttp, want 11", origins, h)
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

// TestLoopKillDropsAndRefuses: a shutdown whose context is already done (a crash, as the demo's
// KillLB makes it) returns at once with an error wrapping the context's, the request waiting on
// an edge that never answers ends with the connection, and the port refuses new connections;
// a graceful shutdown with nothing under way returns nil.
func TestLoopKillDropsAndRefuses(t *testing.T) {
	hang, err := net.Listen("tcp", "127.0.0.1:0") // accepts, reads, never answers
	if err != nil {
		t.Fatal(err)
	}
	defer hang.Close()
	go func() {
		for {
			c, err := hang.Accept()
			if err != nil {
				return
			}
			go io.Copy(io.Discard, c)
		}
	}()
	for _, graceful := range []bool{false, true} {
		s, err := New(Config{Zone: "z", Upstreams: []string{hang.Addr().String()}, ProbeInterval: -1, Engine: EngineLoop, Name: "lb-test", Logger: quiet})
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
		if _, _, err := get(t, "http://"+addr+"/healthz"); err != nil {
			t.Fatal(err)
		}
		var c net.Conn
		if !graceful {
			if c, err = net.Dial("tcp", addr); err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			io.WriteString(c, "GET /vod/t/a.ts HTTP/1.1\r\nHost: x\r\n\r\n")
			// The request is under way once the loop holds a connection to the edge.
			deadline := time.Now().Add(10 * time.Second)
			for s.pool.Load().all[hang.Addr().String()].conns.openCount() == 0 {
				if time.Now().After(deadline) {
					t.Fatal("the request never reached the edge")
				}
				time.Sleep(5 * time.Millisecond)
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
			t.Errorf("shutdown took %v", d)
		}
		select {
		case <-served:
		case <-time.After(5 * time.Second):
			t.Fatal("Serve did not return after Shutdown")
		}
		if c != nil {
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.ReadAll(c); err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
				t.Error("the waiting client's connection was left open")
			}
		}
		if c2, err := net.DialTimeout("tcp", addr, 2*time.Second); err == nil {
			c2.Close()
			t.Errorf("graceful %v: the port still accepts connections after Shutdown", graceful)
		}
	}
}
