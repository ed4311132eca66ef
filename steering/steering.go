// Package steering tells players where to play: a ranked list of edges for a title, and HLS
// Content Steering (a multivariant playlist with one pathway per zone, and a steering manifest
// that re-orders the pathways while the player plays). It learns the cluster by joining the
// gossip as an observer.
//
// With signing keys (Config.SigningKeys, the edges' --url-signing-key), every URL it hands out
// carries a per-session token as a path prefix, http://HOST/t/<token>/vod/<title>/..., made
// with the first key for the prefix /vod/<title>/ and valid Config.TokenTTL; the edges check it.
// Steering manifests only replace the host of a pathway (PATHWAY-CLONES), so the token survives
// every pathway change.
package steering

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/valyala/fasthttp"

	"edgecdn/internal/catalog"
	"edgecdn/internal/cluster"
	"edgecdn/internal/hls"
	"edgecdn/internal/httpx"
	"edgecdn/internal/pathway"
	"edgecdn/internal/placement"
	"edgecdn/internal/zonemap"
)

// Server is the steering service.
type Server struct {
	cfg     Config
	log     *slog.Logger
	zm      zonemap.Map
	srv     *fasthttp.Server
	admin   *fasthttp.Server // the admin listener's server (ServeAdmin)
	ep      *httpx.Endpoints
	set     *metrics.Set
	m       steerMetrics
	cluster atomic.Pointer[cluster.Cluster]
	place   atomic.Pointer[map[string]*placement.Zone] // the last view's, whose rings the next reuses
	client  *http.Client
	next    atomic.Uint32
	skew    atomic.Int64 // added to the clock when tokens are issued (tests age them), ns

	mu        sync.Mutex
	playlists map[string]cachedPlaylist
	mpds      mpdCache

	stopping atomic.Bool
	cur      atomic.Pointer[view]
	closed   atomic.Bool
	done     chan struct{}
	wg       sync.WaitGroup
}

type cachedPlaylist struct {
	mv      *hls.Multivariant
	media   *hls.Media
	fetched time.Time
}

// New returns a steering service.
func New(cfg Config) (*Server, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	zm, err := zonemap.New(cfg.ZoneMap)
	if err != nil {
		return nil, fmt.Errorf("steering: %w", err)
	}
	s := &Server{cfg: cfg, log: cfg.Logger, zm: zm, set: metrics.NewSet(), playlists: map[string]cachedPlaylist{}, done: make(chan struct{})}
	s.client = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 16}}
	s.m.init(s.set)
	s.ep = &httpx.Endpoints{Metrics: s.set, Ready: s.Ready, Token: cfg.AdminToken}
	h, err := httpx.CORS(httpx.CORSConfig{Origins: cfg.CORSOrigins, Preflights: s.set.NewCounter("edgecdn_steering_cors_preflights_total")},
		s.ep.Client(s.withAdmin(s.route)))
	if err != nil {
		return nil, fmt.Errorf("steering: %w", err)
	}
	s.srv = httpx.NewServer(h, httpx.Options{Name: "edgecdn-steering", Logger: cfg.Logger})
	s.admin = httpx.NewServer(s.ep.AdminHandler(s.adminRoute), httpx.Options{Name: "edgecdn-steering-admin", Logger: cfg.Logger})
	return s, nil
}

// AttachCluster gives the service its view of the edges and balancers: rebuilt when
// membership changes and every half second for the loads, until Shutdown.
func (s *Server) AttachCluster(c *cluster.Cluster) {
	s.cluster.Store(c)
	c.Follow(s.done, &s.wg, 500*time.Millisecond, func(bool) { s.refresh() })
}

func (s *Server) refresh() { v := s.buildView(); s.cur.Store(&v) }

// view returns the latest snapshot of the cluster.
func (s *Server) view() view {
	if v := s.cur.Load(); v != nil {
		return *v
	}
	return s.buildView()
}

// Metrics returns the service's metric set.
func (s *Server) Metrics() *metrics.Set { return s.set }

// Handler returns the HTTP handler.
func (s *Server) Handler() fasthttp.RequestHandler { return s.srv.Handler }

// Ready reports whether the service has joined the cluster and is not draining.
func (s *Server) Ready() bool {
	c := s.cluster.Load()
	return !s.stopping.Load() && c != nil && c.Joined()
}

// ServeAdmin serves /metrics and /debug/pprof/ (and /healthz, /readyz) on ln, and stops the
// client listener from answering them. Call it before Serve.
func (s *Server) ServeAdmin(ln net.Listener) error {
	return s.ep.ServeAdmin(s.admin, ln, s.log, "steering")
}

// Drain starts a graceful stop: /readyz answers 503 (the Service drops it) while it keeps
// answering, and the cluster hears that it is draining.
func (s *Server) Drain() {
	cluster.Drain(&s.stopping, &s.cluster, s.log, nil)
}

// Serve serves HTTP on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	s.log.Info("steering listening", "addr", ln.Addr().String())
	return s.srv.Serve(ln)
}

// Shutdown leaves the cluster and stops serving.
func (s *Server) Shutdown(ctx context.Context) error {
	errs := []error{cluster.Stop(&s.stopping, &s.cluster), httpx.Shutdown(ctx, s.srv), httpx.Shutdown(ctx, s.admin)}
	if !s.closed.Swap(true) {
		close(s.done)
	}
	s.wg.Wait()
	return errors.Join(errs...)
}

// view is the cluster as steering uses it, at one moment.
type view struct {
	edges    []cluster.Member           // every known edge, healthy or not
	lbs      map[string]cluster.Member  // one healthy balancer per zone
	zones    []string                   // zones with a healthy edge and a healthy balancer, sorted
	zoneLoad map[string]float64         // mean load of the zone's healthy edges
	place    map[string]*placement.Zone // healthy edges per zone, where keys live
	count    map[string]int             // number of healthy edges per zone
	known    map[string]bool            // zones with any edge, healthy or not
}

func (s *Server) buildView() view {
	v := view{lbs: map[string]cluster.Member{}, zoneLoad: map[string]float64{}, count: map[string]int{}, known: map[string]bool{}}
	c := s.cluster.Load()
	if c == nil {
		return v
	}
	sum, cnt := map[string]float64{}, map[string]int{}
	members := c.Members()
	var old map[string]*placement.Zone
	if p := s.place.Load(); p != nil {
		old = *p
	}
	v.place = placement.Build(members, s.cfg.BalanceFactor, old)
	s.place.Store(&v.place)
	for _, m := range members {
		switch m.Role {
		case cluster.RoleEdge:
			if m.State == cluster.Left {
				continue
			}
			v.edges = append(v.edges, m)
			v.known[m.Zone] = true
			if m.Healthy() {
				if m.Load != nil {
					sum[m.Zone] += m.Load.RPS
				}
				cnt[m.Zone]++
			}
		case cluster.RoleLB:
			if m.Healthy() && (m.Public != "" || m.HTTP != "") {
				if old, ok := v.lbs[m.Zone]; !ok || m.Name < old.Name {
					v.lbs[m.Zone] = m
				}
			}
		}
	}
	for z, n := range cnt {
		v.count[z] = n
		v.zoneLoad[z] = sum[z] / float64(n)
		if _, ok := v.lbs[z]; ok {
			v.zones = append(v.zones, z)
		}
	}
	slices.Sort(v.zones)
	return v
}

// clientZone is the zone a request names (?zone=), else the one its address maps to.
func (s *Server) clientZone(ctx *fasthttp.RequestCtx) (string, error) {
	if z := ctx.QueryArgs().Peek("zone"); len(z) > 0 {
		if !validID(z) {
			return "", errors.New("bad zone")
		}
		return string(z), nil
	}
	if a, ok := netip.AddrFromSlice(ctx.RemoteIP()); ok {
		z, _ := s.zm.Lookup(a.Unmap())
		return z, nil
	}
	return "", nil
}

// validID accepts zone and pathway names (pathway.ValidID).
func validID(b []byte) bool { return pathway.ValidID(b) }

// masterPlaylist returns a title's multivariant playlist from the origins (cached briefly).
func (s *Server) masterPlaylist(ctx context.Context, title string) (*hls.Multivariant, error) {
	mv, _, err := s.playlist(ctx, title, "master.m3u8")
	return mv, err
}

// mediaPlaylist returns one of a title's media playlists (cached briefly).
func (s *Server) mediaPlaylist(ctx context.Context, title, uri string) (*hls.Media, error) {
	_, m, err := s.playlist(ctx, title, uri)
	if err == nil && m == nil {
		err = fmt.Errorf("%s/%s is not a media playlist", title, uri)
	}
	return m, err
}

func (s *Server) playlist(ctx context.Context, title, uri string) (*hls.Multivariant, *hls.Media, error) {
	key := title + "/" + uri
	s.mu.Lock()
	c, ok := s.playlists[key]
	s.mu.Unlock()
	if ok && time.Since(c.fetched) < s.cfg.PlaylistTTL {
		return c.mv, c.media, nil
	}
	var errs []error
	start := int(s.next.Add(1))
	for i := range s.cfg.Origins {
		base := s.cfg.Origins[(start+i)%len(s.cfg.Origins)]
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(base, "/")+"/vod/"+key, nil)
		resp, err := s.client.Do(req)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, hls.MaxPlaylistBytes+1))
		resp.Body.Close()
		if resp.StatusCode == http.StatusNotFound {
			return nil, nil, errNoTitle
		}
		if err != nil || resp.StatusCode != http.StatusOK {
			errs = append(errs, fmt.Errorf("%s: %s %v", base, resp.Status, err))
			continue
		}
		mv, media, err := hls.Parse(bytes.NewReader(body))
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", key, err)
		}
		if uri == "master.m3u8" && mv == nil {
			return nil, nil, fmt.Errorf("%s is not a multivariant playlist", key)
		}
		s.mu.Lock()
		if len(s.playlists) > 10000 {
			clear(s.playlists)
		}
		s.playlists[key] = cachedPlaylist{mv: mv, media: media, fetched: time.Now()}
		s.mu.Unlock()
		return mv, media, nil
	}
	return nil, nil, fmt.Errorf("no origin answered: %w", errors.Join(errs...))
}

var errNoTitle = errors.New("no such title")

func validTitle(b []byte) bool { return catalog.ValidName(string(b)) }
