package edge

import (
	"bytes"
	"io"
	"time"

	"github.com/valyala/fasthttp"

	"edgecdn/internal/httprange"
	"edgecdn/internal/httpx"
	"edgecdn/internal/placement"
	"edgecdn/internal/signing"
	"edgecdn/internal/urlpath"
)

// headers are the edge's constant header values, built once so the hit path does not allocate.
type headers struct {
	name, via                                     []byte
	hit, hitDisk, miss, missStored, missCollapsed []byte
	staleRevalidated, staleIfError                []byte
}

func newHeaders(name string) headers {
	return headers{
		name:             []byte(name),
		via:              []byte("1.1 " + name + " (edgecdn)"),
		hit:              []byte(name + "; hit"),
		hitDisk:          []byte(name + "; hit; detail=disk"),
		miss:             []byte(name + "; fwd=miss"),
		missStored:       []byte(name + "; fwd=miss; stored"),
		missCollapsed:    []byte(name + "; fwd=miss; collapsed"),
		staleRevalidated: []byte(name + "; fwd=stale; fwd-status=304; stored"),
		staleIfError:     []byte(name + "; fwd=stale; detail=stale-if-error"),
	}
}

var (
	hCacheStatus = []byte("Cache-Status")
	hAge         = []byte("Age")
	hVia         = []byte("Via")
	hCMSD        = []byte("CMSD-Dynamic")
	hServedBy    = []byte("X-Served-By")
	hETag        = []byte("ETag")
	hLastMod     = []byte("Last-Modified")
	hCacheCtl    = []byte("Cache-Control")
	hAcceptRange = []byte("Accept-Ranges")
	hAllow       = []byte("Allow")
	vBytes       = []byte("bytes")
	vAllow       = []byte(httpx.CORSAllowMethods) // OPTIONS: preflights, answered by httpx.CORS
	pAdmin       = []byte("/admin/")
	pCluster     = []byte("/cluster")
)

func (s *Server) route(ctx *fasthttp.RequestCtx) {
	raw := ctx.Request.URI().PathOriginal()
	if bytes.HasPrefix(raw, pAdmin) || bytes.Equal(raw, pCluster) {
		if s.ep.Separated() {
			httpx.Fail(ctx, fasthttp.StatusNotFound, "not found")
			return
		}
		s.adminRoute(ctx)
		return
	}
	s.serveContent(ctx, raw)
}

// serveContent is the request path: cache (memory, then disk), else a fill.
func (s *Server) serveContent(ctx *fasthttp.RequestCtx, raw []byte) {
	h := &ctx.Response.Header
	h.SetBytesKV(hServedBy, s.h.name)
	h.SetBytesKV(hVia, s.h.via)
	if v := s.cmsd.Load(); v != nil {
		h.SetBytesKV(hCMSD, *v)
	}
	if s.stopping.Load() {
		// Draining: let clients' connections go with this response, not when the listener closes.
		ctx.SetConnectionClose()
	}
	if len(s.cfg.SigningKeys) > 0 && !s.fromPeer(ctx) {
		inner, err := signing.Check(s.cfg.SigningKeys, string(raw), ctx.RemoteIP().String(), time.Now())
		if err != nil {
			s.m.forbidden.Inc()
			httpx.Fail(ctx, fasthttp.StatusForbidden, "forbidden: "+err.Error())
			return
		}
		raw = []byte(inner) // the token never enters the cache key
	}
	var kb [urlpath.MaxLen + 256]byte
	key, err := AppendKey(kb[:0], raw, ctx.URI().QueryString(), s.cfg.QueryAllowlist)
	switch err {
	case nil:
	case urlpath.ErrTooLong:
		s.m.badRequests.Inc()
		httpx.Fail(ctx, fasthttp.StatusRequestURITooLong, "URI too long")
		return
	default:
		s.m.badRequests.Inc()
		httpx.Fail(ctx, fasthttp.StatusBadRequest, "bad path")
		return
	}
	if !ctx.IsGet() && !ctx.IsHead() {
		h.SetBytesKV(hAllow, vAllow)
		s.m.badRequests.Inc()
		httpx.Fail(ctx, fasthttp.StatusMethodNotAllowed, "method not allowed")
		return
	}
	s.noteRequest(key)
	now := time.Now()
	o, ok := s.cache.GetBytes(key)
	if ok && o.fresh(now) {
		s.m.hits[o.kind].Inc()
		s.serveObject(ctx, o, s.h.hit, now)
		return
	}
	if !ok && s.disk != nil {
		if d := s.disk.get(string(key)); d != nil {
			if d.fresh(now) {
				s.cache.Set(d.key, d)
				s.m.diskHits.Inc()
				s.m.hits[d.kind].Inc()
				s.serveObject(ctx, d, s.h.hitDisk, now)
				return
			}
			o, ok = d, true // an expired copy from disk can still be revalidated or served stale
		}
	}
	var stale *object
	if ok {
		stale = o
	}
	hop := 0
	if s.fromPeer(ctx) {
		hop = int(ctx.Request.Header.Peek(hopHeader)[0] - '0')
	}
	rt := route{level: levelOrigin, store: true}
	if p := s.place.Load(); p != nil {
		rt = p.decide(placement.Key(key), hop, s.cfg.CrossZoneFill)
	}
	s.serveMiss(ctx, string(key), stale, rt, now)
}

// fromPeer reports whether a request comes from another edge of the cluster: a valid hop
// header from an edge's address. Such requests need no signed path (the client's was checked
// where it arrived) and are never forwarded further than their hop level.
func (s *Server) fromPeer(ctx *fasthttp.RequestCtx) bool {
	hv := ctx.Request.Header.Peek(hopHeader)
	return len(hv) == 1 && hv[0] >= '1' && hv[0] <= '2' && s.trustedPeer(ctx.RemoteIP())
}

// serveObject answers from a stored object: preconditions, ranges and HEAD included.
func (s *Server) serveObject(ctx *fasthttp.RequestCtx, o *object, status []byte, now time.Time) {
	h := &ctx.Response.Header
	h.SetBytesKV(hCacheStatus, status)
	var ab [20]byte
	age := now.Sub(o.stored) / time.Second
	h.SetBytesKV(hAge, fasthttp.AppendUint(ab[:0], int(max(age, 0))))
	h.SetBytesKV(hETag, o.etag)
	if len(o.lastModified) > 0 {
		h.SetBytesKV(hLastMod, o.lastModified)
	}
	if len(o.cacheControl) > 0 {
		h.SetBytesKV(hCacheCtl, o.cacheControl)
	}
	h.SetBytesKV(hAcceptRange, vBytes)
	size := o.size()
	var rbuf [4]httprange.Range
	code, ranges := httpx.Evaluate(&ctx.Request.Header, ctx.IsGet(), httpx.Validators{ETag: o.etag, ModTime: o.modTime}, size, rbuf[:0])
	var sent int64
	switch {
	case code == fasthttp.StatusNotModified || code == fasthttp.StatusPreconditionFailed:
		ctx.SetStatusCode(code)
	case code == fasthttp.StatusRequestedRangeNotSatisfiable:
		httpx.SetUnsatisfiable(h, size)
		ctx.SetStatusCode(code)
	default:
		h.SetContentTypeBytes(o.contentType)
		switch len(ranges) {
		case 0:
			sent = s.objectBody(ctx, o, 0, size)
		case 1:
			r := ranges[0]
			httpx.SetContentRange(h, r, size)
			ctx.SetStatusCode(fasthttp.StatusPartialContent)
			sent = s.objectBody(ctx, o, r.Start, r.Length)
		default:
			m := httprange.NewMultipart(ranges, size, string(o.contentType), string(o.etag))
			var buf bytes.Buffer
			buf.Grow(int(m.Len()))
			m.WriteTo(&buf, o.reader(0, size))
			ctx.SetStatusCode(fasthttp.StatusPartialContent)
			h.SetContentType(m.ContentType())
			sent = s.setBody(ctx, buf.Bytes())
		}
	}
	s.m.servedBytes[o.kind].Add(int(sent))
	if !ctx.Response.IsBodyStream() && !s.stopping.Load() {
		// A whole response in memory (a body under httpx.ZeroCopyMin, a HEAD, a 304): written
		// from inside the wait for the client's next request, which then costs one read(2).
		httpx.ArmLastWrite(ctx)
	}
}

// objectBody sets o's body bytes [off, off+n) as the response body: from memory without a
// copy, or read from its memfd.
func (s *Server) objectBody(ctx *fasthttp.RequestCtx, o *object, off, n int64) int64 {
	if o.mem == nil {
		return s.setBody(ctx, o.body[off:off+n])
	}
	if ctx.IsHead() {
		ctx.Response.SkipBody = true
		ctx.Response.Header.SetContentLength(int(n))
		return 0
	}
	ctx.Response.SetBodyStream(o.reader(off, n), int(n))
	return n
}

// setBody sets a body without copying it (or only its length, for HEAD).
func (s *Server) setBody(ctx *fasthttp.RequestCtx, b []byte) int64 {
	if ctx.IsHead() {
		ctx.Response.SkipBody = true
		ctx.Response.Header.SetContentLength(len(b))
		return 0
	}
	s.zc.WriteBody(ctx, b)
	return int64(len(b))
}

// serveMiss answers from a fill: the one in flight for key, or a new one.
func (s *Server) serveMiss(ctx *fasthttp.RequestCtx, key string, stale *object, rt route, now time.Time) {
	f, o, collapsed := s.join(key, stale, rt)
	if o != nil {
		s.m.hits[o.kind].Inc()
		s.serveObject(ctx, o, s.h.hit, now)
		return
	}
	k := kindOf([]byte(key))
	<-f.head // the fill publishes its head within the fill timeout
	h := &ctx.Response.Header
	switch {
	case f.err != nil || f.status >= 500:
		if stale != nil && s.cfg.StaleIfError > 0 && now.Before(stale.expires.Add(s.cfg.StaleIfError)) {
			s.m.stale[k].Inc()
			s.serveObject(ctx, stale, s.h.staleIfError, time.Now())
			return
		}
		s.m.errors[k].Inc()
		h.SetBytesKV(hCacheStatus, s.h.miss)
		httpx.Fail(ctx, statusForFillError(f.err), "origin unavailable")
		return
	case f.status == fasthttp.StatusNotModified:
		s.m.revalidated[k].Inc()
		s.serveObject(ctx, f.obj, s.h.staleRevalidated, time.Now())
		return
	case f.status != fasthttp.StatusOK:
		s.m.passed[k].Inc()
		var b [64]byte
		st := append(append(append(b[:0], s.h.miss...), "; fwd-status="...), fasthttp.AppendUint(nil, f.status)...)
		h.SetBytesKV(hCacheStatus, st)
		ctx.SetStatusCode(f.status)
		if len(f.ctype) > 0 {
			h.SetContentTypeBytes(f.ctype)
		}
		s.setBody(ctx, f.passBody)
		return
	}
	if err := f.failedBody(); err != nil {
		// The body already failed (a client that joined late): a clean error, not a 200 head
		// followed by a cut connection.
		s.m.errors[k].Inc()
		h.SetBytesKV(hCacheStatus, s.h.miss)
		httpx.Fail(ctx, statusForFillError(err), "origin sent a bad body")
		return
	}
	if collapsed {
		s.m.collapsed[k].Inc()
	}
	s.m.misses[k].Inc()
	status := s.h.missStored
	switch {
	case collapsed:
		status = s.h.missCollapsed
	case !f.stored:
		status = s.h.miss
	}
	if f.size < 0 {
		// No Content-Length from the origin: wait for the whole body, then serve it.
		obj, err := f.waitBody()
		if err != nil {
			s.m.errors[k].Inc()
			httpx.Fail(ctx, fasthttp.StatusBadGateway, "origin sent a bad body")
			return
		}
		s.serveObject(ctx, obj, status, time.Now())
		return
	}
	h.SetBytesKV(hCacheStatus, status)
	h.SetBytesKV(hAge, []byte("0"))
	if len(f.etag) > 0 { // none from the origin: the stored copy gets one made from its content
		h.SetBytesKV(hETag, f.etag)
	}
	if len(f.lastMod) > 0 {
		h.SetBytesKV(hLastMod, f.lastMod)
	}
	if len(f.cctl) > 0 {
		h.SetBytesKV(hCacheCtl, f.cctl)
	}
	h.SetBytesKV(hAcceptRange, vBytes)
	var rbuf [4]httprange.Range
	code, ranges := httpx.Evaluate(&ctx.Request.Header, ctx.IsGet(), httpx.Validators{ETag: f.etag, ModTime: f.modTime}, f.size, rbuf[:0])
	switch {
	case code == fasthttp.StatusNotModified || code == fasthttp.StatusPreconditionFailed:
		ctx.SetStatusCode(code)
		return
	case code == fasthttp.StatusRequestedRangeNotSatisfiable:
		httpx.SetUnsatisfiable(h, f.size)
		ctx.SetStatusCode(code)
		return
	case len(ranges) > 1:
		// Several ranges of an object still arriving: wait for it, then answer from the copy.
		obj, err := f.waitBody()
		if err != nil {
			s.m.errors[k].Inc()
			httpx.Fail(ctx, fasthttp.StatusBadGateway, "origin sent a bad body")
			return
		}
		s.serveObject(ctx, obj, status, time.Now())
		return
	}
	h.SetContentTypeBytes(f.ctype)
	off, n := int64(0), f.size
	if len(ranges) == 1 {
		off, n = ranges[0].Start, ranges[0].Length
		httpx.SetContentRange(h, ranges[0], f.size)
		ctx.SetStatusCode(fasthttp.StatusPartialContent)
	}
	if ctx.IsHead() {
		ctx.Response.SkipBody = true
		h.SetContentLength(int(n))
		return
	}
	s.m.servedBytes[k].Add(int(n))
	// The head goes out at once, not when the write buffer fills: the client's first byte comes
	// with the origin's, and a fill that fails later reaches it as a 200 head and a body cut
	// short of its Content-Length, never as a connection closed with no answer at all (which
	// HTTP clients take as a stale keep-alive connection and silently send again).
	ctx.Response.ImmediateHeaderFlush = true
	ctx.Response.SetBodyStream(&fillReader{f: f, off: off, end: off + n}, int(n))
}

var _ io.Reader = (*fillReader)(nil)
