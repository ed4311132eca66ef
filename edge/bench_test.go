package edge

import (
	"bytes"
	"fmt"
	"net"
	"runtime"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"edgecdn/internal/evloop"
)

// BenchmarkHit serves a cached object in process, reusing one request context as fasthttp does
// between requests on a connection. The hit path must not allocate.
func BenchmarkHit(b *testing.B) {
	for _, size := range []int{2 << 10, 100 << 10, 1 << 20} {
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			o := newFakeOrigin(b)
			o.put("/vod/t/r/obj.ts", &fakeObject{body: randomBytes(size, 1), cacheControl: "max-age=3600"})
			s, err := New(Config{Origins: []string{o.url()}, Logger: quiet, ProbeInterval: -1, Name: "bench"})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			h := s.Handler()
			var ctx fasthttp.RequestCtx
			ctx.Request.SetRequestURI("/vod/t/r/obj.ts")
			h(&ctx) // the miss that fills the cache
			drain(&ctx)
			ctx.Response.Reset()
			h(&ctx)
			if cs := string(ctx.Response.Header.Peek("Cache-Status")); !strings.HasSuffix(cs, "; hit") {
				b.Fatalf("Cache-Status %q after the fill", cs)
			}
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				ctx.Response.Reset()
				h(&ctx)
			}
		})
	}
}

// drain reads a streamed miss body to its end so the fill completes.
func drain(ctx *fasthttp.RequestCtx) {
	if r := ctx.Response.BodyStream(); r != nil {
		buf := make([]byte, 64<<10)
		for {
			if _, err := r.Read(buf); err != nil {
				break
			}
		}
	}
}

// BenchmarkLoopHit asks an edge served by the event loop engine for a cached object over one
// loopback keep-alive connection, a request at a time. The loop's hit path must not allocate
// (allocs/op counts the client's side too, which allocates nothing).
func BenchmarkLoopHit(b *testing.B) {
	if runtime.GOOS != "linux" {
		b.Skip("the event loop engine is Linux only")
	}
	for _, size := range []int{2 << 10, 100 << 10, 1 << 20} {
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			o := newFakeOrigin(b)
			o.put("/vod/t/r/obj.ts", &fakeObject{body: randomBytes(size, 1), cacheControl: "max-age=3600"})
			s, base := startEdge(b, Config{Origins: []string{o.url()}, ProbeInterval: -1, Engine: evloop.EngineLoop})
			c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			req := []byte("GET /vod/t/r/obj.ts HTTP/1.1\r\nHost: bench\r\n\r\n")
			buf := make([]byte, size+4096)
			roundTrip := func() {
				if _, err := c.Write(req); err != nil {
					b.Fatal(err)
				}
				n, head := 0, -1
				for head < 0 || n < head+size {
					m, err := c.Read(buf[n:])
					if err != nil {
						b.Fatal(err)
					}
					n += m
					if head < 0 {
						if i := bytes.Index(buf[:n], []byte("\r\n\r\n")); i >= 0 {
							head = i + 4
						}
					}
				}
			}
			roundTrip() // the miss that fills the cache
			roundTrip()
			if !bytes.Contains(buf, []byte("Cache-Status: edge-test; hit\r\n")) || s.m.loopVisits.Get() != 1 {
				b.Fatalf("the second request was not a hit the loop answered (visits %d)", s.m.loopVisits.Get())
			}
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				roundTrip()
			}
		})
	}
}
