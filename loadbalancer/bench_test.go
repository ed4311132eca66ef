package loadbalancer

import (
	"context"
	"net"
	"strconv"
	"testing"

	"github.com/valyala/fasthttp"
)

// BenchmarkProxy measures one proxied request in process (the upstream is a fasthttp server on
// loopback), for allocations per request.
func BenchmarkProxy(b *testing.B) {
	body := make([]byte, 100<<10)
	h := benchBalancer(b, body).Handler()
	var ctx fasthttp.RequestCtx
	var req fasthttp.Request
	req.SetRequestURI("/vod/t/r/seg.ts")
	req.Header.SetHost("lb.test")
	ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}, nil)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	buf := make([]byte, 64<<10)
	for b.Loop() {
		ctx.Response.Reset()
		h(&ctx)
		if ctx.Response.StatusCode() != 200 {
			b.Fatalf("status %d: %s", ctx.Response.StatusCode(), ctx.Response.Body())
		}
		if r := ctx.Response.BodyStream(); r != nil {
			for {
				if _, err := r.Read(buf); err != nil {
					break
				}
			}
		}
		ctx.Response.CloseBodyStream()
	}
}

// BenchmarkProxyLoopback measures whole requests over loopback sockets, as wrk sees them: a
// client, the balancer and an upstream serving a body from memory, all in this process (so a
// CPU profile shows the balancer's system calls, splices and scheduling beside theirs).
func BenchmarkProxyLoopback(b *testing.B) {
	for _, size := range []int{2 << 10, 100 << 10, 1 << 20} {
		b.Run(strconv.Itoa(size>>10)+"KiB", func(b *testing.B) {
			s := benchBalancer(b, make([]byte, size))
			lln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			go s.Serve(lln)
			defer s.Shutdown(context.Background())
			c := &fasthttp.HostClient{Addr: lln.Addr().String(), MaxConns: 64}
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.SetParallelism(16)
			b.RunParallel(func(pb *testing.PB) {
				req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
				defer fasthttp.ReleaseRequest(req)
				defer fasthttp.ReleaseResponse(resp)
				req.SetRequestURI("http://lb.test/vod/t/r/seg.ts")
				for pb.Next() {
					if err := c.Do(req, resp); err != nil || resp.StatusCode() != 200 || len(resp.Body()) != size {
						b.Errorf("%v status %d, %d bytes", err, resp.StatusCode(), len(resp.Body()))
						return
					}
				}
			})
		})
	}
}

// benchBalancer is a balancer in front of one upstream, a fasthttp server on loopback that
// answers every request with body; both stop when the benchmark ends.
func benchBalancer(b *testing.B, body []byte) *Server {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	up := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) { ctx.Response.SetBodyRaw(body) }}
	go up.Serve(ln)
	b.Cleanup(func() { up.Shutdown() })
	s, err := New(Config{Zone: "z", Upstreams: []string{ln.Addr().String()}, ProbeInterval: -1, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	return s
}
