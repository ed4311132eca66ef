package steering

import (
	"slices"
	"strings"

	"edgecdn/internal/steerapi"
)

// Request is what a ranking is for.
type Request struct {
	Title      string
	ClientZone string             // "" when unknown
	ZoneMean   map[string]float64 // mean load of each zone's healthy edges
	Factor     float64            // load bound relative to the zone mean
}

// Policy orders candidates for one request.
type Policy interface {
	Rank(req Request, cands []steerapi.Candidate) []steerapi.Ranked
}

// DefaultPolicy scores each edge as the sum of:
//
//	proximity   +100 in the client's zone (the DNS-level rule of Traffic Router's coverage zones)
//	health      -1000 when not alive: listed last, never before a live edge
//	load        -40 when above Factor x its zone's mean load (the bounded-loads rule the edges
//	            use to place keys), else -10 x load / zone mean: a lightly loaded edge wins ties
//	affinity    +5 per first segment of the title the edge owns (it holds them, or will fill
//	            them once for everyone), at most +15
//
// so that a healthy edge of the client's zone always comes first unless it is over its bound,
// and an overloaded local edge still beats any remote one only while it is healthy.
type DefaultPolicy struct{}

// Rank implements Policy.
func (DefaultPolicy) Rank(req Request, cands []steerapi.Candidate) []steerapi.Ranked {
	out := make([]steerapi.Ranked, 0, len(cands))
	for _, c := range cands {
		r := steerapi.Ranked{Candidate: c}
		if req.ClientZone != "" && c.Zone == req.ClientZone {
			r.Score += 100
			r.Reasons = append(r.Reasons, "same zone")
		}
		if !c.Healthy {
			r.Score -= 1000
			r.Reasons = append(r.Reasons, "unhealthy")
		} else {
			r.Reasons = append(r.Reasons, "healthy")
		}
		mean := req.ZoneMean[c.Zone]
		switch {
		case !c.Known || mean <= 0:
			r.Reasons = append(r.Reasons, "load unknown")
		case c.Load > req.Factor*mean:
			r.Score -= 40
			r.Reasons = append(r.Reasons, "load over bound")
		default:
			r.Score -= 10 * c.Load / mean
			r.Reasons = append(r.Reasons, "load under bound")
		}
		if c.Owns > 0 {
			r.Score += 5 * float64(min(c.Owns, 3))
			r.Reasons = append(r.Reasons, "owns the title's first segments")
		}
		out = append(out, r)
	}
	slices.SortStableFunc(out, func(a, b steerapi.Ranked) int {
		switch {
		case a.Score > b.Score:
			return -1
		case a.Score < b.Score:
			return 1
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out
}
