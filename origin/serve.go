package origin

import (
	"bufio"
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
	allowValue  = []byte("GET, HEAD")
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

// serveFile answers a GET or HEAD for f: conditional requests first (RFC 9110 section 13.2.2
// order), then ranges. It returns the number of body bytes it sends.
func serveFile(ctx *fasthttp.RequestCtx, f *file) int64 {
	h := &ctx.Response.Header
	h.SetBytesV("ETag", f.etag)
	h.SetBytesV("Last-Modified", f.lastModified)
	h.SetBytesV("Cache-Control", f.cacheControl)
	h.SetBytesV("Accept-Ranges", bytesValue)

	req := &ctx.Request.Header
	if im := req.Peek("If-Match"); len(im) > 0 && !etagMatch(im, f.etag, false) {
		ctx.SetStatusCode(fasthttp.StatusPreconditionFailed)
		return 0
	}
	if inm := req.Peek("If-None-Match"); len(inm) > 0 {
		if etagMatch(inm, f.etag, true) {
			ctx.SetStatusCode(fasthttp.StatusNotModified)
			return 0
		}
	} else if ims := req.Peek("If-Modified-Since"); len(ims) > 0 {
		if t, err := fasthttp.ParseHTTPDate(ims); err == nil && !f.modTime.After(t) {
			ctx.SetStatusCode(fasthttp.StatusNotModified)
			return 0
		}
	}
	h.SetContentTypeBytes(f.contentType)

	var rbuf [4]httprange.Range
	var ranges []httprange.Range
	if rh := req.Peek("Range"); len(rh) > 0 && ctx.IsGet() && ifRange(req.Peek("If-Range"), f) {
		var err error
		ranges, err = httprange.Parse(rbuf[:0], rh, f.size)
		switch err {
		case nil:
		case httprange.ErrUnsatisfiable:
			h.Set("Content-Range", "bytes */"+itoa(f.size))
			ctx.SetStatusCode(fasthttp.StatusRequestedRangeNotSatisfiable)
			return 0
		default:
			ranges = nil // a malformed Range is ignored: the whole representation, 200
		}
	}
	if len(ranges) > 1 {
		ranges = httprange.Coalesce(ranges)
	}
	switch len(ranges) {
	case 0:
		return sendBody(ctx, f, 0, f.size)
	case 1:
		r := ranges[0]
		var crb [64]byte
		h.SetBytesV("Content-Range", r.AppendContentRange(crb[:0], f.size))
		ctx.SetStatusCode(fasthttp.StatusPartialContent)
		return sendBody(ctx, f, r.Start, r.Length)
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
	ctx.Response.SetBodyStream(&fileBody{f: fh, off: off, n: n}, int(n))
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

// ifRange reports whether a Range header applies: there is no If-Range, or it names the
// current representation (its strong ETag or, for a date, one not before the file's).
func ifRange(v []byte, f *file) bool {
	if len(v) == 0 {
		return true
	}
	if v[0] == '"' {
		return bytes.Equal(v, f.etag)
	}
	t, err := fasthttp.ParseHTTPDate(v)
	return err == nil && t.Equal(f.modTime)
}

// etagMatch reports whether the comma-separated list of entity tags in v (or "*") contains etag.
// Weak comparison ignores a W/ prefix, as If-None-Match requires; strong comparison (If-Match)
// never matches a weak tag.
func etagMatch(v, etag []byte, weak bool) bool {
	v = bytes.TrimSpace(v)
	if len(v) == 1 && v[0] == '*' {
		return true
	}
	for len(v) > 0 {
		var tag []byte
		if i := bytes.IndexByte(v, ','); i >= 0 {
			tag, v = bytes.TrimSpace(v[:i]), v[i+1:]
		} else {
			tag, v = bytes.TrimSpace(v), nil
		}
		if bytes.HasPrefix(tag, []byte("W/")) {
			if !weak {
				continue
			}
			tag = tag[2:]
		}
		if bytes.Equal(tag, etag) {
			return true
		}
	}
	return false
}

func itoa(n int64) string { return string(fasthttp.AppendUint(nil, int(n))) }

// fileBody streams a section of an open file. fasthttp calls WriteTo with its bufio.Writer;
// flushing it first lets bufio hand the write to the TCP connection's ReadFrom, which the
// kernel serves with sendfile(2) from an io.LimitedReader over the file.
type fileBody struct {
	f      *os.File
	off, n int64
	read   int64
}

func (b *fileBody) Read(p []byte) (int, error) {
	if b.read >= b.n {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), b.n-b.read)]
	n, err := b.f.ReadAt(p, b.off+b.read)
	b.read += int64(n)
	if err == io.EOF && b.read == b.n {
		err = nil
	}
	return n, err
}

func (b *fileBody) WriteTo(w io.Writer) (int64, error) {
	if bw, ok := w.(*bufio.Writer); ok {
		if err := bw.Flush(); err != nil {
			return 0, err
		}
	}
	if _, err := b.f.Seek(b.off+b.read, io.SeekStart); err != nil {
		return 0, err
	}
	n, err := io.Copy(w, &io.LimitedReader{R: b.f, N: b.n - b.read})
	b.read += n
	if err == nil && b.read < b.n {
		err = io.ErrUnexpectedEOF // the file shrank under us: never pass a short body off as whole
	}
	return n, err
}

func (b *fileBody) SupportsBodyWriteTo() bool { return true }

func (b *fileBody) Close() error { return b.f.Close() }
