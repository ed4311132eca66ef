package loadbalancer

import (
	"net"
	"testing"

	"github.com/valyala/fasthttp"
)

// BenchmarkProxy measures one proxied request in process (the upstream is a fasthttp server on
// loopback), for allocations per request.
func BenchmarkProxy(b *testing.B) {
	body := make([]byte, 100<<10)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	up := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) { ctx.Response.SetBodyRaw(body) }}
	go up.Serve(ln)
	defer up.Shutdown()
	s, err := New(Config{Zone: "z", Upstreams: []string{ln.Addr().String()}, ProbeInterval: -1, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	h := s.Handler()
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
