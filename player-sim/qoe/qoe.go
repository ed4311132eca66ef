// Package qoe scores video sessions: the linear QoE of the ABR literature and summary statistics
// over many sessions.
package qoe

import (
	"math"
	"sort"
)

// Lin returns QoE_lin of one chunk (Yin et al., SIGCOMM 2015; Pensieve): its bitrate in Mbps,
// minus rebufPenalty x the stall it caused in seconds, minus the change of bitrate from the
// previous chunk in Mbps.
func Lin(kbps, prevKbps int, rebuffer, rebufPenalty float64) float64 {
	d := kbps - prevKbps
	if d < 0 {
		d = -d
	}
	return float64(kbps)/1000 - rebufPenalty*rebuffer - float64(d)/1000
}

// Summary describes a sample of values.
type Summary struct {
	N      int
	Mean   float64
	Median float64
	// CI95 is the half-width of the 95% confidence interval of the mean (normal
	// approximation: 1.96 x standard error); 0 for fewer than two values.
	CI95 float64
}

// Summarize returns the summary of v (which it does not modify).
func Summarize(v []float64) Summary {
	s := Summary{N: len(v)}
	if len(v) == 0 {
		return s
	}
	sum := 0.0
	for _, x := range v {
		sum += x
	}
	s.Mean = sum / float64(len(v))
	c := append([]float64(nil), v...)
	sort.Float64s(c)
	if m := len(c) / 2; len(c)%2 == 1 {
		s.Median = c[m]
	} else {
		s.Median = (c[m-1] + c[m]) / 2
	}
	if len(v) > 1 {
		ss := 0.0
		for _, x := range v {
			ss += (x - s.Mean) * (x - s.Mean)
		}
		sd := math.Sqrt(ss / float64(len(v)-1))
		s.CI95 = 1.96 * sd / math.Sqrt(float64(len(v)))
	}
	return s
}
