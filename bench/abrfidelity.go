package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"edgecdn/demo"
	"edgecdn/origin/packager"
	"edgecdn/player-sim/abr"
	"edgecdn/player-sim/fidelity"
	"edgecdn/player-sim/player"
)

func init() {
	scenarios["abr-fidelity"] = scenario{"emulation vs virtual time, trace by trace: one real-time player per trace through an idle CDN, QoE_lin per chunk in both modes", "go run ./bench abr-fidelity --sets oboe --max-traces 5", runABRFidelity}
}

// runABRFidelity plays whole trace folders in both modes (package player-sim/fidelity): in
// emulation, one real-time player per trace, each link replaying its trace from the start, through
// the whole CDN with nothing else on it, in batches so that the machine is not what is measured;
// in virtual time, the same ABR, ladder and chunk count. It reports the per-trace difference.
func runABRFidelity(ctx context.Context, args []string) (string, error) {
	root := moduleRoot()
	fs := newFlags("abr-fidelity")
	tracesDir := fs.String("traces", filepath.Join(root, "..", "shared", "traces"), "folder of trace sets (when missing: the sample in player-sim/testdata/traces)")
	setNames := fs.String("sets", "oboe,puffer-220218", "trace sets (sub-folders of --traces), comma-separated")
	maxTraces := fs.Int("max-traces", 0, "at most this many traces per set, the first in sorted order (0: all)")
	batch := fs.Int("batch", 40, "players playing at once")
	chunks := fs.Int("chunks", 48, "chunks per session (4 s each)")
	name := fs.String("abr", abr.Default, "ABR algorithm")
	if err := parseFlags(fs, args); err != nil {
		return "", err
	}
	if _, err := abr.New(*name); err != nil {
		return "", err
	}
	if *chunks < 2 || *chunks > 48 || *batch < 1 {
		return "", errors.New("--chunks 2..48 and --batch >= 1")
	}
	var b strings.Builder
	fmt.Fprintf(&b, "## ABR fidelity: emulation vs virtual time\n\n`go run ./bench abr-fidelity %s` on %d CPUs (%s).%s\n\n", strings.Join(args, " "), runtime.NumCPU(), runtime.Version(), loadNote())
	dir := *tracesDir
	if _, err := os.Stat(dir); err != nil {
		sample := filepath.Join(root, "player-sim", "testdata", "traces")
		fmt.Fprintf(&b, "**%s is not there**: the sample carried in the repository, %s, was played instead.\n\n", dir, sample)
		dir = sample
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	content, err := os.MkdirTemp("", "edgecdn-bench-fidelity-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(content)
	if _, err := packager.Package(ctx, packager.Config{Out: content, Titles: 1, Duration: time.Duration(*chunks) * 4 * time.Second, Logger: quiet}); err != nil {
		return "", err
	}
	st, err := demo.Start(ctx, demo.StackConfig{Content: content, CacheBytes: 1 << 30})
	if err != nil {
		return "", err
	}
	defer st.Stop(context.Background())
	fmt.Fprintf(&b, "The whole CDN in the bench process (`demo.Start`), one title on the Envivio ladder, nothing else playing. Each trace gets one real-time player (`player.RunFleet`, entering at an edge by URL) whose link replays it from its start (`--trace-offset 0`: 0.95 x the trace's rate, the link's clock standing still during the 80 ms added per request), buffer cap 60 s, %d chunks, %s; %d players at a time. Virtual time plays the same traces with `sim.Simulator` (Pensieve's environment, %d chunks), a fresh %s per trace. Figures are QoE_lin per chunk (the score over chunks 2..%d divided by %d) on the ladder's nominal bitrates; diff = emulated − virtual.\n\n",
		*chunks, *name, *batch, *chunks, *name, *chunks, *chunks-1)
	fmt.Fprintf(&b, "| set | traces | virtual mean | emulated mean | median abs diff | %% of virtual mean | worst abs diff (trace) | failed | starved batches |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	var details strings.Builder
	var sum []string
	for _, set := range splitList(*setNames) {
		ts, n, err := loadTracesCapped(filepath.Join(dir, set), *maxTraces)
		if err != nil {
			fmt.Fprintf(&b, "| %s | not run: %v ||||||||\n", set, err)
			continue
		}
		all := &fidelity.Report{ABR: *name, Chunks: *chunks}
		starved, failed := 0, 0
		var warn []string
		for lo := 0; lo < len(ts); lo += *batch {
			part := ts[lo:min(lo+*batch, len(ts))]
			fmt.Fprintf(os.Stderr, "abr-fidelity: %s traces %d-%d of %d\n", set, lo+1, lo+len(part), len(ts))
			r, err := fidelity.Run(ctx, fidelity.Config{Traces: part, Title: "title-000", ABR: *name, Chunks: *chunks,
				Entry: func(i int) player.Entry { return player.URLEntry{Base: st.Edges[i%len(st.Edges)].URL} }})
			if err != nil {
				return "", fmt.Errorf("%s: %w", set, err)
			}
			if h := r.Emulation.Health; h.PlayerStarved || h.CDNStarved {
				starved++
				warn = append(warn, fmt.Sprintf("traces %d-%d: %s", lo+1, lo+len(part), strings.Join(h.Warnings, "; ")))
			}
			all.Traces = append(all.Traces, r.Traces...)
		}
		fidelity.Summarize(all)
		for _, t := range all.Traces {
			if t.Failed != "" {
				failed++
			}
		}
		fmt.Fprintf(&b, "| %s | %d of %d | %.3f | %.3f | %.3f | %.1f%% | %.3f (%s) | %d | %d |\n", set, len(ts), n, all.MeanVirtual, all.MeanEmulated, all.MedianAbsDiff, 100*all.RelMedian, all.WorstAbsDiff, all.Worst, failed, starved)
		sum = append(sum, fmt.Sprintf("%s median |diff| %.1f%% of the virtual mean, worst %.3f (%s)", set, 100*all.RelMedian, all.WorstAbsDiff, all.Worst))
		fmt.Fprintf(&details, "\n#### %s, trace by trace\n\n```\n", set)
		all.WriteTable(&details)
		details.WriteString("```\n")
		for _, w := range warn {
			fmt.Fprintf(&details, "\n- starved: %s\n", w)
		}
	}
	b.WriteString(details.String())
	fmt.Fprintf(&b, "\nSummary: %s.\n", strings.Join(sum, "; "))
	return b.String(), nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
