package simcmd

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"edgecdn/player-sim/abr"
	"edgecdn/player-sim/qoe"
	"edgecdn/player-sim/sim"
)

// Result is one algorithm over one folder of traces.
type Result struct {
	ABR             string        `json:"abr"`
	Traces          int           `json:"traces"`
	QoELinMean      float64       `json:"qoe_lin_mean"`
	QoELinMedian    float64       `json:"qoe_lin_median"`
	QoELinCI95      float64       `json:"qoe_lin_ci95"` // half-width of the 95% confidence interval of the mean
	BitrateKbpsMean float64       `json:"bitrate_kbps_mean"`
	RebufferSMean   float64       `json:"rebuffer_s_mean"`
	SwitchesMean    float64       `json:"switches_mean"` // bitrate switches per trace (chunk 0 to 1 included)
	PerTrace        []TraceResult `json:"per_trace"`
}

// TraceResult is one algorithm over one trace (chunks 2..48).
type TraceResult struct {
	Name        string  `json:"name"`
	Score       float64 `json:"score"`        // sum of QoE_lin
	BitrateKbps float64 `json:"bitrate_kbps"` // mean bitrate
	RebufferS   float64 `json:"rebuffer_s"`   // total stall
	Switches    int     `json:"switches"`     // chunks whose level differs from the previous chunk's
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
	r := Result{ABR: name, Traces: len(traces), PerTrace: make([]TraceResult, len(traces))}
	scores := make([]float64, len(traces))
	var sess sim.Session
	var kbps, rebuf, switches float64
	for i, t := range traces {
		if err := s.Run(t, alg, &sess); err != nil {
			return Result{}, err
		}
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
	return r, nil
}

// WriteTable writes one line per result.
func WriteTable(w io.Writer, dir string, rs []Result) {
	fmt.Fprintf(w, "traces: %s\n", dir)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "abr\ttraces\tQoE_lin mean\t±95% CI\tQoE_lin median\tbitrate kbps\trebuffer s\t")
	for _, r := range rs {
		fmt.Fprintf(tw, "%s\t%d\t%.3f\t%.3f\t%.3f\t%.0f\t%.3f\t\n",
			r.ABR, r.Traces, r.QoELinMean, r.QoELinCI95, r.QoELinMedian, r.BitrateKbpsMean, r.RebufferSMean)
	}
	tw.Flush()
}

// writeJSON writes the one result as the top-level object, or with all set every result
// under "algorithms".
func writeJSON(path string, rs []Result, all bool) error {
	var v any = rs[0]
	if all {
		v = struct {
			Algorithms []Result `json:"algorithms"`
		}{rs}
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
