package steering

import (
	"slices"
	"strings"
	"time"
)

// pathwayInput is what the pathway decision for one session at one steering manifest reload
// looks at.
type pathwayInput struct {
	zones   []string           // healthy zones (with a balancer), any order
	load    map[string]float64 // mean load of each zone's healthy edges, requests/s per edge
	edges   map[string]int     // healthy edges per zone
	client  string             // the client's zone; "" unknown
	current string             // the pathway the player is on (_HLS_pathway); "" unknown
	since   time.Time          // when the session came to current; zero: unknown (no dwell owed)
	now     time.Time
	// throughput is the player's report (_HLS_throughput, bits/s) and evidence whether it
	// rests on measured segments: hls.js reports a default estimate before its first segment.
	throughput int64
	evidence   bool
	minBW      int64   // the title's lowest variant's bandwidth, bits/s
	own        float64 // the session's own requests/s, part of its current zone's load
	factor     float64 // a zone above factor x the mean load is overloaded
	minDwell   time.Duration
	margin     float64 // requests/s per edge
}

// Reasons of pathway decisions, the label of edgecdn_steering_decisions_total.
const (
	reasonStay          = "stay"
	reasonDwell         = "stay: dwell"
	reasonNoCurrent     = "no current pathway"
	reasonUnhealthy     = "pathway unhealthy"
	reasonOverloaded    = "pathway overloaded"
	reasonLowThroughput = "low throughput"
	reasonHome          = "back to the client's zone"
)

// decidePathway chooses the pathway a session should play from now: the healthy zones in the
// order zoneOrder gives, with hysteresis. A session whose pathway is unhealthy or gone moves at
// once. Otherwise it stays unless moving helps it, and only once it has been on its pathway
// for minDwell: its zone is overloaded (more than factor x the mean, and by margin requests/s
// per edge more than the best zone, once the session's own load is taken out of its zone's),
// its measured throughput is below 1.2 x the title's lowest bandwidth, or its own zone is
// fine again after it was moved away. So a lone player on an idle CDN never moves: its own
// requests are all the load there is.
func decidePathway(in pathwayInput) (first, reason string) {
	if len(in.zones) == 0 {
		return "", reasonUnhealthy
	}
	if in.current == "" || !slices.Contains(in.zones, in.current) {
		best := zoneOrder(in.zones, in.load, in.client, in.factor)[0]
		if in.current == "" {
			return best, reasonNoCurrent
		}
		return best, reasonUnhealthy
	}
	// The loads as this session should see them: without its own requests.
	load := make(map[string]float64, len(in.zones))
	var mean float64
	for _, z := range in.zones {
		l := in.load[z]
		if z == in.current {
			l = max(0, l-in.own/float64(max(in.edges[z], 1)))
		}
		load[z] = l
		mean += l
	}
	mean /= float64(len(in.zones))
	order := zoneOrder(in.zones, load, in.client, in.factor)
	dwelled := in.since.IsZero() || in.now.Sub(in.since) >= in.minDwell
	if in.evidence && in.throughput > 0 && in.minBW > 0 && float64(in.throughput) < 1.2*float64(in.minBW) && len(order) > 1 {
		if !dwelled {
			return in.current, reasonDwell
		}
		for _, z := range order {
			if z != in.current {
				return z, reasonLowThroughput
			}
		}
	}
	best := order[0]
	if best == in.current {
		return in.current, reasonStay
	}
	over := func(z string) bool { return mean > 0 && load[z] > in.factor*mean }
	switch {
	case over(in.current) && load[in.current]-load[best] >= in.margin:
		if !dwelled {
			return in.current, reasonDwell
		}
		return best, reasonOverloaded
	case best == in.client && in.current != in.client && !over(best):
		if !dwelled {
			return in.current, reasonDwell
		}
		return best, reasonHome
	}
	return in.current, reasonStay
}

// zoneOrder returns zones in the order a client should use them: its own zone first while it
// is not overloaded (above factor x the mean load), then the others from least to most loaded,
// the overloaded ones after them.
func zoneOrder(zones []string, load map[string]float64, client string, factor float64) []string {
	var mean float64
	for _, z := range zones {
		mean += load[z]
	}
	if len(zones) > 0 {
		mean /= float64(len(zones))
	}
	over := func(z string) bool { return mean > 0 && load[z] > factor*mean }
	zs := slices.Clone(zones)
	slices.SortStableFunc(zs, func(a, b string) int {
		key := func(z string) int {
			switch {
			case over(z):
				return 2
			case z == client:
				return 0
			}
			return 1
		}
		if ka, kb := key(a), key(b); ka != kb {
			return ka - kb
		}
		if la, lb := load[a], load[b]; la != lb {
			if la < lb {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
	return zs
}

// ownLoad estimates a session's own request rate (requests/s): a segment per segment
// duration and a playlist now and then, or, while it fills its buffer, as many segments as
// its measured throughput fetches of the lowest variant (at most ten times real time).
func ownLoad(segSeconds float64, throughput, minBW int64, evidence bool) float64 {
	if segSeconds <= 0 {
		segSeconds = 4
	}
	r := 2 / segSeconds
	if evidence && throughput > 0 && minBW > 0 {
		r = max(r, min(float64(throughput)/float64(minBW), 10)/segSeconds)
	}
	return r
}
