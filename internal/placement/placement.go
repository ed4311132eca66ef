// Package placement decides which edge of a zone owns a cache key: the one rule the edges
// follow to fill from the owner and steering follows to credit the edges that own a title's
// first segments. A key is its clean path (package urlpath), hashed with xxhash onto the ring
// of the zone's healthy edges; the owner is the first edge clockwise whose load is within the
// bound (consistent hashing with bounded loads, ring.BoundedOwner).
package placement

import (
	"slices"

	"edgecdn/internal/cluster"
	"edgecdn/internal/ring"
	"edgecdn/internal/urlpath"
)

// Key returns the placement hash of a cache key as an edge builds it (the clean path and the
// query parameters it keeps).
func Key(key []byte) uint64 { return ring.Hash(key) }

// PathKey returns the placement hash of a raw URL path requested with no query an edge keeps:
// the hash of its clean form. ok is false for a path an edge refuses.
func PathKey(rawPath string) (h uint64, ok bool) {
	clean, err := urlpath.Clean(nil, []byte(rawPath))
	if err != nil {
		return 0, false
	}
	return Key(clean), true
}

// Zone is one zone's healthy edges on a ring, with their loads. It is immutable: membership
// and load changes build new Zones (Build), which readers swap in.
type Zone struct {
	ring   *ring.Ring
	loads  []float64 // requests per second, indexed like ring.Nodes()
	factor float64
}

// Build returns the Zones of the healthy edges among members that announce an HTTP address,
// by zone name, with factor as the bounded-loads factor. A Zone of old whose edges are the same
// keeps its ring (a ring costs a sort of edges x ring.DefaultReplicas points); loads are always
// the members' latest. old may be nil.
func Build(members []cluster.Member, factor float64, old map[string]*Zone) map[string]*Zone {
	byZone := map[string][]cluster.Member{}
	for _, m := range members {
		if m.Role != cluster.RoleEdge || !m.Healthy() || m.HTTP == "" {
			continue
		}
		byZone[m.Zone] = append(byZone[m.Zone], m)
	}
	zones := make(map[string]*Zone, len(byZone))
	for name, ms := range byZone {
		names := make([]string, len(ms))
		load := make(map[string]float64, len(ms))
		for i, m := range ms {
			names[i] = m.Name
			if m.Load != nil {
				load[m.Name] = m.Load.RPS
			}
		}
		slices.Sort(names)
		names = slices.Compact(names)
		z := &Zone{factor: factor}
		if o := old[name]; o != nil && slices.Equal(o.ring.Nodes(), names) {
			z.ring = o.ring
		} else {
			z.ring = ring.New(names, 0)
		}
		z.loads = make([]float64, z.ring.Len())
		for i, n := range z.ring.Nodes() {
			z.loads[i] = load[n]
		}
		zones[name] = z
	}
	return zones
}

// Ring returns the zone's ring.
func (z *Zone) Ring() *ring.Ring { return z.ring }

// Len returns the number of edges in the zone.
func (z *Zone) Len() int { return z.ring.Len() }

// Owner returns the name of the edge that owns key hash h: the first edge clockwise from h
// whose load is at most factor times the zone's mean. "" for an empty zone.
func (z *Zone) Owner(h uint64) string {
	if z == nil || z.ring.Len() == 0 {
		return ""
	}
	return z.ring.Nodes()[z.ring.BoundedOwner(h, z.factor, z.load)]
}

// FirstOwner returns the name of the edge that owns h with no regard to load: the edge Owner
// hands a key over from when it is above the bound. "" for an empty zone.
func (z *Zone) FirstOwner(h uint64) string {
	if z == nil {
		return ""
	}
	return z.ring.OwnerName(h)
}

func (z *Zone) load(i int) float64 { return z.loads[i] }
