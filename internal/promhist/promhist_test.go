package promhist

import (
	"bytes"
	"strings"
	"testing"

	"github.com/VictoriaMetrics/metrics"
)

func TestHistogram(t *testing.T) {
	set := metrics.NewSet()
	h := New(set, "x_seconds", `kind="a"`, []float64{0.1, 1})
	for _, v := range []float64{0.05, 0.1, 0.5, 2} {
		h.Observe(v)
	}
	var buf bytes.Buffer
	set.WritePrometheus(&buf)
	got := buf.String()
	for _, want := range []string{
		`x_seconds_bucket{kind="a",le="0.1"} 2`,
		`x_seconds_bucket{kind="a",le="1"} 3`,
		`x_seconds_bucket{kind="a",le="+Inf"} 4`,
		`x_seconds_sum{kind="a"} 2.65`,
		`x_seconds_count{kind="a"} 4`,
	} {
		if !strings.Contains(got, want+"\n") {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if n := testing.AllocsPerRun(100, func() { h.Observe(0.3) }); n != 0 {
		t.Errorf("Observe allocates %v times, want 0", n)
	}
}
