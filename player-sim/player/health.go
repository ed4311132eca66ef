package player

import (
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"runtime/metrics"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Health says whether a run's QoE is about the CDN and the links or about a starved machine:
// real-time players measure time, and a process that is not scheduled, or a CDN that answers
// late because it shares the cores, shows up as slow links, lower bitrates and stalls.
type Health struct {
	CPUs int `json:"cpus"`
	// LoadAvg is the machine's 1-minute load average at the end (Linux; 0 elsewhere).
	LoadAvg float64 `json:"load_avg_1m"`
	// TimerLateMSP50, P99 and Max: how late a 10 ms sleep of the player process woke, over the
	// run (probed every 50 ms).
	TimerLateMSP50 float64 `json:"timer_late_ms_p50"`
	TimerLateMSP99 float64 `json:"timer_late_ms_p99"`
	TimerLateMSMax float64 `json:"timer_late_ms_max"`
	// SchedLatencyMSP99 is the 99th percentile of the time goroutines of the player process
	// waited runnable before running (Go's /sched/latencies:seconds over the run).
	SchedLatencyMSP99 float64 `json:"sched_latency_ms_p99"`
	// CDNExcessMSP50 and P99: a segment's time to first byte beyond the player's own added
	// latency, over every segment: the CDN's answer time (an idle edge on loopback answers a
	// cache hit in about a millisecond).
	CDNExcessMSP50 float64 `json:"cdn_ttfb_excess_ms_p50"`
	CDNExcessMSP99 float64 `json:"cdn_ttfb_excess_ms_p99"`
	// PlayerStarved and CDNStarved are the verdicts; Warnings says why, for people.
	PlayerStarved bool     `json:"player_starved"`
	CDNStarved    bool     `json:"cdn_starved"`
	Warnings      []string `json:"warnings,omitempty"`
}

// Thresholds of the verdicts: beyond them, timing errors are a sizeable share of what a player
// measures (a 4 s segment at the top rung downloads in about a second on a fast link).
const (
	timerLateLimitMS = 20  // p99 of a sleep's lateness
	schedLimitMS     = 20  // p99 of goroutine scheduling latency
	cdnExcessP50MS   = 20  // median extra time to first byte
	cdnExcessP99MS   = 200 // p99 extra time to first byte
)

// healthProbe measures the player process's timer lateness while a fleet runs.
type healthProbe struct {
	mu    sync.Mutex
	late  []float64 // ms
	stop  chan struct{}
	done  chan struct{}
	sched *metrics.Float64Histogram
}

func startHealthProbe() *healthProbe {
	h := &healthProbe{stop: make(chan struct{}), done: make(chan struct{}), sched: schedHistogram()}
	go func() {
		defer close(h.done)
		const sleep = 10 * time.Millisecond
		for {
			t0 := time.Now()
			time.Sleep(sleep)
			late := float64(time.Since(t0)-sleep) / 1e6
			h.mu.Lock()
			if len(h.late) < 1<<20 {
				h.late = append(h.late, max(late, 0))
			}
			h.mu.Unlock()
			select {
			case <-h.stop:
				return
			case <-time.After(40 * time.Millisecond):
			}
		}
	}()
	return h
}

func schedHistogram() *metrics.Float64Histogram {
	s := []metrics.Sample{{Name: "/sched/latencies:seconds"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindFloat64Histogram {
		return nil
	}
	return s[0].Value.Float64Histogram()
}

// finish stops the probe and judges the run; ttfbExcess holds every segment's time to first
// byte beyond the added latency, in ms.
func (h *healthProbe) finish(ttfbExcess []float64) Health {
	close(h.stop)
	<-h.done
	r := Health{CPUs: runtime.NumCPU(), LoadAvg: loadAvg()}
	h.mu.Lock()
	late := append([]float64(nil), h.late...)
	h.mu.Unlock()
	sort.Float64s(late)
	r.TimerLateMSP50, r.TimerLateMSP99 = quantile(late, 0.5), quantile(late, 0.99)
	if len(late) > 0 {
		r.TimerLateMSMax = late[len(late)-1]
	}
	if end := schedHistogram(); end != nil && h.sched != nil {
		r.SchedLatencyMSP99 = 1000 * histQuantile(h.sched, end, 0.99)
	}
	sort.Float64s(ttfbExcess)
	r.CDNExcessMSP50, r.CDNExcessMSP99 = quantile(ttfbExcess, 0.5), quantile(ttfbExcess, 0.99)
	if r.TimerLateMSP99 > timerLateLimitMS || r.SchedLatencyMSP99 > schedLimitMS {
		r.PlayerStarved = true
		r.Warnings = append(r.Warnings, fmt.Sprintf("the player process was starved of CPU: a 10 ms sleep woke %.0f ms late at p99 (limit %d), goroutines waited %.0f ms to run at p99 (limit %d); its timings, and so its QoE, are about this machine",
			r.TimerLateMSP99, timerLateLimitMS, r.SchedLatencyMSP99, schedLimitMS))
	}
	if r.CDNExcessMSP50 > cdnExcessP50MS || r.CDNExcessMSP99 > cdnExcessP99MS {
		r.CDNStarved = true
		r.Warnings = append(r.Warnings, fmt.Sprintf("the CDN answered slowly: time to first byte beyond the added latency p50 %.0f ms, p99 %.0f ms (limits %d and %d): overloaded or starved of CPU",
			r.CDNExcessMSP50, r.CDNExcessMSP99, cdnExcessP50MS, cdnExcessP99MS))
	}
	if r.LoadAvg > 2*float64(r.CPUs) {
		r.Warnings = append(r.Warnings, fmt.Sprintf("the machine's load average is %.1f on %d CPUs", r.LoadAvg, r.CPUs))
	}
	return r
}

// histQuantile is the q quantile of the samples added to a cumulative histogram between a and b.
func histQuantile(a, b *metrics.Float64Histogram, q float64) float64 {
	if len(a.Counts) != len(b.Counts) {
		return 0
	}
	var total uint64
	d := make([]uint64, len(b.Counts))
	for i := range b.Counts {
		d[i] = b.Counts[i] - a.Counts[i]
		total += d[i]
	}
	if total == 0 {
		return 0
	}
	want := uint64(math.Ceil(q * float64(total)))
	var n uint64
	for i, c := range d {
		n += c
		if n >= want {
			up := b.Buckets[i+1]
			if math.IsInf(up, 1) {
				up = b.Buckets[i]
			}
			return up
		}
	}
	return 0
}

func loadAvg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

// WriteHealth writes the health lines of the text report.
func (h *Health) write(w io.Writer) {
	fmt.Fprintf(w, "machine          %d CPUs, load %.1f; player process: sleeps late p50 %.1f ms, p99 %.1f ms, scheduling p99 %.1f ms; CDN first byte beyond latency p50 %.1f ms, p99 %.1f ms\n",
		h.CPUs, h.LoadAvg, h.TimerLateMSP50, h.TimerLateMSP99, h.SchedLatencyMSP99, h.CDNExcessMSP50, h.CDNExcessMSP99)
	for _, m := range h.Warnings {
		fmt.Fprintf(w, "WARNING          %s\n", m)
	}
	if h.PlayerStarved || h.CDNStarved {
		fmt.Fprintln(w, "WARNING          these QoE figures are not valid for comparison")
	}
}
