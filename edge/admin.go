package edge

import (
	"bytes"
	"crypto/subtle"
	"fmt"

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
	auth := ctx.Request.Header.Peek("Authorization")
	tok, ok := bytes.CutPrefix(auth, []byte("Bearer "))
	if !ok || subtle.ConstantTimeCompare(tok, []byte(s.cfg.AdminToken)) != 1 {
		ctx.Response.Header.Set("WWW-Authenticate", `Bearer realm="edgecdn"`)
		httpx.Fail(ctx, fasthttp.StatusUnauthorized, "unauthorized")
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
