package player

import (
	"math"
	"testing"
	"time"
)

// TestTraceLinkUntil: bits cross the trace sample by sample at 0.95 of its rate, a near-dead
// second costs only that second, and the trace wraps as Rate does.
func TestTraceLinkUntil(t *testing.T) {
	l := &TraceLink{Times: []float64{0, 1, 2, 3}, Mbps: []float64{0, 1, 0.001, 2}}
	sec := func(d time.Duration) float64 { return d.Seconds() }
	for _, tc := range []struct {
		start, bits, want float64
	}{
		{0, 0.95e6, 1},                  // the first second at 0.95 Mbit/s payload
		{0, 0.475e6, 0.5},               // half of it
		{0.5, 0.475e6 + 950 + 1.9e6, 3}, // the rest of second 1, the near-dead second, all of second 3
		{1, 950 + 0.95e6, 2.5},          // the near-dead second then half of second 3 (1.9 Mbit/s)
		{2.5, 0.95e6 + 0.95e6, 4},       // half of second 3, then wrapped to second 1
	} {
		got := sec(l.Until(time.Duration(tc.start*float64(time.Second)), tc.bits))
		if math.Abs(got-tc.want) > 1e-6 {
			t.Errorf("Until(%v s, %v bits) = %v s, want %v", tc.start, tc.bits, got, tc.want)
		}
	}
	if r := l.Rate(1500 * time.Millisecond); math.Abs(r-0.01e6*0.95) > 1e-6 {
		t.Errorf("Rate in the near-dead second = %v, want the 0.01 Mbit/s floor x 0.95", r)
	}
}

// TestTraceLinkWrapsAsTheSimulator: a trace whose first sample is not at time 0 wraps as the
// virtual-time simulator wraps it: past its last sample time starts again at 0, so sample 1
// then lasts Times[1] seconds (here 2), not Times[1] - Times[0] (1).
func TestTraceLinkWrapsAsTheSimulator(t *testing.T) {
	l := (&TraceLink{Times: []float64{1, 2, 3}, Mbps: []float64{5, 1, 2}}).At(0)
	// Sample 1 (1 s at 0.95 Mbit/s payload), sample 2 (1 s at 1.9): 2.85 Mbit in the first 2 s.
	if got := l.Until(0, 0.95e6+1.9e6).Seconds(); math.Abs(got-2) > 1e-6 {
		t.Errorf("first pass: %v s, want 2", got)
	}
	// Then sample 1 again for 2 s: 1.9 Mbit take until 4 s.
	if got := l.Until(2*time.Second, 1.9e6).Seconds(); math.Abs(got-4) > 1e-6 {
		t.Errorf("after the wrap: %v s, want 4 (sample 1 from time 0)", got)
	}
	if r := l.Rate(3500 * time.Millisecond); math.Abs(r-0.95e6) > 1e-6 {
		t.Errorf("Rate 1.5 s after the wrap = %v, want sample 1's 0.95e6", r)
	}
	if r := l.Rate(0); math.Abs(r-0.95e6) > 1e-6 {
		t.Errorf("Rate at the start = %v, want sample 1's 0.95e6 (sample 0 is never played)", r)
	}
}
