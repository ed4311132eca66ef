package edge

import (
	"fmt"
	"net"
	"slices"
	"sync"
	"time"

	"edgecdn/internal/cluster"
	"edgecdn/internal/placement"
	"edgecdn/internal/ring"
)

// hopHeader carries a fill's level between edges. A request with it comes from another edge
// and is answered from this edge's cache or a fill at a higher level, never by asking back:
// levels only rise, so two edges with different views of the ring during churn cannot wait on
// each other (the deadlock of mailgun/groupcache issue 72).
const hopHeader = "X-Edgecdn-Hop"

// Fill levels. A fill at level L asks the next source at level L+1.
const (
	levelPeer   = 0 // this edge does not own the key: ask the zone's owner
	levelZone   = 1 // this edge owns the key in its zone: ask the key's home zone (cross-zone fill), else the origin
	levelOrigin = 2 // fetch from the origins
)

// routing is an immutable snapshot of where keys live: the healthy edges of each zone on a ring
// with their loads (package placement). It is rebuilt when membership changes and its loads refreshed every second;
// readers swap it in atomically.
type routing struct {
	self  string
	home  string                     // this edge's zone
	zone  *placement.Zone            // this edge's zone's edges
	zones map[string]*placement.Zone // every zone's healthy edges
	names []string                   // sorted zone names, for the home-zone choice
	edges map[string]cluster.Member  // healthy edges by name
	peers map[string]bool            // IP addresses of every healthy edge (trusted for the hop header)
}

// route decides where a fill for a key comes from at this edge.
type route struct {
	level int
	peer  string // base URL of the peer to ask first, "" for the origins
	store bool   // whether this edge stores the object (it owns the key, or the key is hot here)
}

func (p *routing) homeZone(h uint64) string {
	// Rendezvous hashing over zone names: stable as zones come and go.
	var best string
	var bestW uint64
	for _, z := range p.names {
		w := ring.HashString(z) ^ h
		w ^= w >> 33
		w *= 0xff51afd7ed558ccd
		w ^= w >> 33
		if best == "" || w > bestW {
			best, bestW = z, w
		}
	}
	return best
}

// decide returns the route of a request for key hash h arriving with hop level hop.
func (p *routing) decide(h uint64, hop int, crossZone bool) route {
	if p == nil || p.zone == nil || p.zone.Len() == 0 {
		return route{level: levelOrigin, store: true}
	}
	level := levelZone
	if hop < levelZone {
		if owner := p.zone.Owner(h); owner != p.self {
			return route{level: levelPeer, peer: "http://" + p.edges[owner].HTTP}
		}
		// This edge took the key over from its first owner, which is above the load bound: the
		// first owner probably holds it, so ask it before the home zone or the origins.
		if first := p.zone.FirstOwner(h); first != p.self {
			return route{level: levelZone, peer: "http://" + p.edges[first].HTTP, store: true}
		}
	}
	level = max(level, hop)
	if level == levelZone && crossZone {
		if home := p.homeZone(h); home != p.home {
			if z := p.zones[home]; z != nil && z.Len() > 0 {
				return route{level: levelZone, peer: "http://" + p.edges[z.Owner(h)].HTTP, store: true}
			}
		}
	}
	return route{level: levelOrigin, store: true}
}

// AttachCluster makes the edge place keys on the cluster's edges: it rebuilds the rings when
// membership changes and refreshes loads every second, until the edge shuts down. A cluster
// started with Meta.Starting (Usable was false) hears once the edge is usable.
func (s *Server) AttachCluster(c *cluster.Cluster) {
	s.cluster.Store(c)
	c.Follow(s.ctx.Done(), &s.wg, time.Second, func(membership bool) { s.rebuild(c, membership) })
	if c.Starting() {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			select {
			case <-s.ctx.Done():
				return
			case <-s.origins.usableC():
			}
			if err := c.SetStarting(false, time.Second); err != nil {
				s.log.Warn("announcing that the edge can serve", "err", err)
				return
			}
			s.log.Info("origins usable: the cluster may choose this edge")
		}()
	}
}

// Usable reports whether a miss has an origin to go to: with --origin-resolve, once some
// origin's name has resolved. An edge that joins a cluster before it is usable announces
// itself as starting (cluster.Meta.Starting): balancers, steering, DNS and the other edges'
// rings leave it out until AttachCluster's announcement that it is usable, rather than
// sending it players whose first requests would fail.
func (s *Server) Usable() bool { return s.origins.usable() }

// rebuild takes a new snapshot with fresh loads. A zone's ring is built again only when the
// zone's edges changed, whatever the call (rings: membership changed somewhere): with 20 zones
// a change costs one ring, not 20.
func (s *Server) rebuild(c *cluster.Cluster, rings bool) {
	healthy := c.Healthy(cluster.RoleEdge)
	var old map[string]*placement.Zone
	if p := s.place.Load(); p != nil {
		old = p.zones // placement.Build keeps the ring of a zone whose edges are the same
	}
	p := &routing{self: c.Name(), zones: placement.Build(healthy, s.cfg.BalanceFactor, old),
		edges: map[string]cluster.Member{}, peers: map[string]bool{}}
	for _, m := range healthy {
		if m.HTTP == "" {
			continue
		}
		p.edges[m.Name] = m
		if host, _, err := net.SplitHostPort(m.HTTP); err == nil {
			p.peers[host] = true
		}
	}
	for z := range p.zones {
		p.names = append(p.names, z)
	}
	slices.Sort(p.names)
	p.home, p.zone = s.cfg.Zone, p.zones[s.cfg.Zone]
	s.place.Store(p)
}

// trustedPeer reports whether a request comes from an edge of the cluster, whose hop header
// is honoured.
func (s *Server) trustedPeer(ip net.IP) bool {
	p := s.place.Load()
	return p != nil && p.peers[ip.String()]
}

// hotTracker counts misses per key at a non-owner over a window; a key seen threshold times is
// hot and kept locally too (groupcache's hot cache), so one popular segment cannot melt its
// owner.
type hotTracker struct {
	mu        sync.Mutex
	counts    map[string]int
	reset     time.Time
	window    time.Duration
	threshold int
}

func (h *hotTracker) hit(key string, now time.Time) bool {
	if h.threshold <= 0 {
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if now.Sub(h.reset) > h.window || h.counts == nil {
		h.counts, h.reset = map[string]int{}, now
	}
	h.counts[key]++
	return h.counts[key] >= h.threshold
}

// Load is what this edge reports to the cluster: the latest one-second sample.
func (s *Server) Load() cluster.Load {
	if l := s.load.Load(); l != nil {
		return *l
	}
	return cluster.Load{At: time.Now()}
}

// sample measures the last second's work, and derives the CMSD-Dynamic header the edge sends
// with every response (CTA-5006): etp, the throughput in kbit/s a new stream can expect (the
// spare egress capacity shared by the open connections), and du, under duress, when egress is
// over 90% of its capacity.
func (s *Server) sample() {
	s.sampleMu.Lock()
	defer s.sampleMu.Unlock()
	now := time.Now()
	var reqs, bytes uint64
	for k := kind(0); k < numKinds; k++ {
		reqs += s.m.hits[k].Get() + s.m.misses[k].Get() + s.m.stale[k].Get() + s.m.revalidated[k].Get() + s.m.passed[k].Get() + s.m.errors[k].Get()
		bytes += s.m.servedBytes[k].Get()
	}
	var l cluster.Load
	if dt := now.Sub(s.loadAt).Seconds(); !s.loadAt.IsZero() && dt > 0 {
		l.RPS = float64(reqs-s.loadReqs) / dt
		l.EgressBps = float64(bytes-s.loadBytes) / dt
	}
	s.loadAt, s.loadReqs, s.loadBytes = now, reqs, bytes
	l.Conns = int64(s.srv.GetOpenConnectionsCount())
	l.CacheFill = float64(s.cache.Stats().Bytes) / float64(s.cfg.CacheBytes)
	l.At = now
	s.load.Store(&l)

	capacity := float64(s.cfg.EgressCapacity)
	spare := max(capacity-l.EgressBps*8, 0)
	etp := int64(spare / float64(max(l.Conns, 1)) / 1000)
	// Duress is the edge's own capacity running out, not an imbalance with its neighbours:
	// players that react to du should leave only an edge that cannot keep up.
	// A draining edge is in duress too: it tells players to move before it goes.
	duress := l.EgressBps*8 > 0.9*capacity || s.stopping.Load()
	v := fmt.Appendf(nil, "%q;etp=%d", s.cfg.Name, etp)
	if duress {
		v = append(v, ";du"...)
	}
	s.cmsd.Store(&v)
}
