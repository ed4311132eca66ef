package steering

import (
	"testing"

	"github.com/valyala/fasthttp"
)

// TestPlayerRoute: /player/ goes to Config.Player when set, and is a 404 like any unknown path
// otherwise; the player never shadows the steering API.
func TestPlayerRoute(t *testing.T) {
	page := func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("page " + string(ctx.Path())) }
	with, err := New(Config{Origins: []string{"http://127.0.0.1:1"}, Player: page, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	without, err := New(Config{Origins: []string{"http://127.0.0.1:1"}, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		s      *Server
		method string
		path   string
		status int
		body   string
	}{
		{with, "GET", "/player/", 200, "page /player/"},
		{with, "GET", "/player", 200, "page /player"},
		{with, "GET", "/player/vendor/hls.min.js", 200, "page /player/vendor/hls.min.js"},
		{with, "HEAD", "/player/", 200, ""},
		{with, "POST", "/player/", 405, ""},
		{with, "GET", "/players", 404, ""},
		{with, "GET", "/steer/bad%20title", 400, ""},
		{without, "GET", "/player/", 404, ""},
	}
	for _, tt := range tests {
		var ctx fasthttp.RequestCtx
		ctx.Request.Header.SetMethod(tt.method)
		ctx.Request.SetRequestURI(tt.path)
		tt.s.Handler()(&ctx)
		if got := ctx.Response.StatusCode(); got != tt.status {
			t.Errorf("%s %s: status %d, want %d", tt.method, tt.path, got, tt.status)
		}
		if tt.body != "" && string(ctx.Response.Body()) != tt.body {
			t.Errorf("%s %s: body %q, want %q", tt.method, tt.path, ctx.Response.Body(), tt.body)
		}
	}
}
