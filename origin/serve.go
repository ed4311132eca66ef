package origin

import (
	"bytes"
	"io"
	"os"
	"time"

	"github.com/valyala/fasthttp"

	"edgecdn/internal/httprange"
	"edgecdn/internal/httpx"
	"edgecdn/internal/urlpath"
)

var (
	hdrServedBy = []byte("X-Served-By")
	hdrAllow    = []byte("Allow")
	allowValue  = []byte(httpx.CORSAllowMethods) // OPTIONS: preflights, answered by httpx.CORS
	bytesValue  = []byte("bytes")
)

func (s *Server) serveContent(ctx *fasthttp.RequestCtx) {
	start := time.Now()
	k := kindOther
	var sent int64
	defer func() {
		s.m.requests[k][codeIndex(ctx.Response.StatusCode())].Inc()
		s.m.bytes[k].AddInt64(sent)
		s.m.latency[k].Since(start)
	}()
	ctx.Response.Header.SetBytesKV(hdrServedBy, s.servedBy)

	var buf [urlpath.MaxLen]byte
	p, err := urlpath.Clean(buf[:0], ctx.Request.URI().PathOriginal())
	switch err {
	case nil:
	case urlpath.ErrTooLong:
		httpx.Fail(ctx, fasthttp.StatusRequestURITooLong, "URI too long")
		return
	default:
		httpx.Fail(ctx, fasthttp.StatusBadRequest, "bad path")
		return
	}
	if !ctx.IsGet() && !ctx.IsHead() {
		ctx.Response.Header.SetBytesKV(hdrAllow, allowValue)
		httpx.Fail(ctx, fasthttp.StatusMethodNotAllowed, "method not allowed")
		return
	}
	f := s.idx.files[string(p)]
	if f == nil {
		httpx.Fail(ctx, fasthttp.StatusNotFound, "not found")
		return
	}
	k = f.kind
	sent = serveFile(ctx, f)
}

// serveFile answers a GET or HEAD for f. It returns the number of body bytes it sends.
func serveFile(ctx *fasthttp.RequestCtx, f *file) int64 {
	h := &ctx.Response.Header
	h.SetBytesV("ETag", f.etag)
	h.SetBytesV("Last-Modified", f.lastModified)
	h.SetBytesV("Cache-Control", f.cacheControl)
	h.SetBytesV("Accept-Ranges", bytesValue)

	var rbuf [4]httprange.Range
	status, ranges := httpx.Evaluate(&ctx.Request.Header, ctx.IsGet(), httpx.Validators{ETag: f.etag, ModTime: f.modTime}, f.size, rbuf[:0])
	switch status {
	case fasthttp.StatusPreconditionFailed, fasthttp.StatusNotModified:
		ctx.SetStatusCode(status)
		return 0
	case fasthttp.StatusRequestedRangeNotSatisfiable:
		httpx.SetUnsatisfiable(h, f.size)
		ctx.SetStatusCode(status)
		return 0
	}
	h.SetContentTypeBytes(f.contentType)
	switch len(ranges) {
	case 0:
		return sendBody(ctx, f, 0, f.size)
	case 1:
		httpx.SetContentRange(h, ranges[0], f.size)
		ctx.SetStatusCode(fasthttp.StatusPartialContent)
		return sendBody(ctx, f, ranges[0].Start, ranges[0].Length)
	}
	return sendMultipart(ctx, f, ranges)
}

// sendBody sets the response body to n bytes of f from off: a slice of the preloaded bytes, or
// the file itself, which fasthttp sends with sendfile(2).
func sendBody(ctx *fasthttp.RequestCtx, f *file, off, n int64) int64 {
	if ctx.IsHead() {
		ctx.Response.SkipBody = true
		ctx.Response.Header.SetContentLength(int(n))
		return 0
	}
	if f.data != nil {
		ctx.Response.SetBodyRaw(f.data[off : off+n])
		return n
	}
	fh, err := os.Open(f.path)
	if err != nil {
		httpx.Fail(ctx, fasthttp.StatusInternalServerError, "internal error")
		return 0
	}
	ctx.Response.SetBodyStream(httpx.NewFileBody(fh, off, n), int(n))
	return n
}

func sendMultipart(ctx *fasthttp.RequestCtx, f *file, ranges []httprange.Range) int64 {
	m := httprange.NewMultipart(ranges, f.size, string(f.contentType), string(f.etag))
	ctx.SetStatusCode(fasthttp.StatusPartialContent)
	ctx.Response.Header.SetContentType(m.ContentType())
	var src io.ReaderAt
	if f.data != nil {
		src = bytes.NewReader(f.data)
	} else {
		fh, err := os.Open(f.path)
		if err != nil {
			httpx.Fail(ctx, fasthttp.StatusInternalServerError, "internal error")
			return 0
		}
		defer fh.Close()
		src = fh
	}
	var body bytes.Buffer
	body.Grow(int(m.Len()))
	if _, err := m.WriteTo(&body, src); err != nil {
		httpx.Fail(ctx, fasthttp.StatusInternalServerError, "internal error")
		return 0
	}
	ctx.Response.SetBodyRaw(body.Bytes())
	return int64(body.Len())
}
