// Package origin serves a packaged catalog over HTTP: playlists and segments with ranges,
// conditional requests, strong ETags and the cache headers edges rely on.
package origin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/valyala/fasthttp"

	"edgecdn/internal/httpx"
	"edgecdn/internal/promhist"
)

// Server is an origin.
type Server struct {
	cfg      Config
	log      *slog.Logger
	idx      *index
	srv      *fasthttp.Server
	admin    *fasthttp.Server // the admin listener's server (ServeAdmin)
	ep       *httpx.Endpoints
	set      *metrics.Set
	stopping atomic.Bool
	m        originMetrics
	servedBy []byte
}

// New indexes cfg.Content and returns an origin ready to serve it.
func New(cfg Config) (*Server, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	start := time.Now()
	idx, err := load(&cfg, cfg.Logger)
	if err != nil {
		return nil, fmt.Errorf("origin: %w", err)
	}
	s := &Server{cfg: cfg, log: cfg.Logger, idx: idx, set: metrics.NewSet(), servedBy: []byte(cfg.Name)}
	s.m.init(s.set, idx)
	s.ep = &httpx.Endpoints{Metrics: s.set, Ready: s.Ready, Token: cfg.AdminToken}
	h, err := httpx.CORS(httpx.CORSConfig{Origins: cfg.CORSOrigins, Preflights: s.set.NewCounter("edgecdn_origin_cors_preflights_total")},
		s.ep.Client(s.serveContent))
	if err != nil {
		return nil, fmt.Errorf("origin: %w", err)
	}
	s.srv = httpx.NewServer(h, httpx.Options{Name: "edgecdn-origin", Logger: cfg.Logger})
	s.admin = httpx.NewServer(s.ep.AdminHandler(nil), httpx.Options{Name: "edgecdn-origin-admin", Logger: cfg.Logger})
	s.log.Info("content loaded", "folder", cfg.Content, "titles", idx.titles, "files", len(idx.files),
		"bytes", idx.bytes, "in_memory", idx.preloaded, "hashed", idx.hashed, "rejected", idx.rejected,
		"took", time.Since(start).Round(time.Millisecond))
	return s, nil
}

// Handler returns the origin's whole HTTP handler (content and admin endpoints), for tests and
// for embedding in another fasthttp server.
func (s *Server) Handler() fasthttp.RequestHandler { return s.srv.Handler }

// Metrics returns the origin's metric set.
func (s *Server) Metrics() *metrics.Set { return s.set }

// Ready reports whether the origin should get traffic: loaded and not shutting down.
func (s *Server) Ready() bool { return !s.stopping.Load() }

// ServeAdmin serves /metrics and /debug/pprof/ (and /healthz, /readyz) on ln, and stops the
// content listener from answering them. Call it before Serve.
func (s *Server) ServeAdmin(ln net.Listener) error {
	return s.ep.ServeAdmin(s.admin, ln, s.log, "origin")
}

// Drain starts a graceful stop: /readyz answers 503 while the origin keeps serving.
func (s *Server) Drain() { s.stopping.Store(true) }

// Serve serves HTTP on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	s.log.Info("origin listening", "addr", ln.Addr().String(), "name", s.cfg.Name)
	return s.srv.Serve(ln)
}

// Shutdown stops accepting connections, lets in-flight responses finish and closes idle
// connections, until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	s.stopping.Store(true)
	return errors.Join(httpx.Shutdown(ctx, s.srv), httpx.Shutdown(ctx, s.admin))
}

type originMetrics struct {
	requests [numKinds][numCodes]*metrics.Counter
	bytes    [numKinds]*metrics.Counter
	latency  [numKinds]*promhist.Histogram
}

// codes are the statuses the origin answers with; anything else is counted as "other".
var codes = [...]int{200, 206, 304, 400, 404, 405, 412, 414, 416, 500, 0}

const numCodes = len(codes)

func codeIndex(c int) int {
	for i, x := range codes[:numCodes-1] {
		if x == c {
			return i
		}
	}
	return numCodes - 1
}

func (m *originMetrics) init(set *metrics.Set, idx *index) {
	for k := kind(0); k < numKinds; k++ {
		for i, c := range codes {
			code := fmt.Sprint(c)
			if c == 0 {
				code = "other"
			}
			m.requests[k][i] = set.NewCounter(fmt.Sprintf(`edgecdn_origin_requests_total{kind=%q,code=%q}`, kindNames[k], code))
		}
		m.bytes[k] = set.NewCounter(fmt.Sprintf(`edgecdn_origin_sent_bytes_total{kind=%q}`, kindNames[k]))
		m.latency[k] = promhist.New(set, "edgecdn_origin_request_duration_seconds", fmt.Sprintf(`kind=%q`, kindNames[k]), promhist.LatencyBuckets)
	}
	set.NewGauge("edgecdn_origin_files", func() float64 { return float64(len(idx.files)) })
	set.NewGauge("edgecdn_origin_titles", func() float64 { return float64(idx.titles) })
	set.NewGauge("edgecdn_origin_content_bytes", func() float64 { return float64(idx.bytes) })
	set.NewGauge("edgecdn_origin_memory_bytes", func() float64 { return float64(idx.preloaded) })
	set.NewGauge("edgecdn_origin_rejected_files", func() float64 { return float64(idx.rejected) })
}
