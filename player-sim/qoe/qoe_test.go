package qoe

import (
	"math"
	"testing"
)

func TestLin(t *testing.T) {
	tests := []struct {
		kbps, prev int
		rebuf      float64
		want       float64
	}{
		{750, 750, 0, 0.75},
		{4300, 300, 0, 0.3},     // 4.3 - 4.0
		{300, 4300, 0, -3.7},    // 0.3 - 4.0
		{1200, 1200, 1, -3.1},   // 1.2 - 4.3
		{1850, 1200, 0.5, -0.6}, // 1.85 - 2.15 - 0.65 + 0.35
	}
	tests[4].want = 1.85 - 4.3*0.5 - 0.65
	for _, tt := range tests {
		if got := Lin(tt.kbps, tt.prev, tt.rebuf, 4.3); math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("Lin(%d, %d, %v) = %v, want %v", tt.kbps, tt.prev, tt.rebuf, got, tt.want)
		}
	}
}

func TestSummarize(t *testing.T) {
	tests := []struct {
		in   []float64
		want Summary
	}{
		{nil, Summary{}},
		{[]float64{3}, Summary{N: 1, Mean: 3, Median: 3}},
		{[]float64{4, 1, 3, 2}, Summary{N: 4, Mean: 2.5, Median: 2.5, CI95: 1.96 * math.Sqrt(5.0/3) / 2}},
		{[]float64{5, 1, 3}, Summary{N: 3, Mean: 3, Median: 3, CI95: 1.96 * 2 / math.Sqrt(3)}},
	}
	for _, tt := range tests {
		got := Summarize(tt.in)
		if got.N != tt.want.N || got.Mean != tt.want.Mean || got.Median != tt.want.Median || math.Abs(got.CI95-tt.want.CI95) > 1e-12 {
			t.Errorf("Summarize(%v) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}
