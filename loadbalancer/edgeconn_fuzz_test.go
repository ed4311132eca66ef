package loadbalancer

import (
	"bufio"
	"io"
	"net"
	"testing"
	"time"
)

// FuzzEdgeResponse: whatever bytes an edge answers with (then closing the connection), reading
// the head, the body's length and the body itself ends without a panic or a hang, and a body
// that is passed on whole has exactly the length the head announced.
func FuzzEdgeResponse(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
		"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nshort",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		"HTTP/1.1 200 OK\r\n\r\nuntil the end",
		"HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999\r\n\r\nx",
		"HTTP/1.1 200 OK\r\nContent-Length: -3\r\n\r\n",
		"garbage\r\n\r\n",
		"",
	} {
		f.Add([]byte(s), false)
	}
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"), true)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { ln.Close() })
	f.Fuzz(func(t *testing.T, answer []byte, head bool) {
		p := &edgeConns{addr: ln.Addr().String(), max: 4, dialTimeout: time.Second}
		done := make(chan struct{})
		// Accept gives up when the client never connects (a dial refused when loopback runs out
		// of ephemeral ports at thousands of connections a second), so an input cannot hang.
		ln.(*net.TCPListener).SetDeadline(time.Now().Add(2 * time.Second))
		go func() {
			defer close(done)
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(2 * time.Second))
			br := bufio.NewReader(c)
			for { // the request head
				l, err := br.ReadString('\n')
				if err != nil || l == "\r\n" {
					break
				}
			}
			c.Write(answer)
		}()
		r := acquireResponse()
		r.req.SetRequestURI("/vod/t/r/seg.ts")
		r.req.SetHost("edge")
		err := r.exchange(p, time.Now(), nil, true, head, time.Second, time.Second)
		if err == nil && !r.buffered() {
			want := r.n
			bw := bufio.NewWriter(io.Discard)
			n, err := r.WriteTo(bw)
			if err == nil && n != want {
				t.Errorf("body passed on whole with %d bytes, head said %d", n, want)
			}
		}
		stray := err == nil && r.n == 0 && r.ec != nil && r.ec.br.Buffered() > 0
		r.release()
		p.mu.Lock()
		idle := len(p.idle)
		p.mu.Unlock()
		if stray && idle > 0 {
			t.Errorf("a connection with bytes past the response went back to the pool")
		}
		<-done
		p.close()
	})
}
