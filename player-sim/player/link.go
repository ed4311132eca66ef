package player

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
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

// TraceLink replays a throughput trace (time_s throughput_Mbps per line), from an offset,
// wrapping at its end.
type TraceLink struct {
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
	i, _ := slices.BinarySearch(l.Times, x)
	if i >= len(l.Times) || (i > 0 && l.Times[i] > x) {
		i--
	}
	return max(l.Mbps[max(i, 0)], 0.01) * 1e6
}

func mod(a, b float64) float64 {
	r := a - b*float64(int64(a/b))
	if r < 0 {
		r += b
	}
	return r
}

// maxTraceBytes bounds a trace file.
const maxTraceBytes = 16 << 20

// ParseTrace reads a trace: one "time_s throughput_Mbps" sample per line, times increasing.
func ParseTrace(r io.Reader) (*TraceLink, error) {
	sc := bufio.NewScanner(io.LimitReader(r, maxTraceBytes))
	l := &TraceLink{}
	n := 0
	for sc.Scan() {
		n++
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if len(f) != 2 {
			return nil, fmt.Errorf("trace line %d: want \"time_s throughput_Mbps\"", n)
		}
		t, err1 := strconv.ParseFloat(f[0], 64)
		v, err2 := strconv.ParseFloat(f[1], 64)
		if err1 != nil || err2 != nil || t != t || v != v || v < 0 || v > 1e6 || t < 0 || t > 1e9 {
			return nil, fmt.Errorf("trace line %d: bad sample %q", n, sc.Text())
		}
		if len(l.Times) > 0 && t <= l.Times[len(l.Times)-1] {
			return nil, fmt.Errorf("trace line %d: time %v not after %v", n, t, l.Times[len(l.Times)-1])
		}
		l.Times, l.Mbps = append(l.Times, t), append(l.Mbps, v)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(l.Times) < 2 {
		return nil, errors.New("trace: fewer than 2 samples")
	}
	return l, nil
}

// LoadTraces reads every regular file of dir as a trace.
func LoadTraces(dir string) ([]*TraceLink, []string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, err
	}
	var ls []*TraceLink
	var names []string
	for _, e := range ents {
		if !e.Type().IsRegular() || strings.HasPrefix(e.Name(), ".") || strings.HasSuffix(e.Name(), ".md") {
			continue
		}
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, nil, err
		}
		l, err := ParseTrace(f)
		f.Close()
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", e.Name(), err)
		}
		ls, names = append(ls, l), append(names, e.Name())
	}
	if len(ls) == 0 {
		return nil, nil, fmt.Errorf("%s: no traces", dir)
	}
	return ls, names, nil
}

// WithOffset returns a copy of l starting at a random point of the trace.
func (l *TraceLink) WithOffset(rng *rand.Rand) *TraceLink {
	c := *l
	c.Start = rng.Float64() * (l.Times[len(l.Times)-1] - l.Times[0])
	return &c
}

// shaper paces reads to a Link's rate: a token bucket with no burst, on the read side, as a
// player's access link would.
type shaper struct {
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
			time.Sleep(d)
		}
	}
	return n, err
}
