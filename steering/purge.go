package steering

import (
	"bytes"

	"github.com/valyala/fasthttp"

	"edgecdn/internal/httpx"
	"edgecdn/internal/purge"
)

var pAdmin = []byte("/admin/")

// adminRoute answers the service's /admin/ endpoints, which need the admin token:
//
//	POST /admin/purge?path=P|prefix=P[&wait=5s]   purge on every edge of every zone (package purge)
func (s *Server) adminRoute(ctx *fasthttp.RequestCtx) {
	p := ctx.Request.URI().PathOriginal()
	if s.cfg.AdminToken == "" || !bytes.Equal(p, []byte("/admin/purge")) {
		httpx.Fail(ctx, fasthttp.StatusNotFound, "not found")
		return
	}
	if !httpx.Authorized(ctx, s.cfg.AdminToken) {
		return
	}
	purge.Serve(ctx, s.cluster.Load())
}

// withAdmin answers /admin/ on the client listener too, until an admin listener takes it
// (ServeAdmin).
func (s *Server) withAdmin(next fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		if bytes.HasPrefix(ctx.Request.URI().PathOriginal(), pAdmin) {
			if s.ep.Separated() {
				httpx.Fail(ctx, fasthttp.StatusNotFound, "not found")
				return
			}
			s.adminRoute(ctx)
			return
		}
		next(ctx)
	}
}
