package edge

import (
	"encoding/json"
	"slices"

	"github.com/valyala/fasthttp"

	"edgecdn/internal/cluster"
)

// ClusterInfo is what GET /cluster answers: the members this edge sees and how the rings of
// each zone share the keys.
type ClusterInfo struct {
	Self          string              `json:"self"`
	Zone          string              `json:"zone"`
	CrossZoneFill bool                `json:"cross_zone_fill"`
	BalanceFactor float64             `json:"balance_factor"`
	Members       []ClusterMember     `json:"members"`
	Rings         map[string][]string `json:"rings"` // zone -> edges on its ring
}

// ClusterMember is one member in ClusterInfo.
type ClusterMember struct {
	cluster.Member
	RingShare float64 `json:"ring_share,omitempty"` // fraction of its zone's key space
}

// State is member name's state in this view, "" when the edge does not know the name.
func (c ClusterInfo) State(name string) cluster.State {
	for _, m := range c.Members {
		if m.Name == name {
			return m.State
		}
	}
	return ""
}

// InRing reports whether name is on zone's ring in this view.
func (c ClusterInfo) InRing(zone, name string) bool { return slices.Contains(c.Rings[zone], name) }

func (s *Server) clusterInfo() ClusterInfo {
	info := ClusterInfo{Self: s.cfg.Name, Zone: s.cfg.Zone, CrossZoneFill: s.cfg.CrossZoneFill, BalanceFactor: s.cfg.BalanceFactor, Rings: map[string][]string{}}
	c := s.cluster.Load()
	p := s.place.Load()
	if c == nil || p == nil {
		return info
	}
	share := map[string]float64{}
	for z, pz := range p.zones {
		r := pz.Ring()
		info.Rings[z] = r.Nodes()
		for i, sh := range r.Shares() {
			share[r.Nodes()[i]] = sh
		}
	}
	for _, m := range c.Members() {
		info.Members = append(info.Members, ClusterMember{Member: m, RingShare: share[m.Name]})
	}
	return info
}

func (s *Server) serveCluster(ctx *fasthttp.RequestCtx) {
	// With an admin token the cluster's detail (addresses, loads) is admin-only.
	if s.cfg.AdminToken != "" && !s.authorized(ctx) {
		return
	}
	ctx.Response.Header.SetContentType("application/json")
	ctx.Response.Header.Set("Cache-Control", "no-store")
	b, _ := json.MarshalIndent(s.clusterInfo(), "", "  ")
	ctx.Write(append(b, '\n'))
}

// ClusterSize returns how many edges are on this edge's rings, all zones together.
func (s *Server) ClusterSize() int {
	p := s.place.Load()
	if p == nil {
		return 0
	}
	n := 0
	for _, z := range p.zones {
		n += z.Len()
	}
	return n
}

// Stats are an edge's counters since it started.
type Stats struct {
	Requests, Hits, Misses int64
	ServedBytes            int64
	OriginFetches          int64
	OriginBytes            int64
	PeerFetches            int64
	PeerBytes              int64
	CacheBytes             int64
	CacheObjects           int64
	RingShare              float64 // of its zone's key space
	RPS                    float64 // last second
}

// Stats returns the edge's counters.
func (s *Server) Stats() Stats {
	var st Stats
	for k := kind(0); k < numKinds; k++ {
		st.Hits += int64(s.m.hits[k].Get())
		st.Misses += int64(s.m.misses[k].Get())
		st.Requests += int64(s.m.hits[k].Get() + s.m.misses[k].Get() + s.m.stale[k].Get() + s.m.revalidated[k].Get() + s.m.passed[k].Get() + s.m.errors[k].Get())
		st.ServedBytes += int64(s.m.servedBytes[k].Get())
		st.OriginFetches += int64(s.m.originFetches[k].Get())
		st.PeerFetches += int64(s.m.peerFetches[k].Get())
	}
	st.OriginBytes = int64(s.m.originBytes.Get())
	st.PeerBytes = int64(s.m.peerBytes.Get())
	cs := s.cache.Stats()
	st.CacheBytes, st.CacheObjects = cs.Bytes, cs.Objects
	if p := s.place.Load(); p != nil && p.zone != nil {
		r := p.zone.Ring()
		for i, n := range r.Nodes() {
			if n == s.cfg.Name {
				st.RingShare = r.Shares()[i]
			}
		}
	}
	st.RPS = s.Load().RPS
	return st
}

// RingHas reports whether the named edge is on one of this edge's rings (alive, in any zone).
func (s *Server) RingHas(name string) bool {
	p := s.place.Load()
	if p == nil {
		return false
	}
	_, ok := p.edges[name]
	return ok
}
