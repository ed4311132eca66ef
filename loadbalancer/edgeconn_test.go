package loadbalancer

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestBodiesThroughSplice: bodies of every size around the read buffer's (copied, partly
// copied and spliced, spliced) reach concurrent clients byte for byte, over few connections to
// the edge; a client that leaves in the middle of a body leaves no half-read connection in the
// pool; a chunked body (no Content-Length) comes through whole.
func TestBodiesThroughSplice(t *testing.T) {
	sizes := []int{0, 1, 2000, edgeReadBuffer - 300, edgeReadBuffer, edgeReadBuffer + 1, 100_000, 1_000_000, 3_000_001}
	bodies := map[string][]byte{}
	rng := rand.New(rand.NewPCG(2, 2))
	for _, n := range sizes {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		bodies["/vod/t/"+strconv.Itoa(n)+".ts"] = b
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns atomic.Int64
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/chunked" {
				for i := range 50 {
					fmt.Fprintf(w, "chunk %03d\n", i)
					w.(http.Flusher).Flush()
				}
				return
			}
			b, ok := bodies[r.URL.Path]
			if !ok {
				http.NotFound(w, r)
				return
			}
			w.Header().Set("Content-Length", strconv.Itoa(len(b)))
			w.Write(b)
		}),
		ConnState: func(_ net.Conn, st http.ConnState) {
			if st == http.StateNew {
				conns.Add(1)
			}
		},
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	_, base := startLB(t, Config{Zone: "z", Upstreams: []string{ln.Addr().String()}, ProbeInterval: -1})

	const clients, rounds = 8, 3
	var wg sync.WaitGroup
	errs := make(chan error, clients*rounds*len(sizes))
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				for i := range sizes {
					path := "/vod/t/" + strconv.Itoa(sizes[(i+c+r)%len(sizes)]) + ".ts"
					resp, err := client.Get(base + path)
					if err != nil {
						errs <- err
						continue
					}
					b, err := io.ReadAll(resp.Body)
					resp.Body.Close()
					if err != nil || resp.StatusCode != 200 || !bytes.Equal(b, bodies[path]) {
						errs <- fmt.Errorf("%s: status %d, %d bytes (want %d), %v", path, resp.StatusCode, len(b), len(bodies[path]), err)
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := conns.Load(); n > 2*clients {
		t.Errorf("%d connections to the edge for %d clients: not kept alive", n, clients)
	}

	// A client that reads 10 KB of 3 MB and leaves.
	addr := strings.TrimPrefix(base, "http://")
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(c, "GET /vod/t/3000001.ts HTTP/1.1\r\nHost: lb\r\n\r\n")
	if _, err := io.ReadFull(bufio.NewReader(c), make([]byte, 10_000)); err != nil {
		t.Fatal(err)
	}
	c.Close()
	for i := range 20 {
		path := "/vod/t/" + strconv.Itoa(sizes[i%len(sizes)]) + ".ts"
		r, b, err := get(t, base+path)
		if err != nil || r.StatusCode != 200 || !bytes.Equal(b, bodies[path]) {
			t.Fatalf("after a client left mid-body: %s: %v, %d bytes", path, err, len(b))
		}
	}

	var want strings.Builder
	for i := range 50 {
		fmt.Fprintf(&want, "chunk %03d\n", i)
	}
	r, b, err := get(t, base+"/chunked")
	if err != nil || r.StatusCode != 200 || string(b) != want.String() {
		t.Fatalf("chunked: %v %v %q", err, r, b)
	}
}

// TestStaleEdgeConnection: an edge that closes a keep-alive connection after each response
// (without saying so) costs no error: the balancer sends the request again on a new connection
// and ejects nothing.
func TestStaleEdgeConnection(t *testing.T) {
	var served atomic.Int64
	ln := rawEdge(t, false, func() bool { served.Add(1); return true })
	s, base := startLB(t, Config{Zone: "z", Upstreams: []string{ln.Addr().String()}, ProbeInterval: -1})
	for i := range 10 {
		r, b, err := get(t, base+"/vod/t/x.ts")
		if err != nil || r.StatusCode != 200 || string(b) != "ok" {
			t.Fatalf("request %d: %v %v %q", i, err, r, b)
		}
	}
	if n := served.Load(); n != 10 {
		t.Errorf("the edge served %d requests, want 10", n)
	}
	if l, _ := s.Healthy(); l != 1 {
		t.Errorf("the edge was ejected for closing idle connections")
	}
}

// TestRedirectMode: with Redirect, GET and HEAD get a 302 to an edge in service (round robin,
// never an ejected one), not to be cached; following it serves the object from the edge.
func TestRedirectMode(t *testing.T) {
	e1, e2 := newFakeEdge(t, "e1", []byte("one")), newFakeEdge(t, "e2", []byte("two"))
	s, base := startLB(t, Config{Zone: "z", Upstreams: []string{e1.addr(), e2.addr()}, ProbeInterval: -1, Redirect: true})
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }, Timeout: 10 * time.Second}
	seen := map[string]int{}
	for range 10 {
		r, err := noFollow.Get(base + "/vod/t/r/seg.ts?x=1")
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		loc := r.Header.Get("Location")
		if r.StatusCode != 302 || r.Header.Get("Cache-Control") != "no-store" || !strings.HasSuffix(loc, "/vod/t/r/seg.ts?x=1") {
			t.Fatalf("status %d, Location %q, Cache-Control %q", r.StatusCode, loc, r.Header.Get("Cache-Control"))
		}
		seen[strings.TrimSuffix(strings.TrimPrefix(loc, "http://"), "/vod/t/r/seg.ts?x=1")]++
	}
	if seen[e1.addr()] != 5 || seen[e2.addr()] != 5 {
		t.Errorf("redirects by edge: %v, want 5 each", seen)
	}
	if e1.count.Load()+e2.count.Load() != 0 {
		t.Errorf("the balancer forwarded requests in redirect mode")
	}
	r, b, err := get(t, base+"/vod/t/r/seg.ts")
	if err != nil || r.StatusCode != 200 || (string(b) != "one" && string(b) != "two") {
		t.Fatalf("following the redirect: %v %v %q", err, r, b)
	}
	s.eject(s.pool.Load().all[e1.addr()], "test")
	for range 4 {
		r, err := noFollow.Get(base + "/vod/t/r/seg.ts")
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if loc := r.Header.Get("Location"); !strings.Contains(loc, e2.addr()) {
			t.Fatalf("redirect to %q with e1 ejected", loc)
		}
	}
}

// TestHeaderTimeoutOnReusedConnection: the header timeout holds on a pooled connection whose
// deadlines an earlier request set (and which requests renew only when run down): an edge that
// answers the first requests and then sends nothing gets a 504 within the timeout, not later.
func TestHeaderTimeoutOnReusedConnection(t *testing.T) {
	var served atomic.Int64
	ln := rawEdge(t, true, func() bool { return served.Add(1) <= 3 }) // silent from the fourth request on
	const timeout = 400 * time.Millisecond
	_, base := startLB(t, Config{Zone: "z", Upstreams: []string{ln.Addr().String()}, ProbeInterval: -1, Attempts: 1, HeaderTimeout: timeout})
	for i := range 3 {
		r, b, err := get(t, base+"/vod/t/x.ts")
		if err != nil || r.StatusCode != 200 || string(b) != "ok" {
			t.Fatalf("request %d: %v %v %q", i, err, r, b)
		}
	}
	t0 := time.Now()
	r, _, err := get(t, base+"/vod/t/x.ts")
	took := time.Since(t0)
	if err != nil || r.StatusCode != 504 {
		t.Fatalf("a silent edge: %v %v, want 504", err, r)
	}
	if took < timeout-timeout/deadlineSlack-50*time.Millisecond || took > timeout+time.Second {
		t.Errorf("504 after %v with a header timeout of %v", took, timeout)
	}
}

// TestDeadlinesRenewedWhenRunDown: a request renews a connection's deadlines only when less
// than the timeout less its sixteenth is left, and then to the whole timeout.
func TestDeadlinesRenewedWhenRunDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			defer c.Close()
			io.Copy(io.Discard, c)
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ec := newEdgeConn(c.(*net.TCPConn))
	const timeout = 16 * time.Second
	t0 := time.Now()
	ec.setDeadlines(t0, timeout)
	if !ec.rdl.Equal(t0.Add(timeout)) || !ec.wdl.Equal(t0.Add(timeout)) {
		t.Fatalf("deadlines %v %v, want %v", ec.rdl, ec.wdl, t0.Add(timeout))
	}
	ec.setDeadlines(t0.Add(timeout/deadlineSlack-time.Millisecond), timeout)
	if !ec.rdl.Equal(t0.Add(timeout)) {
		t.Errorf("renewed with more than timeout-timeout/%d left", deadlineSlack)
	}
	t1 := t0.Add(timeout/deadlineSlack + time.Millisecond)
	ec.setDeadlines(t1, timeout)
	if !ec.rdl.Equal(t1.Add(timeout)) || !ec.wdl.Equal(t1.Add(timeout)) {
		t.Errorf("not renewed when run down: %v %v, want %v", ec.rdl, ec.wdl, t1.Add(timeout))
	}
	ec.setReadDeadline(t1.Add(2*timeout/deadlineSlack), timeout)
	if ec.rdl.Equal(t1.Add(timeout)) || !ec.wdl.Equal(t1.Add(timeout)) {
		t.Errorf("read deadline alone: %v %v", ec.rdl, ec.wdl)
	}
}

// TestLargeRequestBody: a request that does not fit the socket's send buffer at once (the edge
// reads it slowly) reaches the edge whole before its answer is read, on a new connection and on
// a pooled one.
func TestLargeRequestBody(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	got := make(chan int, 2)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		br := bufio.NewReaderSize(c, 1024)
		for range 2 {
			n := -1
			for {
				l, err := br.ReadString('\n')
				if err != nil {
					return
				}
				if v, ok := strings.CutPrefix(strings.ToLower(l), "content-length: "); ok {
					n, _ = strconv.Atoi(strings.TrimSpace(v))
				}
				if l == "\r\n" {
					break
				}
			}
			time.Sleep(50 * time.Millisecond) // the balancer's socket fills meanwhile
			m, _ := io.CopyN(io.Discard, br, int64(n))
			got <- int(m)
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	}()
	p := &edgeConns{addr: ln.Addr().String(), max: 4, dialTimeout: time.Second}
	defer p.close()
	body := bytes.Repeat([]byte("x"), 8<<20)
	for i := range 2 {
		r := acquireResponse()
		r.req.SetMethod("POST")
		r.req.SetRequestURI("/vod/t/r/seg.ts")
		r.req.SetHost("edge")
		r.req.SetContentLength(len(body))
		if err := r.exchange(p, time.Now(), body, false, false, 5*time.Second, 5*time.Second); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if n := <-got; n != len(body) {
			t.Fatalf("request %d: the edge got %d bytes of %d", i, n, len(body))
		}
		if c := r.h.StatusCode(); c != 200 || r.n != 2 || !r.buffered() {
			t.Fatalf("request %d: status %d, %d body bytes", i, c, r.n)
		}
		p2, _ := r.ec.br.Peek(2)
		if string(p2) != "ok" {
			t.Fatalf("request %d: body %q", i, p2)
		}
		r.ec.br.Discard(2)
		r.n = 0
		r.release()
	}
	p.mu.Lock()
	open := p.open
	p.mu.Unlock()
	if open != 1 {
		t.Errorf("%d connections to the edge, want the one reused", open)
	}
}

// rawEdge is an edge written by hand: it reads each request's head and answers "ok" when
// answer says so, keeping the connection for more requests when keepAlive (else it closes it
// after one response, without saying so).
func rawEdge(t *testing.T, keepAlive bool, answer func() bool) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				br := bufio.NewReader(c)
				for {
					for {
						l, err := br.ReadString('\n')
						if err != nil {
							return
						}
						if l == "\r\n" {
							break
						}
					}
					if answer() {
						io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
					}
					if !keepAlive {
						return
					}
				}
			}()
		}
	}()
	return ln
}
