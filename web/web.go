// Package web serves the browser player: one page that plays a title with hls.js or dash.js,
// through content steering or straight from an edge, beside a live panel of what the CDN did
// (pathway, serving edge and cache status of every segment, bitrate, buffer, stalls, time to
// first frame).
//
// The page, its script and style are embedded in the binary. The players are not: they come
// from the npm registry, pinned in package-lock.json, and `npm ci` in this folder installs them
// into node_modules/, which the handler reads from disk (Config.Dir). Without them the page
// still loads and says how to get them.
package web

import (
	"embed"
	"io/fs"
	"mime"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/valyala/fasthttp"
)

//go:embed static
var static embed.FS

// Prefix is where the handler serves: /player/ is the page, /player/vendor/ the players.
const Prefix = "/player/"

// Vendor files: URL name under Prefix+"vendor/" to path under Config.Dir.
var vendor = map[string]string{
	"hls.min.js":      "node_modules/hls.js/dist/hls.min.js",
	"dash.all.min.js": "node_modules/dashjs/dist/modern/umd/dash.all.min.js",
}

// Missing is what a request for a player that is not installed gets, and what the page shows.
const Missing = "the web players are not installed: run `cd web && npm ci` in the edgecdn source tree " +
	"(or `make web`), or point --web-dir / EDGECDN_WEB_DIR at a folder holding node_modules/hls.js and node_modules/dashjs"

// Config configures the handler.
type Config struct {
	// Dir holds node_modules/hls.js and node_modules/dashjs (this folder after `npm ci`).
	// Default: $EDGECDN_WEB_DIR, else the first of ./web, ../web, ../../web, ... that has
	// node_modules (so the binary finds them when run anywhere in the source tree).
	Dir string
}

// Handler serves the page under Prefix.
type Handler struct {
	dir   string
	files fs.FS
}

// New returns a handler.
func New(cfg Config) *Handler {
	if cfg.Dir == "" {
		cfg.Dir = FindDir()
	}
	sub, _ := fs.Sub(static, "static")
	return &Handler{dir: cfg.Dir, files: sub}
}

// FindDir returns $EDGECDN_WEB_DIR when set, else the nearest web/ folder, from the working
// directory up, whose node_modules holds the players; "" when there is none.
func FindDir() string {
	if d := os.Getenv("EDGECDN_WEB_DIR"); d != "" {
		return d
	}
	wd, err := os.Getwd()
	if err != nil {
		return ""
	}
	for d := wd; ; d = filepath.Dir(d) {
		for _, c := range []string{filepath.Join(d, "web"), d} {
			if Installed(c) {
				return c
			}
		}
		if filepath.Dir(d) == d {
			return ""
		}
	}
}

// Installed reports whether dir holds both players.
func Installed(dir string) bool {
	if dir == "" {
		return false
	}
	for _, p := range vendor {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			return false
		}
	}
	return true
}

// Dir returns the folder the players are read from ("" when none was found).
func (h *Handler) Dir() string { return h.dir }

// Serve answers GET and HEAD under Prefix; the caller routes only those paths here.
func (h *Handler) Serve(ctx *fasthttp.RequestCtx) {
	p := string(ctx.Path())
	if p == strings.TrimSuffix(Prefix, "/") {
		ctx.Redirect(Prefix, fasthttp.StatusMovedPermanently)
		return
	}
	name, ok := strings.CutPrefix(p, Prefix)
	if !ok {
		ctx.Error("not found", fasthttp.StatusNotFound)
		return
	}
	if name == "" {
		name = "index.html"
	}
	if v, ok := strings.CutPrefix(name, "vendor/"); ok {
		h.serveVendor(ctx, v)
		return
	}
	if strings.Contains(name, "/") || strings.HasPrefix(name, ".") {
		ctx.Error("not found", fasthttp.StatusNotFound)
		return
	}
	b, err := fs.ReadFile(h.files, name)
	if err != nil {
		ctx.Error("not found", fasthttp.StatusNotFound)
		return
	}
	ctx.Response.Header.Set("Cache-Control", "no-cache")
	ctx.SetContentType(contentType(name))
	ctx.SetBody(b)
}

func (h *Handler) serveVendor(ctx *fasthttp.RequestCtx, name string) {
	rel, ok := vendor[name]
	if !ok {
		ctx.Error("not found", fasthttp.StatusNotFound)
		return
	}
	if h.dir == "" {
		ctx.Error(Missing, fasthttp.StatusNotFound)
		return
	}
	b, err := os.ReadFile(filepath.Join(h.dir, rel))
	if err != nil {
		ctx.Error(Missing, fasthttp.StatusNotFound)
		return
	}
	ctx.Response.Header.Set("Cache-Control", "no-cache")
	ctx.SetContentType(contentType(name))
	ctx.SetBody(b)
}

func contentType(name string) string {
	if t := mime.TypeByExtension(path.Ext(name)); t != "" {
		return t
	}
	return "application/octet-stream"
}
