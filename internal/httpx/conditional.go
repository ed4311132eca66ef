package httpx

import (
	"bytes"
	"time"

	"github.com/valyala/fasthttp"

	"edgecdn/internal/httprange"
)

// Validators identify one representation: its strong entity tag and modification time.
type Validators struct {
	ETag    []byte // with quotes: "\"abc\""
	ModTime time.Time
}

// Evaluate applies a GET or HEAD request's preconditions (RFC 9110 section 13.2.2 order:
// If-Match, If-None-Match, If-Modified-Since) and then its Range (honouring If-Range) to a
// representation of size bytes. It returns the status to answer with (200, 206, 304, 412 or
// 416) and, for 206, the ranges, appended to rbuf (coalesced when several). A malformed Range is
// ignored, as RFC 9110 allows: the answer is the whole representation.
func Evaluate(req *fasthttp.RequestHeader, isGet bool, v Validators, size int64, rbuf []httprange.Range) (int, []httprange.Range) {
	if im := req.Peek("If-Match"); len(im) > 0 && !ETagMatch(im, v.ETag, false) {
		return fasthttp.StatusPreconditionFailed, nil
	}
	if inm := req.Peek("If-None-Match"); len(inm) > 0 {
		if ETagMatch(inm, v.ETag, true) {
			return fasthttp.StatusNotModified, nil
		}
	} else if ims := req.Peek("If-Modified-Since"); len(ims) > 0 && !v.ModTime.IsZero() {
		if t, err := fasthttp.ParseHTTPDate(ims); err == nil && !v.ModTime.After(t) {
			return fasthttp.StatusNotModified, nil
		}
	}
	rh := req.Peek("Range")
	if len(rh) == 0 || !isGet || !ifRange(req.Peek("If-Range"), v) {
		return fasthttp.StatusOK, nil
	}
	ranges, err := httprange.Parse(rbuf, rh, size)
	switch {
	case err == httprange.ErrUnsatisfiable:
		return fasthttp.StatusRequestedRangeNotSatisfiable, nil
	case err != nil || len(ranges) == 0:
		return fasthttp.StatusOK, nil
	case len(ranges) > 1:
		ranges = httprange.Coalesce(ranges)
	}
	return fasthttp.StatusPartialContent, ranges
}

// SetUnsatisfiable sets the Content-Range of a 416 answer.
func SetUnsatisfiable(h *fasthttp.ResponseHeader, size int64) {
	var b [48]byte
	h.SetBytesV("Content-Range", fasthttp.AppendUint(append(b[:0], "bytes */"...), int(size)))
}

// SetContentRange sets the Content-Range of a single-range 206 answer.
func SetContentRange(h *fasthttp.ResponseHeader, r httprange.Range, size int64) {
	var b [64]byte
	h.SetBytesV("Content-Range", r.AppendContentRange(b[:0], size))
}

// ifRange reports whether a Range header applies: there is no If-Range, or it names the
// current representation (its strong ETag or, for a date, exactly its modification time).
func ifRange(h []byte, v Validators) bool {
	if len(h) == 0 {
		return true
	}
	if h[0] == '"' {
		return bytes.Equal(h, v.ETag)
	}
	t, err := fasthttp.ParseHTTPDate(h)
	return err == nil && !v.ModTime.IsZero() && t.Equal(v.ModTime)
}

// ETagMatch reports whether the comma-separated list of entity tags h (or "*") contains etag.
// Weak comparison ignores a W/ prefix, as If-None-Match requires; strong comparison (If-Match)
// never matches a weak tag.
func ETagMatch(h, etag []byte, weak bool) bool {
	h = bytes.TrimSpace(h)
	if len(h) == 1 && h[0] == '*' {
		return len(etag) > 0
	}
	for len(h) > 0 {
		var tag []byte
		if i := bytes.IndexByte(h, ','); i >= 0 {
			tag, h = bytes.TrimSpace(h[:i]), h[i+1:]
		} else {
			tag, h = bytes.TrimSpace(h), nil
		}
		if bytes.HasPrefix(tag, []byte("W/")) {
			if !weak {
				continue
			}
			tag = tag[2:]
		}
		if len(tag) > 0 && bytes.Equal(tag, etag) {
			return true
		}
	}
	return false
}
