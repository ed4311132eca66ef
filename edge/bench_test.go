package edge

import (
	"fmt"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
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
