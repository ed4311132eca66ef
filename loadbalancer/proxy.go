package loadbalancer

import (
	"bytes"
	"time"

	"github.com/valyala/fasthttp"

	"edgecdn/internal/httpx"
)

const maxAttempts = 4

// adminPath reports whether p is an edge's admin endpoint, which a balancer never forwards.
func adminPath(p []byte) bool {
	if len(p) > 1 && p[1] == 'v' {
		return false // /vod/...: the hot path
	}
	return bytes.Equal(p, []byte("/cluster")) || bytes.HasPrefix(p, []byte("/admin/")) ||
		bytes.Equal(p, []byte("/metrics")) || bytes.HasPrefix(p, []byte("/debug/"))
}

var (
	hXFF = []byte("X-Forwarded-For")
	hVia = []byte("Via")
	// Retry-After on a 503 for want of an edge: the probe interval's order of magnitude, the
	// time an edge takes to come back into service.
	hRetryAfter = []byte("Retry-After")
	vRetryAfter = []byte("1")
	// Hop-by-hop headers (RFC 9110 section 7.6.1) are not forwarded.
	hopByHop = [][]byte{[]byte("Keep-Alive"), []byte("Proxy-Connection"), []byte("Proxy-Authorization"),
		[]byte("TE"), []byte("Trailer"), []byte("Upgrade")}
)

// proxy forwards a request to an edge of the zone. An idempotent request (GET, HEAD) whose edge
// fails before the response starts — no connection, a timeout, or 502/503/504 — is tried again
// on another edge; the failing edge is ejected. Bodies stream through without being held.
func (s *Server) proxy(ctx *fasthttp.RequestCtx) {
	if adminPath(ctx.Request.URI().PathOriginal()) {
		// The edges' admin endpoints (/cluster, /admin/, their metrics and profiles) are
		// never reachable through the client port.
		httpx.Fail(ctx, fasthttp.StatusNotFound, "not found")
		return
	}
	idempotent := ctx.IsGet() || ctx.IsHead()
	if s.cfg.Redirect && idempotent {
		s.redirect(ctx)
		return
	}
	attempts := s.cfg.Attempts
	if !idempotent {
		attempts = 1
	}
	var triedBuf [maxAttempts]*upstream
	tried := triedBuf[:0]
	var lastErr error
	lastStatus := 0
	for a := 0; a < attempts; a++ {
		u := s.pick(tried)
		if u == nil {
			break
		}
		tried = append(tried, u)
		if a > 0 {
			s.m.retries.Inc()
		}
		start := time.Now()
		r := acquireResponse()
		s.prepare(ctx, &r.req)
		var body []byte
		if !idempotent {
			body = ctx.Request.Body()
		}
		err := r.exchange(u.conns, start, body, idempotent, ctx.IsHead(), s.cfg.HeaderTimeout, s.cfg.HeaderTimeout)
		u.m.requests.Inc()
		if err != nil {
			r.release()
			u.m.errors.Inc()
			s.eject(u, err.Error())
			lastErr = err
			continue
		}
		code := r.h.StatusCode()
		if idempotent && (code == fasthttp.StatusBadGateway || code == fasthttp.StatusServiceUnavailable || code == fasthttp.StatusGatewayTimeout) && a+1 < attempts {
			r.discard()
			r.release()
			u.m.errors.Inc()
			if code == fasthttp.StatusServiceUnavailable {
				s.eject(u, "answered 503") // shutting down or overloaded
			}
			lastStatus = code
			continue
		}
		u.m.latency.Since(start)
		s.respond(ctx, r)
		return
	}
	s.m.failed.Inc()
	switch {
	case len(tried) == 0:
		// Nothing in service here (and, without CrossZone, other zones are not an option):
		// /readyz says not ready too, and DNS stops handing out this balancer.
		ctx.Response.Header.SetBytesKV(hRetryAfter, vRetryAfter)
		httpx.Fail(ctx, fasthttp.StatusServiceUnavailable, "no healthy edge in the zone")
	case lastStatus != 0 && lastErr == nil:
		httpx.Fail(ctx, lastStatus, "edges failed")
	case isTimeout(lastErr):
		httpx.Fail(ctx, fasthttp.StatusGatewayTimeout, "edge timed out")
	default:
		httpx.Fail(ctx, fasthttp.StatusBadGateway, "edge unreachable")
	}
}

var (
	hLocation  = []byte("Location")
	hCacheCtl  = []byte("Cache-Control")
	vNoStore   = []byte("no-store")
	httpScheme = []byte("http://")
)

// redirect answers with a 302 to an edge in service, chosen as proxy would choose it; the
// answer is not to be cached, so that the next request is balanced again.
func (s *Server) redirect(ctx *fasthttp.RequestCtx) {
	u := s.pick(nil)
	if u == nil {
		s.m.failed.Inc()
		ctx.Response.Header.SetBytesKV(hRetryAfter, vRetryAfter)
		httpx.Fail(ctx, fasthttp.StatusServiceUnavailable, "no healthy edge in the zone")
		return
	}
	u.m.requests.Inc()
	s.m.redirects.Inc()
	var buf [512]byte
	loc := append(append(append(buf[:0], httpScheme...), u.addr...), ctx.Request.URI().RequestURI()...)
	ctx.Response.Header.SetBytesKV(hLocation, loc)
	ctx.Response.Header.SetBytesKV(hCacheCtl, vNoStore)
	ctx.SetStatusCode(fasthttp.StatusFound)
}

// prepare copies the client's request head for an edge: every end-to-end header (Range and the
// conditional headers included), X-Forwarded-For with the client's address appended, Via.
func (s *Server) prepare(ctx *fasthttp.RequestCtx, req *fasthttp.RequestHeader) {
	ctx.Request.Header.CopyTo(req)
	if uri := req.RequestURI(); len(uri) == 0 || uri[0] != '/' {
		req.SetRequestURIBytes(ctx.Request.URI().RequestURI()) // absolute form: the path only
	}
	if !ctx.IsGet() && !ctx.IsHead() {
		req.SetContentLength(len(ctx.Request.Body()))
	}
	for _, h := range hopByHop {
		req.DelBytes(h)
	}
	req.ResetConnectionClose()
	var ipb [64]byte
	addr := appendIP(ipb[:0], ctx.RemoteIP())
	if prior := ctx.Request.Header.PeekBytes(hXFF); len(prior) > 0 {
		var buf [256]byte
		v := append(append(append(buf[:0], prior...), ", "...), addr...)
		req.SetBytesKV(hXFF, v)
	} else {
		req.SetBytesKV(hXFF, addr)
	}
	req.SetBytesKV(hVia, s.via)
}

// respond hands the edge's response to the client: a body that came whole with the head is
// copied, a longer one streams from the edge's socket to the client's (splice, in WriteTo).
func (s *Server) respond(ctx *fasthttp.RequestCtx, r *edgeResponse) {
	r.h.CopyTo(&ctx.Response.Header)
	ctx.Response.Header.ResetConnectionClose()
	httpx.StripCORS(&ctx.Response.Header) // the balancer's own CORS answers, once
	for _, h := range hopByHop {
		ctx.Response.Header.DelBytes(h)
	}
	switch {
	case ctx.IsHead():
		ctx.Response.SkipBody = true
		r.release()
		s.armLastWrite(ctx)
	case r.body != nil && len(r.body) > 0:
		ctx.Response.SetBody(r.body)
		r.release()
	case r.buffered():
		p, _ := r.ec.br.Peek(int(r.n))
		ctx.Response.SetBody(p)
		r.ec.br.Discard(int(r.n))
		r.n = 0
		r.release()
		s.armLastWrite(ctx)
	default:
		ctx.Response.SetBodyStream(r, int(r.n))
	}
}

// armLastWrite arms the client connection's next write (httpx.ArmLastWrite), except while stopping:
// a connection waiting for its next request is not idle to fasthttp's Shutdown.
func (s *Server) armLastWrite(ctx *fasthttp.RequestCtx) {
	if !s.stopping.Load() {
		httpx.ArmLastWrite(ctx)
	}
}

func appendIP(dst []byte, ip []byte) []byte {
	if v4 := ipv4(ip); v4 != nil {
		for i, b := range v4 {
			if i > 0 {
				dst = append(dst, '.')
			}
			dst = fasthttp.AppendUint(dst, int(b))
		}
		return dst
	}
	return append(dst, fmtIP(ip)...)
}

func ipv4(ip []byte) []byte {
	switch len(ip) {
	case 4:
		return ip
	case 16:
		for _, b := range ip[:10] {
			if b != 0 {
				return nil
			}
		}
		if ip[10] == 0xff && ip[11] == 0xff {
			return ip[12:]
		}
	}
	return nil
}
