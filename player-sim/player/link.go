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
// rate of the interval that ends at Times[i], as the traces' format means it. Payload flows at
// Goodput x the trace's rate, as in the virtual-time simulator. It wraps as the simulator (and
// Pensieve's environment) does: past the last sample, time starts again at 0, so that sample 1
// then covers [0, Times[1]] and sample 0 is not played again; a trace whose first sample is at
// time 0 simply repeats.
type TraceLink struct {
	Name  string    // the trace's file name, for reports
	Times []float64 // seconds, increasing
	Mbps  []float64
	Start float64 // offset into the trace, seconds
	// Goodput is the share of the trace's rate that carries payload (packet headers take the
	// rest); default 0.95, the virtual-time simulator's.
	Goodput float64
}

// Rate implements Link.
func (l *TraceLink) Rate(t time.Duration) float64 {
	n := len(l.Times)
	if n == 0 {
		return 0
	}
	x := l.traceTime(l.Start + t.Seconds())
	i, _ := slices.BinarySearch(l.Times, x) // the first sample whose interval ends at or after x
	i = max(min(i, n-1), min(1, n-1))
	g := l.Goodput
	if g == 0 {
		g = 0.95
	}
	return max(l.Mbps[i], 0.01) * 1e6 * g
}

// traceTime maps u, seconds of link time from the trace's own origin (the first pass runs from
// Times[0] to the last sample), to the time within the trace that is playing, as the simulator
// wraps: every later pass runs from 0 to the last sample.
func (l *TraceLink) traceTime(u float64) float64 {
	last := l.Times[len(l.Times)-1]
	if u <= last || !(last > 0) {
		return u
	}
	return mod(u-last, last)
}

// Until returns the link time at which bits sent from link time start have all arrived,
// walking the trace sample by sample (a piece that starts in a near-dead second of the trace
// speeds up when the trace does), wrapping at its end as Rate does.
func (l *TraceLink) Until(start time.Duration, bits float64) time.Duration {
	n := len(l.Times)
	if n < 2 || bits <= 0 {
		return start
	}
	g := l.Goodput
	if g == 0 {
		g = 0.95
	}
	if !(l.Times[n-1] > l.Times[0]) || !(l.Times[n-1] > 0) {
		return start + time.Duration(bits/(max(l.Mbps[n-1], 0.01)*1e6*g)*float64(time.Second))
	}
	x := l.traceTime(l.Start + start.Seconds())
	elapsed := 0.0
	i, _ := slices.BinarySearch(l.Times, x)
	i = max(min(i, n-1), 1)
	for steps := 0; steps < 10*n+10; steps++ {
		rate := max(l.Mbps[i], 0) * 1e6 * g
		dur := l.Times[i] - x
		if rate > 0 && rate*dur >= bits {
			return start + time.Duration((elapsed+bits/rate)*float64(time.Second))
		}
		bits -= rate * dur
		elapsed += dur
		x = l.Times[i]
		i++
		if i >= n {
			i, x = 1, 0 // the simulator's wrap: sample 1 again, from time 0
		}
	}
	// A trace that carries (almost) nothing: the remaining bits at the floor rate of Rate.
	return start + time.Duration((elapsed+bits/(0.01e6*g))*float64(time.Second))
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

// shaper paces reads to a Link's rate: a token bucket on the read side, as a player's access
// link would, whose depth is shaperBurst of the link's time: a read that comes late (the
// process was not scheduled, a timer fired late) may catch up that much, so that a busy
// machine does not slow the link down; a body that stalls longer (the server is the
// bottleneck) earns no more than that.
type shaper struct {
	ctx   context.Context // the request's: its deadline cuts a wait on a near-dead link
	r     io.Reader
	link  Link
	at    func(time.Time) time.Duration // the link's time at a wall time
	clock time.Time                     // when the bytes read so far could have arrived
	// waited is how long reads waited on the link: most of a slow download's time when the
	// link, not the server, is the bottleneck.
	waited time.Duration
}

// shaperBurst is the token bucket's depth, in time.
const shaperBurst = 200 * time.Millisecond

func (s *shaper) Read(p []byte) (int, error) {
	if len(p) > 16<<10 {
		p = p[:16<<10]
	}
	n, err := s.r.Read(p)
	if n > 0 {
		now := time.Now()
		switch {
		case s.clock.IsZero():
			s.clock = now // the first bytes: no credit
		case now.Sub(s.clock) > shaperBurst:
			s.clock = now.Add(-shaperBurst)
		}
		if u, ok := s.link.(interface {
			Until(time.Duration, float64) time.Duration
		}); ok {
			from := s.at(s.clock)
			s.clock = s.clock.Add(u.Until(from, float64(n*8)) - from)
		} else {
			rate := s.link.Rate(s.at(s.clock))
			s.clock = s.clock.Add(time.Duration(float64(n*8) / rate * float64(time.Second)))
		}
		if d := time.Until(s.clock); d > 0 {
			t := time.NewTimer(d)
			t0 := time.Now()
			select {
			case <-t.C:
			case <-s.ctx.Done():
				t.Stop()
				s.waited += time.Since(t0)
				return n, s.ctx.Err()
			}
			s.waited += time.Since(t0)
		}
	}
	return n, err
}
