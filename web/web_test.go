package web

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

func get(h *Handler, path string) (int, string, string) {
	var ctx fasthttp.RequestCtx
	ctx.Request.SetRequestURI(path)
	h.Serve(&ctx)
	return ctx.Response.StatusCode(), string(ctx.Response.Header.ContentType()), string(ctx.Response.Body())
}

func TestServe(t *testing.T) {
	dir := t.TempDir()
	for _, p := range vendor {
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, p), []byte("/* "+p+" */"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	installed, missing := New(Config{Dir: dir}), New(Config{Dir: t.TempDir()})
	tests := []struct {
		h        *Handler
		path     string
		status   int
		ctype    string
		contains string
	}{
		{installed, "/player/", 200, "text/html", "<video"},
		{installed, "/player/index.html", 200, "text/html", "player.js"},
		{installed, "/player/player.js", 200, "javascript", "window.edgecdn"},
		{installed, "/player/player.css", 200, "text/css", "video"},
		{installed, "/player/vendor/hls.min.js", 200, "javascript", "hls.js/dist/hls.min.js"},
		{installed, "/player/vendor/dash.all.min.js", 200, "javascript", "dashjs"},
		{installed, "/player", 301, "", ""},
		{installed, "/player/vendor/package.json", 404, "", ""},
		{installed, "/player/vendor/../../etc/passwd", 404, "", ""},
		{installed, "/player/..%2fweb.go", 404, "", ""},
		{installed, "/player/nope.html", 404, "", ""},
		{installed, "/elsewhere", 404, "", ""},
		{missing, "/player/", 200, "text/html", "<video"},
		{missing, "/player/vendor/hls.min.js", 404, "", "npm ci"},
		{missing, "/player/vendor/dash.all.min.js", 404, "", "npm ci"},
	}
	for _, tt := range tests {
		status, ctype, body := get(tt.h, tt.path)
		if status != tt.status || !strings.Contains(ctype, tt.ctype) || !strings.Contains(body, tt.contains) {
			t.Errorf("GET %s = %d %q %.60q, want %d %q containing %q", tt.path, status, ctype, body, tt.status, tt.ctype, tt.contains)
		}
	}
}

func TestInstalled(t *testing.T) {
	if Installed("") || Installed(t.TempDir()) {
		t.Error("Installed: true for a folder without the players")
	}
	dir := t.TempDir()
	t.Setenv("EDGECDN_WEB_DIR", dir)
	if got := FindDir(); got != dir {
		t.Errorf("FindDir() = %q with EDGECDN_WEB_DIR=%q", got, dir)
	}
}
