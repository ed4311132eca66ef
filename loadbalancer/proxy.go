package loadbalancer

import (
	"errors"
	"io"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"edgecdn/internal/httpx"
)

const maxAttempts = 4

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
	idempotent := ctx.IsGet() || ctx.IsHead()
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
		req := fasthttp.AcquireRequest()
		resp := fasthttp.AcquireResponse()
		s.prepare(ctx, req)
		err := u.hc.Do(req, resp)
		fasthttp.ReleaseRequest(req)
		u.m.requests.Inc()
		if err != nil {
			fasthttp.ReleaseResponse(resp)
			u.m.errors.Inc()
			s.eject(u, err.Error())
			lastErr = err
			continue
		}
		code := resp.StatusCode()
		if idempotent && (code == fasthttp.StatusBadGateway || code == fasthttp.StatusServiceUnavailable || code == fasthttp.StatusGatewayTimeout) && a+1 < attempts {
			resp.CloseBodyStream()
			fasthttp.ReleaseResponse(resp)
			u.m.errors.Inc()
			if code == fasthttp.StatusServiceUnavailable {
				s.eject(u, "answered 503") // shutting down or overloaded
			}
			lastStatus = code
			continue
		}
		u.m.latency.Since(start)
		s.respond(ctx, resp)
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
	case errors.Is(lastErr, fasthttp.ErrTimeout):
		httpx.Fail(ctx, fasthttp.StatusGatewayTimeout, "edge timed out")
	default:
		httpx.Fail(ctx, fasthttp.StatusBadGateway, "edge unreachable")
	}
}

// prepare copies the client's request for an edge: every end-to-end header (Range and the
// conditional headers included), X-Forwarded-For with the client's address appended, Via.
func (s *Server) prepare(ctx *fasthttp.RequestCtx, req *fasthttp.Request) {
	ctx.Request.Header.CopyTo(&req.Header)
	if !ctx.IsGet() && !ctx.IsHead() {
		req.SetBodyRaw(ctx.Request.Body())
	}
	for _, h := range hopByHop {
		req.Header.DelBytes(h)
	}
	req.Header.ResetConnectionClose()
	var ipb [64]byte
	addr := appendIP(ipb[:0], ctx.RemoteIP())
	if prior := ctx.Request.Header.PeekBytes(hXFF); len(prior) > 0 {
		var buf [256]byte
		v := append(append(append(buf[:0], prior...), ", "...), addr...)
		req.Header.SetBytesKV(hXFF, v)
	} else {
		req.Header.SetBytesKV(hXFF, addr)
	}
	req.Header.SetBytesKV(hVia, s.via)
}

// respond hands the edge's response to the client, streaming its body.
func (s *Server) respond(ctx *fasthttp.RequestCtx, resp *fasthttp.Response) {
	resp.Header.CopyTo(&ctx.Response.Header)
	ctx.Response.Header.ResetConnectionClose()
	httpx.StripCORS(&ctx.Response.Header) // the balancer's own CORS answers, once
	for _, h := range hopByHop {
		ctx.Response.Header.DelBytes(h)
	}
	if ctx.IsHead() {
		ctx.Response.SkipBody = true
		resp.CloseBodyStream()
		fasthttp.ReleaseResponse(resp)
		return
	}
	if stream := resp.BodyStream(); stream != nil {
		pb := bodyPool.Get().(*proxyBody)
		pb.r, pb.resp = stream, resp
		ctx.Response.SetBodyStream(pb, resp.Header.ContentLength())
		return
	}
	ctx.Response.SetBody(resp.Body())
	fasthttp.ReleaseResponse(resp)
}

// proxyBody streams an edge's response body to the client and releases the response after.
type proxyBody struct {
	r    io.Reader
	resp *fasthttp.Response
}

var bodyPool = sync.Pool{New: func() any { return new(proxyBody) }}

func (b *proxyBody) Read(p []byte) (int, error) { return b.r.Read(p) }

func (b *proxyBody) Close() error {
	err := b.resp.CloseBodyStream()
	fasthttp.ReleaseResponse(b.resp)
	b.r, b.resp = nil, nil
	bodyPool.Put(b)
	return err
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
