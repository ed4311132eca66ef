package httpx

import (
	"testing"

	"github.com/VictoriaMetrics/metrics"
	"github.com/valyala/fasthttp"
)

func status(h fasthttp.RequestHandler, path, token string) int {
	var ctx fasthttp.RequestCtx
	ctx.Request.SetRequestURI(path)
	if token != "" {
		ctx.Request.Header.Set("Authorization", "Bearer "+token)
	}
	h(&ctx)
	return ctx.Response.StatusCode()
}

// TestEndpoints: before Separate the client port serves every shared endpoint (pprof behind the
// token when there is one); after it, only /healthz, /readyz and content, while the admin
// handler serves /metrics to anyone and /debug/pprof/ and the server's admin routes only with
// the token.
func TestEndpoints(t *testing.T) {
	set := metrics.NewSet()
	set.NewCounter("edgecdn_test_total")
	content := func(ctx *fasthttp.RequestCtx) { ctx.SetStatusCode(299) }
	route := func(ctx *fasthttp.RequestCtx) {
		if Authorized(ctx, "s3cret") {
			ctx.SetStatusCode(298)
		}
	}
	e := &Endpoints{Metrics: set, Ready: func() bool { return true }, Token: "s3cret"}
	client, admin := e.Client(content), e.AdminHandler(route)
	for _, c := range []struct {
		h          fasthttp.RequestHandler
		separate   bool
		path, tok  string
		wantStatus int
	}{
		{client, false, "/healthz", "", 200},
		{client, false, "/metrics", "", 200},
		{client, false, "/debug/pprof/", "", 401},
		{client, false, "/debug/pprof/cmdline", "wrong", 401},
		{client, false, "/debug/pprof/", "s3cret", 200},
		{client, false, "/vod/x/master.m3u8", "", 299},
		{client, true, "/healthz", "", 200},
		{client, true, "/readyz", "", 200},
		{client, true, "/metrics", "", 299}, // content's, not the metrics: the server's 404
		{client, true, "/debug/pprof/", "s3cret", 299},
		{admin, true, "/metrics", "", 200},
		{admin, true, "/healthz", "", 200},
		{admin, true, "/debug/pprof/cmdline", "", 401},
		{admin, true, "/debug/pprof/cmdline", "s3cret", 200},
		{admin, true, "/cluster", "", 401},
		{admin, true, "/cluster", "s3cret", 298},
	} {
		if c.separate {
			e.Separate()
		}
		if got := status(c.h, c.path, c.tok); got != c.wantStatus {
			t.Errorf("separate %v, %s with token %q: %d, want %d", c.separate, c.path, c.tok, got, c.wantStatus)
		}
	}
	// Without a token, pprof is open and so are the admin routes.
	open := &Endpoints{Metrics: set}
	if got := status(open.Client(content), "/debug/pprof/", ""); got != 200 {
		t.Errorf("no token: pprof %d, want 200", got)
	}
	if got := status(open.AdminHandler(nil), "/cluster", ""); got != 404 {
		t.Errorf("no routes: /cluster %d, want 404", got)
	}
	// Not ready: 503.
	notReady := &Endpoints{Ready: func() bool { return false }}
	if got := status(notReady.Client(content), "/readyz", ""); got != 503 {
		t.Errorf("not ready: /readyz %d, want 503", got)
	}
}
