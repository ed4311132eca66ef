// Package origin serves a packaged catalog over HTTP: playlists and segments with ranges,
// conditional requests, strong ETags and the cache headers edges rely on.
package origin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/valyala/fasthttp"

	"edgecdn/internal/httpx"
	"edgecdn/internal/promhist"
)

// Config configures an origin. Zero values mean the defaults in the field comments.
type Config struct {
	Content        string        // the content folder written by `edgecdn package`. Required.
	Name           string        // this origin's name in logs and the X-Served-By header; default the hostname
	PlaylistMaxAge time.Duration // Cache-Control max-age of playlists and catalog.json; default 2s
	SegmentMaxAge  time.Duration // Cache-Control max-age of segments, which are also immutable; default 365 days
	PreloadBytes   int64         // segment bytes held in memory (the rest is sent from disk); default 512 MiB. Files up to 64 KiB are always held.
	Verify         bool          // hash every segment at load and refuse to serve those that differ from catalog.json
	// CORSOrigins are the origins whose web pages may read responses (httpx.CORSConfig.Origins:
	// "https://player.example.com"); default none listed, which allows every origin ("*").
	CORSOrigins []string
	Logger      *slog.Logger // default slog.Default()
}

func (c *Config) setDefaults() error {
	if c.Content == "" {
		return errors.New("origin: no content folder (--content)")
	}
	if c.Name == "" {
		c.Name, _ = os.Hostname()
	}
	if c.PlaylistMaxAge == 0 {
		c.PlaylistMaxAge = 2 * time.Second
	}
	if c.SegmentMaxAge == 0 {
		c.SegmentMaxAge = 365 * 24 * time.Hour
	}
	if c.PreloadBytes == 0 {
		c.PreloadBytes = 512 << 20
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// Server is an origin.
type Server struct {
	cfg      Config
	log      *slog.Logger
	idx      *index
	srv      *fasthttp.Server
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
	h, err := httpx.CORS(httpx.CORSConfig{Origins: cfg.CORSOrigins, Preflights: s.set.NewCounter("edgecdn_origin_cors_preflights_total")},
		httpx.Admin(s.set, s.Ready, s.serveContent))
	if err != nil {
		return nil, fmt.Errorf("origin: %w", err)
	}
	s.srv = httpx.NewServer(h, httpx.Options{Name: "edgecdn-origin", Logger: cfg.Logger})
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

// Serve serves HTTP on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	s.log.Info("origin listening", "addr", ln.Addr().String(), "name", s.cfg.Name)
	return s.srv.Serve(ln)
}

// Shutdown stops accepting connections, lets in-flight responses finish and closes idle
// connections, until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	s.stopping.Store(true)
	return httpx.Shutdown(ctx, s.srv)
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
