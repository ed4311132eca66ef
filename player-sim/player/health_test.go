package player

import (
	"bytes"
	"runtime/metrics"
	"strings"
	"testing"
)

// TestHealthVerdicts: a CDN whose first bytes come 50 ms late at the median is called starved,
// one that answers in a millisecond is not, and the text report says so.
func TestHealthVerdicts(t *testing.T) {
	slow := startHealthProbe().finish([]float64{40, 50, 60, 55, 45})
	if !slow.CDNStarved || slow.CDNExcessMSP50 != 50 {
		t.Errorf("slow CDN: %+v", slow)
	}
	var b bytes.Buffer
	slow.write(&b)
	if !strings.Contains(b.String(), "the CDN answered slowly") || !strings.Contains(b.String(), "not valid") {
		t.Errorf("report: %s", b.String())
	}
	fast := startHealthProbe().finish([]float64{1, 1, 2, 1})
	if fast.CDNStarved {
		t.Errorf("fast CDN called starved: %+v", fast)
	}
}

func TestHistQuantile(t *testing.T) {
	a := &metrics.Float64Histogram{Counts: []uint64{0, 0, 0}, Buckets: []float64{0, 1, 2, 3}}
	b := &metrics.Float64Histogram{Counts: []uint64{90, 9, 1}, Buckets: []float64{0, 1, 2, 3}}
	if q := histQuantile(a, b, 0.5); q != 1 {
		t.Errorf("p50 = %v, want 1 (the upper bound of the first bucket)", q)
	}
	if q := histQuantile(a, b, 0.995); q != 3 {
		t.Errorf("p99.5 = %v, want 3", q)
	}
}
