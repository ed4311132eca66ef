package edge

import (
	"bytes"
	"fmt"
	"net"

	"github.com/valyala/fasthttp"

	"edgecdn/internal/httpx"
	"edgecdn/internal/urlpath"
)

// serveAdmin answers /admin/ endpoints, which need "Authorization: Bearer <AdminToken>":
//
//	POST /admin/purge?path=/vod/t/300k/seg00001.ts   drop one object (memory and disk)
//	POST /admin/purge?prefix=/vod/t/                  drop every object under a prefix
//
// Both answer {"purged": N}.
func (s *Server) serveAdmin(ctx *fasthttp.RequestCtx) {
	ctx.Response.Header.Set("Cache-Control", "no-store")
	if s.cfg.AdminToken == "" {
		httpx.Fail(ctx, fasthttp.StatusNotFound, "admin endpoints are off (--admin-token)")
		return
	}
	if !s.authorized(ctx) {
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
	path, prefix := args.Peek("path"), args.Peek("prefix")
	if (len(path) == 0) == (len(prefix) == 0) {
		httpx.Fail(ctx, fasthttp.StatusBadRequest, "give exactly one of path= and prefix=")
		return
	}
	var n int
	if len(path) > 0 {
		key, err := AppendKey(nil, path, nil, nil)
		if err != nil {
			httpx.Fail(ctx, fasthttp.StatusBadRequest, "bad path")
			return
		}
		// The object and any allowlisted-query variants of it.
		n = s.cache.DeletePrefix(string(key) + "?")
		if s.cache.Delete(string(key)) {
			n++
		}
		if s.disk != nil {
			s.disk.deletePrefix(string(key))
		}
	} else {
		// A prefix is cleaned like a path, but may end in a slash.
		clean, err := urlpath.Clean(nil, prefix)
		if err != nil || len(clean) < 2 {
			httpx.Fail(ctx, fasthttp.StatusBadRequest, "bad prefix")
			return
		}
		n = s.cache.DeletePrefix(string(clean))
		if s.disk != nil {
			s.disk.deletePrefix(string(clean))
		}
	}
	s.m.purged.Add(n)
	s.log.Info("purged", "path", string(path), "prefix", string(prefix), "objects", n)
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
	s.ep.Separate()
	s.log.Info("edge admin listening", "addr", ln.Addr().String())
	return s.admin.Serve(ln)
}
