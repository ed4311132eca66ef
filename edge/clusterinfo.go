package edge

import (
	"encoding/json"

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

func (s *Server) clusterInfo() ClusterInfo {
	info := ClusterInfo{Self: s.cfg.Name, Zone: s.cfg.Zone, CrossZoneFill: s.cfg.CrossZoneFill, BalanceFactor: s.cfg.BalanceFactor, Rings: map[string][]string{}}
	c := s.cluster.Load()
	p := s.place.Load()
	if c == nil || p == nil {
		return info
	}
	share := map[string]float64{}
	for z, r := range p.rings {
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
	ctx.Response.Header.SetContentType("application/json")
	ctx.Response.Header.Set("Cache-Control", "no-store")
	b, _ := json.MarshalIndent(s.clusterInfo(), "", "  ")
	ctx.Write(append(b, '\n'))
}
