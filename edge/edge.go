// Package edge is the edgecdn cache node: it serves playlists and segments from memory (and an
// optional disk tier), fills misses from the origins with one fetch per object however many
// clients ask, streams fills to the waiting clients as bytes arrive, and never caches or passes
// off as complete a body whose length or hash is wrong.
package edge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"net/http"

	"github.com/VictoriaMetrics/metrics"
	"github.com/valyala/fasthttp"

	"edgecdn/edge/cache"
	"edgecdn/internal/cluster"
	"edgecdn/internal/evloop"
	"edgecdn/internal/httpx"
)

// Server is an edge.
type Server struct {
	cfg     Config
	log     *slog.Logger
	cache   *cache.Cache[*object]
	disk    *disk
	origins *origins
	srv     *fasthttp.Server
	set     *metrics.Set
	m       edgeMetrics
	h       headers
	zc      httpx.ZeroCopy

	mu       sync.Mutex
	inflight map[fillKey]*fill
	purges   purges // purge.go

	eventHandlers map[string]func(cluster.Event) []byte // cluster event kinds besides purges (ClusterEvent)
	adminHandlers map[string]fasthttp.RequestHandler    // /admin/ paths besides /admin/purge, by path
	popular       popular                               // sessions per title (prefill.go)

	prefillMu      sync.Mutex
	prefillStop    context.CancelFunc // ends the plan running
	prefillRunning atomic.Int32

	cluster atomic.Pointer[cluster.Cluster]
	place   atomic.Pointer[routing]
	hot     hotTracker
	peers   *http.Client

	load                atomic.Pointer[cluster.Load]
	cmsd                atomic.Pointer[[]byte] // CMSD-Dynamic value
	sampleMu            sync.Mutex
	loadAt              time.Time // the sampler's own state
	loadReqs, loadBytes uint64

	loops loops // the event loop engine (loop_linux.go)

	stopping atomic.Bool      // draining or stopped: /readyz 503, CMSD du, Connection: close
	ep       *httpx.Endpoints // /healthz, /readyz, /metrics, pprof; on the admin listener after ServeAdmin
	admin    *fasthttp.Server // the admin listener's server
	ctx      context.Context  // ends at Shutdown: the probe and disk writer
	cancel   context.CancelFunc
	wg       sync.WaitGroup // fills, probe and disk writer
}

// New returns an edge for cfg.
func New(cfg Config) (*Server, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: cfg.Logger, set: metrics.NewSet(), inflight: map[fillKey]*fill{}}
	s.hot.window, s.hot.threshold = cfg.HotWindow, cfg.HotThreshold
	s.peers = &http.Client{
		Transport: &http.Transport{
			Proxy:                 nil,
			DialContext:           (&net.Dialer{Timeout: cfg.PeerTimeout, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConnsPerHost:   256,
			IdleConnTimeout:       90 * time.Second,
			ResponseHeaderTimeout: cfg.OriginHeaderTimeout + cfg.PeerTimeout, // the owner may itself be waiting on an origin
			DisableCompression:    true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	s.h = newHeaders(cfg.Name)
	s.ep = &httpx.Endpoints{Metrics: s.set, Ready: s.Ready, Token: cfg.AdminToken}
	h, err := httpx.CORS(httpx.CORSConfig{Origins: cfg.CORSOrigins, Preflights: s.set.NewCounter("edgecdn_edge_cors_preflights_total")},
		s.ep.Client(s.route))
	if err != nil {
		return nil, fmt.Errorf("edge: %w", err)
	}
	s.origins, err = newOrigins(cfg.Origins, cfg.OriginHeaderTimeout, "1.1 "+cfg.Name+" (edgecdn)")
	if err != nil {
		return nil, fmt.Errorf("edge: %w", err)
	}
	s.cache, err = cache.New(cache.Config[*object]{MaxBytes: cfg.CacheBytes, Policy: cfg.CachePolicy})
	if err != nil {
		return nil, fmt.Errorf("edge: %w", err)
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if cfg.DiskDir != "" {
		s.disk, err = openDisk(cfg.DiskDir, cfg.DiskBytes, s.log)
		if err != nil {
			return nil, fmt.Errorf("edge: %w", err)
		}
		s.wg.Add(1)
		go func() { defer s.wg.Done(); s.disk.writer(s.ctx) }()
	}
	s.m.init(s)
	if cfg.ProbeInterval > 0 {
		s.wg.Add(1)
		go func() { defer s.wg.Done(); s.origins.probe(s.ctx, cfg.ProbeInterval, cfg.OriginHeaderTimeout) }()
	}
	if cfg.OriginResolve > 0 {
		s.origins.resolving = true
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.origins.resolve(s.ctx, cfg.OriginResolve, cfg.OriginLookup, s.log)
		}()
	}
	s.srv = httpx.NewServer(h, httpx.Options{Name: "edgecdn-edge", Logger: cfg.Logger, ConnState: s.zc.ConnState})
	s.admin = httpx.NewServer(s.ep.AdminHandler(s.adminRoute), httpx.Options{Name: "edgecdn-edge-admin", Logger: cfg.Logger})
	s.sample()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-s.ctx.Done():
				return
			case <-t.C:
				s.sample()
			}
		}
	}()
	return s, nil
}

// Handler returns the edge's whole HTTP handler, for tests and benchmarks.
func (s *Server) Handler() fasthttp.RequestHandler { return s.srv.Handler }

// Metrics returns the edge's metric set.
func (s *Server) Metrics() *metrics.Set { return s.set }

// Ready reports whether the edge should get traffic: not draining, with --origin-resolve some
// origin's name resolved once (usable: until then every miss would answer 502), and, in a
// cluster, joined (it has seen another member, or found nobody to join: the first edge).
func (s *Server) Ready() bool {
	if s.stopping.Load() || !s.origins.usable() {
		return false
	}
	c := s.cluster.Load()
	if c == nil {
		return !s.cfg.Clustered
	}
	return c.Joined()
}

// Drain starts a graceful stop: /readyz answers 503, responses carry CMSD "du" (players move
// to their next edge) and "Connection: close", and the cluster hears that the edge is
// draining, so balancers, steering and the other edges' rings stop choosing it at once. The
// edge keeps serving whatever it is still sent until Shutdown.
func (s *Server) Drain() {
	cluster.Drain(&s.stopping, &s.cluster, s.log, s.sample)
}

// Serve serves HTTP on ln until Shutdown: with the event loops (Config.Engine) when ln is a
// TCP listener on Linux, else with the fasthttp server alone.
func (s *Server) Serve(ln net.Listener) error {
	s.log.Info("edge listening", "addr", ln.Addr().String(), "name", s.cfg.Name, "origins", s.cfg.Origins,
		"cache", s.cfg.CacheBytes, "disk", s.cfg.DiskDir, "engine", s.cfg.Engine)
	if s.cfg.Engine == evloop.EngineLoop {
		if served, err := s.serveLoops(ln); served {
			return err
		}
	}
	return s.srv.Serve(httpx.ClientListener{Listener: ln, NotsentLowat: s.cfg.NotsentLowat})
}

// Shutdown stops accepting connections, lets in-flight responses and fills finish until ctx
// ends, and stops the origin probe and the disk writer.
func (s *Server) Shutdown(ctx context.Context) error {
	// Leave first: the others move this edge's keys at once, while it finishes what it serves.
	if err := cluster.Stop(&s.stopping, &s.cluster); err != nil {
		s.log.Warn("leaving the cluster", "err", err)
	}
	err := errors.Join(s.stopLoops(ctx), httpx.Shutdown(ctx, s.srv), httpx.Shutdown(ctx, s.admin))
	s.cancel()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return errors.Join(err, ctx.Err())
	}
	if s.disk != nil {
		s.disk.close()
	}
	return err
}

// Close stops the edge's background work without serving (for edges never served).
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.Shutdown(ctx)
}
