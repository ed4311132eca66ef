package dns

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"edgecdn/internal/cluster"
)

// Balancer is a zone balancer (tier 2) the DNS server may hand out.
type Balancer struct {
	Name    string
	Zone    string
	Addr    netip.Addr // the address clients reach it at
	Healthy bool       // its zone has at least one healthy edge and the balancer itself is alive
}

// Source tells the server which balancers exist. Balancers is called on every query: it must
// be cheap and safe for concurrent use, and the caller does not modify the slice.
type Source interface {
	Balancers() []Balancer
}

// ClusterSource derives the balancers from the gossip: every member with role "lb" that has
// not left is a balancer, at the host of its Meta.Public (else of Meta.HTTP; members whose
// address is not an IP are skipped), healthy when it is alive and an alive member with role
// "edge" has its zone. Dead balancers stay in the list, unhealthy, for fail-open.
//
// The list is rebuilt when the membership changes (cluster.Watch), not on every query.
func ClusterSource(c *cluster.Cluster) Source {
	s := &clusterSource{c: c, watch: c.Watch()}
	s.rebuild()
	return s
}

type clusterSource struct {
	c     *cluster.Cluster
	watch <-chan struct{}
	mu    sync.Mutex // serialises rebuilds, so that an older list never replaces a newer one
	list  atomic.Pointer[[]Balancer]
}

func (s *clusterSource) Balancers() []Balancer {
	select {
	case <-s.watch:
		s.rebuild()
	default:
	}
	return *s.list.Load()
}

func (s *clusterSource) rebuild() {
	s.mu.Lock()
	defer s.mu.Unlock()
	bs := balancersOf(s.c.Members())
	s.list.Store(&bs)
}

// balancersOf turns members (sorted by name) into balancers, in the same order.
func balancersOf(members []cluster.Member) []Balancer {
	zones := map[string]bool{}
	for _, m := range members {
		if m.Role == cluster.RoleEdge && m.Healthy() {
			zones[m.Zone] = true
		}
	}
	var bs []Balancer
	for _, m := range members {
		if m.Role != cluster.RoleLB || m.State == cluster.Left {
			continue
		}
		addr := hostAddr(m.Public)
		if !addr.IsValid() {
			addr = hostAddr(m.HTTP)
		}
		if !addr.IsValid() || addr.IsUnspecified() {
			continue
		}
		bs = append(bs, Balancer{Name: m.Name, Zone: m.Zone, Addr: addr, Healthy: m.Healthy() && zones[m.Zone]})
	}
	return bs
}

// hostAddr returns the IP of "IP", "IP:PORT" or "[IPv6]:PORT", or the zero Addr.
func hostAddr(s string) netip.Addr {
	if s == "" {
		return netip.Addr{}
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap()
	}
	host, _, err := net.SplitHostPort(s)
	if err != nil {
		return netip.Addr{}
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}
