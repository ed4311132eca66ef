package player

import (
	"context"
	"io"
	"math/rand/v2"
	"slices"
	"time"

	"edgecdn/player-sim/sim"
)

// Link is a player's own network link: its rate at each moment of the session.
type Link interface {
	// Rate returns the link's rate in bits per second at session time t.
	Rate(t time.Duration) float64
}

// ConstLink is a link of fixed rate (bits/s).
type ConstLink float64

// Rate implements Link.
func (l ConstLink) Rate(time.Duration) float64 { return float64(l) }

// TraceLink replays a throughput trace from an offset, wrapping at its end: sample i gives the
// rate of the interval that ends at Times[i], as the traces' format means it.
type TraceLink struct {
	Name  string    // the trace's file name, for reports
	Times []float64 // seconds, increasing
	Mbps  []float64
	Start float64 // offset into the trace, seconds
}

// Rate implements Link.
func (l *TraceLink) Rate(t time.Duration) float64 {
	if len(l.Times) == 0 {
		return 0
	}
	span := l.Times[len(l.Times)-1] - l.Times[0]
	x := l.Start + t.Seconds()
	if span > 0 {
		x = l.Times[0] + mod(x-l.Times[0], span)
	}
	i, _ := slices.BinarySearch(l.Times, x) // the first sample whose interval ends at or after x
	i = min(i, len(l.Times)-1)
	return max(l.Mbps[i], 0.01) * 1e6
}

func mod(a, b float64) float64 {
	r := a - b*float64(int64(a/b))
	if r < 0 {
		r += b
	}
	return r
}

// LoadTraces reads every trace of dir (with player-sim/sim's parser, the one the
// virtual-time simulator uses) as links.
func LoadTraces(dir string) ([]*TraceLink, []string, error) {
	ts, err := sim.LoadTraces(dir)
	if err != nil {
		return nil, nil, err
	}
	var ls []*TraceLink
	var names []string
	for _, t := range ts {
		ls = append(ls, &TraceLink{Name: t.Name, Times: t.Time, Mbps: t.Mbps})
		names = append(names, t.Name)
	}
	return ls, names, nil
}

// WithOffset returns a copy of l starting at a random point of the trace.
func (l *TraceLink) WithOffset(rng *rand.Rand) *TraceLink {
	return l.At(rng.Float64() * (l.Times[len(l.Times)-1] - l.Times[0]))
}

// At returns a copy of l starting offset seconds into the trace (0: at its first sample).
func (l *TraceLink) At(offset float64) *TraceLink {
	c := *l
	c.Start = l.Times[0] + offset
	return &c
}

// shaper paces reads to a Link's rate: a token bucket with no burst, on the read side, as a
// player's access link would.
type shaper struct {
	ctx     context.Context // the request's: its deadline cuts a wait on a near-dead link
	r       io.Reader
	link    Link
	session time.Time // when the session started (the link's time origin)
	clock   time.Time // when the bytes read so far could have arrived
}

func (s *shaper) Read(p []byte) (int, error) {
	if len(p) > 16<<10 {
		p = p[:16<<10]
	}
	n, err := s.r.Read(p)
	if n > 0 {
		now := time.Now()
		if s.clock.Before(now) {
			s.clock = now
		}
		rate := s.link.Rate(s.clock.Sub(s.session))
		s.clock = s.clock.Add(time.Duration(float64(n*8) / rate * float64(time.Second)))
		if d := time.Until(s.clock); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-s.ctx.Done():
				t.Stop()
				return n, s.ctx.Err()
			}
		}
	}
	return n, err
}
