// Package promhist is a fixed-bucket histogram written in the Prometheus text format (le
// buckets, _sum, _count), so that histogram_quantile works on it, registered on a
// VictoriaMetrics metrics.Set. Observing does not allocate or lock.
package promhist

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// LatencyBuckets are upper bounds in seconds for request latencies, 100 µs to 30 s.
var LatencyBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// Histogram counts observations into cumulative buckets.
type Histogram struct {
	name, labels string // labels without braces: `kind="segment"`, or ""
	bounds       []float64
	counts       []atomic.Uint64 // one per bound, plus +Inf
	sumMicro     atomic.Uint64   // sum in millionths, so it can be added atomically
}

// New registers a histogram called name (with optional labels, `kind="segment"`) on set.
// Histograms of one name with different labels may be registered on the same set.
func New(set *metrics.Set, name, labels string, bounds []float64) *Histogram {
	b := append([]float64(nil), bounds...)
	sort.Float64s(b)
	h := &Histogram{name: name, labels: labels, bounds: b, counts: make([]atomic.Uint64, len(b)+1)}
	set.RegisterMetricsWriter(h.write)
	return h
}

// Observe adds one value.
func (h *Histogram) Observe(v float64) {
	i := sort.SearchFloat64s(h.bounds, v) // first bound >= v
	h.counts[i].Add(1)
	if v > 0 && !math.IsInf(v, 0) {
		h.sumMicro.Add(uint64(v * 1e6))
	}
}

// Since observes the seconds elapsed since t.
func (h *Histogram) Since(t time.Time) { h.Observe(time.Since(t).Seconds()) }

func (h *Histogram) write(w io.Writer) {
	sep := ""
	if h.labels != "" {
		sep = ","
	}
	var cum uint64
	var b strings.Builder
	for i, le := range h.bounds {
		cum += h.counts[i].Load()
		fmt.Fprintf(&b, "%s_bucket{%s%sle=\"%g\"} %d\n", h.name, h.labels, sep, le, cum)
	}
	cum += h.counts[len(h.bounds)].Load()
	fmt.Fprintf(&b, "%s_bucket{%s%sle=\"+Inf\"} %d\n", h.name, h.labels, sep, cum)
	lbl := ""
	if h.labels != "" {
		lbl = "{" + h.labels + "}"
	}
	fmt.Fprintf(&b, "%s_sum%s %g\n%s_count%s %d\n", h.name, lbl, float64(h.sumMicro.Load())/1e6, h.name, lbl, cum)
	io.WriteString(w, b.String())
}
