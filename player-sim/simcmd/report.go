package simcmd

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"text/tabwriter"

	"edgecdn/player-sim/abr"
	"edgecdn/player-sim/qoe"
	"edgecdn/player-sim/sim"
)

// Result is one algorithm over one folder of traces.
type Result struct {
	ABR             string  `json:"abr"`
	Traces          int     `json:"traces"`
	QoELinMean      float64 `json:"qoe_lin_mean"`
	QoELinMedian    float64 `json:"qoe_lin_median"`
	QoELinCI95      float64 `json:"qoe_lin_ci95"` // half-width of the 95% confidence interval of the mean
	BitrateKbpsMean float64 `json:"bitrate_kbps_mean"`
	RebufferSMean   float64 `json:"rebuffer_s_mean"`
	SwitchesMean    float64 `json:"switches_mean"` // bitrate switches per trace (chunk 0 to 1 included)
	// PctOptimal is the mean score as a percentage of the mean offline-optimal score (0 when
	// the optimum was not computed).
	PctOptimal float64       `json:"pct_of_optimal,omitempty"`
	PerTrace   []TraceResult `json:"per_trace"`
}

// TraceResult is one algorithm over one trace (chunks 2..48).
type TraceResult struct {
	Name        string  `json:"name"`
	Score       float64 `json:"score"`             // sum of QoE_lin
	BitrateKbps float64 `json:"bitrate_kbps"`      // mean bitrate
	RebufferS   float64 `json:"rebuffer_s"`        // total stall
	Switches    int     `json:"switches"`          // chunks whose level differs from the previous chunk's
	Optimal     float64 `json:"optimal,omitempty"` // the offline-optimal score of the trace
}

// OptimalABR is the name under which the offline-optimal bound is reported beside the ABRs.
const OptimalABR = "optimal (offline)"

// Optimal computes the offline-optimal session of every trace (sim.Simulator.Optimal), on
// workers goroutines, and returns them as a Result named OptimalABR.
func Optimal(cfg sim.Config, traces []*sim.Trace, workers int) (Result, error) {
	sessions := make([]sim.Session, len(traces))
	errs := make([]error, max(workers, 1))
	var wg sync.WaitGroup
	for w := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := sim.New(cfg)
			if err != nil {
				errs[w] = err
				return
			}
			for i := w; i < len(traces); i += len(errs) {
				if err := s.Optimal(traces[i], sim.OptimalConfig{}, &sessions[i]); err != nil {
					errs[w] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return Result{}, err
	}
	return summarize(OptimalABR, traces, sessions), nil
}

// WithOptimal sets every result's PctOptimal and per-trace Optimal from opt.
func WithOptimal(rs []Result, opt Result) {
	for k := range rs {
		if opt.QoELinMean != 0 {
			rs[k].PctOptimal = 100 * rs[k].QoELinMean / opt.QoELinMean
		}
		for i := range rs[k].PerTrace {
			if i < len(opt.PerTrace) {
				rs[k].PerTrace[i].Optimal = opt.PerTrace[i].Score
			}
		}
	}
}

// Evaluate plays every trace, in order, with a fresh instance of the algorithm called name.
func Evaluate(cfg sim.Config, traces []*sim.Trace, name string) (Result, error) {
	alg, err := abr.New(name)
	if err != nil {
		return Result{}, err
	}
	s, err := sim.New(cfg)
	if err != nil {
		return Result{}, err
	}
	sessions := make([]sim.Session, len(traces))
	for i, t := range traces {
		if err := s.Run(t, alg, &sessions[i]); err != nil {
			return Result{}, err
		}
	}
	return summarize(name, traces, sessions), nil
}

func summarize(name string, traces []*sim.Trace, sessions []sim.Session) Result {
	r := Result{ABR: name, Traces: len(traces), PerTrace: make([]TraceResult, len(traces))}
	scores := make([]float64, len(traces))
	var kbps, rebuf, switches float64
	for i, t := range traces {
		sess := &sessions[i]
		sw := 0
		for j := 1; j < len(sess.Chunks); j++ {
			if sess.Chunks[j].Level != sess.Chunks[j-1].Level {
				sw++
			}
		}
		r.PerTrace[i] = TraceResult{Name: t.Name, Score: sess.Score, BitrateKbps: sess.BitrateKbps, RebufferS: sess.Rebuffer, Switches: sw}
		scores[i] = sess.Score
		kbps += sess.BitrateKbps
		rebuf += sess.Rebuffer
		switches += float64(sw)
	}
	sum := qoe.Summarize(scores)
	r.QoELinMean, r.QoELinMedian, r.QoELinCI95 = sum.Mean, sum.Median, sum.CI95
	if n := float64(len(traces)); n > 0 {
		r.BitrateKbpsMean, r.RebufferSMean, r.SwitchesMean = kbps/n, rebuf/n, switches/n
	}
	return r
}

// WriteTable writes one line per result.
func WriteTable(w io.Writer, dir string, rs []Result) {
	fmt.Fprintf(w, "traces: %s\n", dir)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "abr\ttraces\tQoE_lin mean\t±95% CI\t% of optimal\tQoE_lin median\tbitrate kbps\trebuffer s\t")
	for _, r := range rs {
		pct := "-"
		if r.PctOptimal != 0 {
			pct = fmt.Sprintf("%.1f%%", r.PctOptimal)
		}
		fmt.Fprintf(tw, "%s\t%d\t%.3f\t%.3f\t%s\t%.3f\t%.0f\t%.3f\t\n",
			r.ABR, r.Traces, r.QoELinMean, r.QoELinCI95, pct, r.QoELinMedian, r.BitrateKbpsMean, r.RebufferSMean)
	}
	tw.Flush()
}

// writeJSON writes the one result as the top-level object, or with all set every result
// under "algorithms"; the offline optimum, when computed, goes under "optimal" (with all) or
// gives the one result's pct_of_optimal and per-trace optimal.
func writeJSON(path string, rs []Result, opt *Result, all bool) error {
	var v any = rs[0]
	if all {
		v = struct {
			Algorithms []Result `json:"algorithms"`
			Optimal    *Result  `json:"optimal,omitempty"`
		}{rs, opt}
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
