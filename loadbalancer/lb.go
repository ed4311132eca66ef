// Package loadbalancer is tier 2 of edgecdn's balancer: one HTTP balancer per zone that
// round-robins requests over the healthy edges of its zone, as an AWS ELB node does over the
// instances of its availability zone. Tier 1, the DNS server that spreads clients over zones,
// is package loadbalancer/dns.
package loadbalancer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/valyala/fasthttp"

	"edgecdn/internal/cluster"
	"edgecdn/internal/health"
	"edgecdn/internal/httpx"
)

// upstream is one edge the balancer may send requests to.
type upstream struct {
	name, addr, zone string
	hc               *fasthttp.HostClient // probes
	conns            *edgeConns           // requests
	health           health.State         // passive (requests) and active (probes of /readyz)
	m                upstreamMetrics
}

func (u *upstream) inService(now int64) bool { return u.health.Available(now) }

// pool is an immutable snapshot of the upstreams: the zone's and the others (for spill).
type pool struct {
	local, remote []*upstream
	all           map[string]*upstream // by address
}

// Server is a zone balancer.
type Server struct {
	cfg   Config
	log   *slog.Logger
	srv   *fasthttp.Server
	admin *fasthttp.Server // the admin listener's server (ServeAdmin)
	ep    *httpx.Endpoints
	set   *metrics.Set
	m     lbMetrics
	pool  atomic.Pointer[pool]
	next  atomic.Uint64
	via   []byte

	mu        sync.Mutex                  // serialises pool rebuilds
	upMetrics map[string]*upstreamMetrics // by edge name, kept when an edge leaves and returns
	cluster   atomic.Pointer[cluster.Cluster]

	stopping atomic.Bool
	// The event loop engine (loop_linux.go), when it serves the client port.
	loops  loops // the event loop engine (loop_linux.go)
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New returns a zone balancer.
func New(cfg Config) (*Server, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: cfg.Logger, set: metrics.NewSet(), via: []byte("1.1 " + cfg.Name + " (edgecdn-lb)"), upMetrics: map[string]*upstreamMetrics{}}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.m.init(s)
	s.rebuild()
	s.ep = &httpx.Endpoints{Metrics: s.set, Ready: s.Ready, Token: cfg.AdminToken}
	h, err := httpx.CORS(httpx.CORSConfig{Origins: cfg.CORSOrigins, Preflights: s.set.NewCounter("edgecdn_lb_cors_preflights_total")},
		s.ep.Client(s.proxy))
	if err != nil {
		s.cancel()
		return nil, fmt.Errorf("lb: %w", err)
	}
	s.srv = httpx.NewServer(h, httpx.Options{Name: "edgecdn-lb", Logger: cfg.Logger})
	s.admin = httpx.NewServer(s.ep.AdminHandler(nil), httpx.Options{Name: "edgecdn-lb-admin", Logger: cfg.Logger})
	if cfg.ProbeInterval > 0 {
		s.wg.Add(1)
		go func() { defer s.wg.Done(); s.probeLoop() }()
	}
	return s, nil
}

// AttachCluster makes the balancer follow the zone's edges as the gossip announces them.
func (s *Server) AttachCluster(c *cluster.Cluster) {
	s.cluster.Store(c)
	c.Follow(s.ctx.Done(), &s.wg, 0, func(bool) { s.rebuild() })
}

// rebuild takes a new snapshot of the upstreams, keeping the state (pools, ejections, metrics)
// of those that stay.
func (s *Server) rebuild() {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.pool.Load()
	p := &pool{all: map[string]*upstream{}}
	add := func(name, addr, zone string) {
		if p.all[addr] != nil {
			return
		}
		u := (*upstream)(nil)
		if old != nil {
			u = old.all[addr]
		}
		if u == nil {
			u = &upstream{name: name, addr: addr, zone: zone, hc: &fasthttp.HostClient{
				Addr: addr, Name: "edgecdn-lb", NoDefaultUserAgentHeader: true,
				MaxConns: s.cfg.MaxConnsPerEdge, MaxIdleConnDuration: 60 * time.Second,
				ReadTimeout: s.cfg.HeaderTimeout, WriteTimeout: 30 * time.Second,
				StreamResponseBody: true, DisablePathNormalizing: true, DisableHeaderNamesNormalizing: true,
				DialTimeout: func(addr string, _ time.Duration) (net.Conn, error) {
					return fasthttp.DialTimeout(addr, s.cfg.ConnectTimeout)
				},
				RetryIfErr: func(*fasthttp.Request, int, error) (bool, bool) { return false, false }, // the balancer retries on another edge itself
			}, conns: &edgeConns{addr: addr, max: s.cfg.MaxConnsPerEdge, dialTimeout: s.cfg.ConnectTimeout}}
			if m := s.upMetrics[name+"|"+addr]; m != nil {
				u.m = *m
			} else {
				u.m.init(s.set, u)
				s.upMetrics[name+"|"+addr] = &u.m
			}
		}
		p.all[addr] = u
		if zone == s.cfg.Zone || s.cfg.Zone == "" {
			p.local = append(p.local, u)
		} else {
			p.remote = append(p.remote, u)
		}
	}
	for _, a := range s.cfg.Upstreams {
		add(a, a, s.cfg.Zone)
	}
	if c := s.cluster.Load(); c != nil {
		for _, m := range c.Healthy(cluster.RoleEdge) {
			if m.HTTP != "" {
				add(m.Name, m.HTTP, m.Zone)
			}
		}
	}
	byAddr := func(a, b *upstream) int {
		switch {
		case a.addr < b.addr:
			return -1
		case a.addr > b.addr:
			return 1
		}
		return 0
	}
	slices.SortFunc(p.local, byAddr)
	slices.SortFunc(p.remote, byAddr)
	s.pool.Store(p)
}

// pick returns the next upstream in round robin among those in service, skipping the ones in
// tried; spilling to other zones when the zone has none in service, and only with CrossZone:
// without it, another zone's edge is never chosen, whether the zone's own are ejected or gone
// from the cluster altogether. Nil when there is none.
func (s *Server) pick(tried []*upstream) *upstream {
	p := s.pool.Load()
	now := time.Now().UnixNano()
	sets := [2][]*upstream{p.local}
	if s.cfg.CrossZone {
		sets[1] = p.remote
	}
	for _, set := range sets {
		if len(set) == 0 {
			continue
		}
		n := uint64(len(set))
		start := s.next.Add(1)
		for i := uint64(0); i < n; i++ {
			u := set[(start+i)%n]
			if u.inService(now) && !slices.Contains(tried, u) {
				return u
			}
		}
	}
	return nil
}

// Healthy returns the number of upstreams in service in the zone (and elsewhere).
func (s *Server) Healthy() (local, remote int) {
	p := s.pool.Load()
	now := time.Now().UnixNano()
	for _, u := range p.local {
		if u.inService(now) {
			local++
		}
	}
	for _, u := range p.remote {
		if u.inService(now) {
			remote++
		}
	}
	return
}

// Ready reports whether the balancer has joined the cluster (when it has one), has somewhere
// to send requests and is not draining.
func (s *Server) Ready() bool {
	if s.stopping.Load() {
		return false
	}
	if c := s.cluster.Load(); c != nil && !c.Joined() {
		return false
	}
	l, r := s.Healthy()
	return l > 0 || (s.cfg.CrossZone && r > 0)
}

// eject takes an edge that failed a request or a probe out of service: every failure, for
// EjectFor (health.Rule, the edge's origins' rule with its own numbers).
func (s *Server) eject(u *upstream, why string) {
	if ejected, _ := u.health.Fail(time.Now(), health.Rule{Failures: 1, EjectFor: s.cfg.EjectFor, MaxEjectFor: s.cfg.EjectFor}); ejected {
		u.m.ejections.Inc()
		s.log.Warn("edge ejected", "edge", u.name, "addr", u.addr, "for", s.cfg.EjectFor, "why", why)
	}
}

func (s *Server) probeLoop() {
	t := time.NewTicker(s.cfg.ProbeInterval)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		p := s.pool.Load()
		var wg sync.WaitGroup
		for _, u := range p.all {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
				defer fasthttp.ReleaseRequest(req)
				defer fasthttp.ReleaseResponse(resp)
				req.SetRequestURI("http://" + u.addr + "/readyz")
				err := u.hc.DoTimeout(req, resp, s.cfg.ProbeTimeout)
				if err == nil {
					resp.BodyWriteTo(discard{})
				}
				switch {
				case err == nil && resp.StatusCode() == fasthttp.StatusOK:
					if u.health.OK(time.Now()) {
						s.log.Info("edge back in service", "edge", u.name, "addr", u.addr)
					}
				case err != nil:
					s.eject(u, "probe: "+err.Error())
				default:
					s.eject(u, fmt.Sprintf("probe: /readyz answered %d", resp.StatusCode()))
				}
			}()
		}
		wg.Wait()
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// Metrics returns the balancer's metric set.
func (s *Server) Metrics() *metrics.Set { return s.set }

// Handler returns the balancer's HTTP handler.
func (s *Server) Handler() fasthttp.RequestHandler { return s.srv.Handler }

// ServeAdmin serves /metrics and /debug/pprof/ (and /healthz, /readyz) on ln, and stops the
// client listener from answering them: it then serves only content, /healthz and /readyz.
// Call it before Serve.
func (s *Server) ServeAdmin(ln net.Listener) error {
	return s.ep.ServeAdmin(s.admin, ln, s.log, "lb")
}

// Drain starts a graceful stop: /readyz answers 503 and the cluster hears that the balancer is
// draining (the DNS server stops answering with it); it keeps proxying what it is sent.
func (s *Server) Drain() {
	cluster.Drain(&s.stopping, &s.cluster, s.log, nil)
}

// Serve serves on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	l, r := s.Healthy()
	s.log.Info("lb listening", "addr", ln.Addr().String(), "zone", s.cfg.Zone, "edges", l, "other_zones", r, "cross_zone", s.cfg.CrossZone)
	if s.cfg.Engine == EngineLoop && !s.cfg.Redirect {
		if served, err := s.serveLoops(ln); served {
			return err
		}
	}
	return s.srv.Serve(httpx.ClientListener{Listener: ln, NotsentLowat: s.cfg.NotsentLowat})
}

// Shutdown leaves the cluster, stops accepting, and lets in-flight requests finish.
func (s *Server) Shutdown(ctx context.Context) error {
	errs := []error{cluster.Stop(&s.stopping, &s.cluster), s.stopLoops(ctx), httpx.Shutdown(ctx, s.srv), httpx.Shutdown(ctx, s.admin)}
	for _, u := range s.pool.Load().all {
		u.conns.close()
	}
	s.cancel()
	s.wg.Wait()
	return errors.Join(errs...)
}
