package origin

import (
	"testing"

	"github.com/valyala/fasthttp"
)

// benchServe runs the origin's handler in process on one reused request, as fasthttp does
// between requests of a connection.
func benchServe(b *testing.B, preload int64, path string, hdr map[string]string) {
	dir, _ := testContent(b)
	s, err := New(Config{Content: dir, Logger: quiet, PreloadBytes: preload})
	if err != nil {
		b.Fatal(err)
	}
	h := s.Handler()
	var ctx fasthttp.RequestCtx
	ctx.Request.SetRequestURI(path)
	for k, v := range hdr {
		ctx.Request.Header.Set(k, v)
	}
	h(&ctx)
	want := ctx.Response.StatusCode()
	if want != 200 && want != 206 && want != 304 {
		b.Fatalf("GET %s: %d", path, want)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		ctx.Response.Reset()
		h(&ctx)
		if ctx.Response.StatusCode() != want {
			b.Fatalf("status %d", ctx.Response.StatusCode())
		}
		ctx.Response.CloseBodyStream()
	}
}

func BenchmarkServeSegment(b *testing.B) {
	_, cat := testContent(b)
	path, _ := segmentPath(cat, 2, 0)
	b.Run("memory", func(b *testing.B) { benchServe(b, 512<<20, path, nil) })
	b.Run("memory-range", func(b *testing.B) { benchServe(b, 512<<20, path, map[string]string{"Range": "bytes=1000-99999"}) })
	b.Run("memory-304", func(b *testing.B) {
		benchServe(b, 512<<20, path, map[string]string{"If-None-Match": `"` + cat.Titles[0].Renditions[2].Segments[0].SHA256 + `"`})
	})
	b.Run("disk", func(b *testing.B) { benchServe(b, 1, path, nil) })
}

func BenchmarkServePlaylist(b *testing.B) {
	_, cat := testContent(b)
	benchServe(b, 512<<20, "/vod/"+cat.Titles[0].Name+"/master.m3u8", nil)
}
