package edge

import (
	"bytes"
	"fmt"
	"net"

	"github.com/valyala/fasthttp"

	"edgecdn/internal/httpx"
	"edgecdn/internal/purge"
)

// serveAdmin answers /admin/ endpoints, which need "Authorization: Bearer <AdminToken>":
//
//	POST /admin/purge?path=/vod/t/300k/seg00001.ts   drop one object (memory and disk)
//	POST /admin/purge?prefix=/vod/t/                  drop every object under a prefix
//
// On an edge in a cluster, a purge goes to every edge of every zone (package purge: it answers
// once every live edge has confirmed, or with the ones missing at the deadline, ?wait=, default
// 5s); &scope=local keeps it to this edge, which answers {"purged": N}.
func (s *Server) serveAdmin(ctx *fasthttp.RequestCtx) {
	ctx.Response.Header.Set("Cache-Control", "no-store")
	if s.cfg.AdminToken == "" {
		httpx.Fail(ctx, fasthttp.StatusNotFound, "admin endpoints are off (--admin-token)")
		return
	}
	if !s.authorized(ctx) {
		return
	}
	if h := s.adminHandlers[string(ctx.Request.URI().PathOriginal())]; h != nil {
		h(ctx)
		return
	}
	if !bytes.Equal(ctx.Request.URI().PathOriginal(), []byte("/admin/purge")) {
		httpx.Fail(ctx, fasthttp.StatusNotFound, "not found")
		return
	}
	if !ctx.IsPost() {
		ctx.Response.Header.Set("Allow", "POST")
		httpx.Fail(ctx, fasthttp.StatusMethodNotAllowed, "method not allowed")
		return
	}
	args := ctx.QueryArgs()
	if c := s.cluster.Load(); c != nil && c.EventsOn() && string(args.Peek("scope")) != "local" {
		purge.Serve(ctx, c)
		return
	}
	r, err := purge.Parse(args.Peek("path"), args.Peek("prefix"))
	if err != nil {
		httpx.Fail(ctx, fasthttp.StatusBadRequest, err.Error())
		return
	}
	n := s.purgeLocal(r)
	s.log.Info("purged", "path", r.Path, "prefix", r.Prefix, "objects", n)
	ctx.Response.Header.SetContentType("application/json")
	fmt.Fprintf(ctx, "{\"purged\":%d}\n", n)
}

// authorized checks the bearer token of an admin request, answering 401 when it is wrong.
func (s *Server) authorized(ctx *fasthttp.RequestCtx) bool {
	return httpx.Authorized(ctx, s.cfg.AdminToken)
}

// adminRoute answers the admin endpoints: /admin/... and /cluster (which needs the token when
// there is one: it lists every member's address).
func (s *Server) adminRoute(ctx *fasthttp.RequestCtx) {
	raw := ctx.Request.URI().PathOriginal()
	switch {
	case bytes.HasPrefix(raw, pAdmin):
		s.serveAdmin(ctx)
	case bytes.Equal(raw, pCluster):
		if s.authorized(ctx) {
			s.serveCluster(ctx)
		}
	default:
		httpx.Fail(ctx, fasthttp.StatusNotFound, "not found")
	}
}

// ServeAdmin serves /admin/, /cluster, /metrics and pprof (and /healthz, /readyz) on ln, and
// stops the content listener from answering them: admin traffic can then be kept off the
// public address. Call it before Serve.
func (s *Server) ServeAdmin(ln net.Listener) error {
	return s.ep.ServeAdmin(s.admin, ln, s.log, "edge")
}
