package steering

import (
	"slices"
	"strings"
)

// Candidate is an edge a player could be sent to, as the steering service sees it.
type Candidate struct {
	Name    string  `json:"name"`
	Zone    string  `json:"zone"`
	URL     string  `json:"url"`                 // base URL: http://HOST:PORT
	Healthy bool    `json:"healthy"`             // alive in the gossip
	Load    float64 `json:"load_rps"`            // requests per second, from the gossip; 0 when unknown
	Known   bool    `json:"load_known"`          // whether Load is a fresh report
	Owns    int     `json:"owns_first_segments"` // how many of the title's first segments the edge owns on its zone's ring
}

// Request is what a ranking is for.
type Request struct {
	Title      string
	ClientZone string             // "" when unknown
	ZoneMean   map[string]float64 // mean load of each zone's healthy edges
	Factor     float64            // load bound relative to the zone mean
}

// Ranked is a candidate with its score and the reasons behind it, best first.
type Ranked struct {
	Candidate
	Score   float64  `json:"score"`
	Reasons []string `json:"reasons"`
	// Base is set by the service, not the policy, when URLs are signed: URL/t/<token>, what a
	// player puts before /vod/<title>/... (URL alone answers 403 then).
	Base string `json:"base,omitempty"`
}

// Policy orders candidates for one request.
type Policy interface {
	Rank(req Request, cands []Candidate) []Ranked
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
func (DefaultPolicy) Rank(req Request, cands []Candidate) []Ranked {
	out := make([]Ranked, 0, len(cands))
	for _, c := range cands {
		r := Ranked{Candidate: c}
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
	slices.SortStableFunc(out, func(a, b Ranked) int {
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
