package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"edgecdn/demo"
	"edgecdn/origin/packager"
	"edgecdn/player-sim/abr"
	"edgecdn/player-sim/player"
	"edgecdn/player-sim/qoe"
	"edgecdn/player-sim/sim"
	"edgecdn/player-sim/simcmd"
)

// runABR compares the ABR algorithms twice: in virtual time on every trace set (the simulator of
// player-sim sim, Pensieve's fixed environment), and in emulation, with fleets of real-time
// players streaming through the whole CDN over links that replay the carried sample traces.
func runABR(ctx context.Context, args []string) (string, error) {
	root := moduleRoot()
	fs := newFlags("abr")
	tracesDir := fs.String("traces", filepath.Join(root, "..", "shared", "traces"), "virtual time: folder of trace sets, one sub-folder per set (when missing: the sample in player-sim/testdata/traces)")
	maxTraces := fs.Int("max-traces", 1000, "virtual time: at most this many traces per set, the first in sorted file-name order")
	algos := fs.String("abr", "all", "ABR algorithms, comma-separated, or all")
	virtual := fs.Bool("virtual", true, "run the virtual-time part")
	emulate := fs.Bool("emulation", true, "run the emulation part")
	players := fs.Int("players", 30, "emulation: players per ABR (every ABR's fleet plays at the same time)")
	media := fs.Duration("media", 40*time.Second, "emulation: media each player plays")
	emuTraces := fs.String("emu-traces", filepath.Join(root, "player-sim", "testdata", "traces"), "emulation: players' links replay the traces of this folder and its sub-folders, each from a random offset")
	arrival := fs.Duration("arrival", 3*time.Second, "emulation: players of each fleet arrive over this long (Poisson)")
	cut := fs.Duration("emu-timeout", 150*time.Second, "emulation: players still playing after this are cut (and reported as such)")
	titles := fs.Int("titles", 5, "emulation: titles in the catalog (Zipf 1.0)")
	seed := fs.Uint64("seed", 1, "emulation: seed of arrivals, titles and trace offsets (the same for every ABR: player i of each fleet gets the same title, trace and offset)")
	if err := parseFlags(fs, args); err != nil {
		return "", err
	}
	names := abr.Names()
	if *algos != "all" {
		names = nil
		for _, n := range strings.Split(*algos, ",") {
			n = strings.TrimSpace(n)
			if _, err := abr.New(n); err != nil {
				return "", err
			}
			names = append(names, n)
		}
	}
	out, err := resultsDir()
	if err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "## ABR algorithms: virtual time and emulation\n\n`go run ./bench abr %s` on %d CPUs (%s). Video: the EnvivioDash3 ladder (300-4300 kbps, 4 s chunks; `internal/envivio`).%s\n\n",
		strings.Join(args, " "), runtime.NumCPU(), runtime.Version(), loadNote())
	var summary []string
	if *virtual {
		sum, err := abrVirtual(&b, out, *tracesDir, filepath.Join(root, "player-sim", "testdata", "traces"), *maxTraces, names)
		if err != nil {
			return "", err
		}
		summary = append(summary, sum)
	} else {
		fmt.Fprintf(&b, "### Virtual time\n\nNot run (--virtual=false).\n\n")
	}
	if *emulate {
		cfg := emuConfig{players: *players, media: *media, traces: *emuTraces, arrival: *arrival, cut: *cut, titles: *titles, seed: *seed}
		sum, err := abrEmulation(ctx, &b, out, cfg, names)
		if err != nil {
			return "", err
		}
		summary = append(summary, sum)
	} else {
		fmt.Fprintf(&b, "### Emulation\n\nNot run (--emulation=false).\n\n")
	}
	fmt.Fprintf(&b, "Summary: %s.\n", strings.Join(summary, "; "))
	return b.String(), nil
}

// moduleRoot is the folder holding go.mod: the working directory or one above it.
func moduleRoot() string {
	for _, d := range []string{".", ".."} {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
	}
	return "."
}

// traceSet is one folder of traces, possibly capped.
type traceSet struct {
	name, dir string
	files     int // trace files in the folder
	traces    []*sim.Trace
}

// traceSets returns the sets under dir: its sub-folders, or dir itself when it holds trace files
// and no sub-folder does.
func traceSets(dir string, limit int) ([]traceSet, []string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, err
	}
	var sets []traceSet
	var notes []string
	for _, e := range ents {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		ts, n, err := loadTracesCapped(filepath.Join(dir, e.Name()), limit)
		if err != nil {
			notes = append(notes, fmt.Sprintf("%s skipped: %v", e.Name(), err))
			continue
		}
		sets = append(sets, traceSet{name: e.Name(), dir: filepath.Join(dir, e.Name()), files: n, traces: ts})
	}
	if len(sets) == 0 {
		ts, n, err := loadTracesCapped(dir, limit)
		if err != nil {
			return nil, notes, fmt.Errorf("no trace set in %s: %w", dir, err)
		}
		sets = append(sets, traceSet{name: filepath.Base(dir), dir: dir, files: n, traces: ts})
	}
	return sets, notes, nil
}

// loadTracesCapped reads the first limit of sim.TraceFiles(dir) with the simulator's parser, and
// says how many trace files the folder holds.
func loadTracesCapped(dir string, limit int) ([]*sim.Trace, int, error) {
	names, err := sim.TraceFiles(dir)
	if err != nil {
		return nil, 0, err
	}
	total := len(names)
	if limit > 0 && len(names) > limit {
		names = names[:limit]
	}
	var ts []*sim.Trace
	for _, n := range names {
		f, err := os.Open(filepath.Join(dir, n))
		if err != nil {
			return nil, total, err
		}
		t, err := sim.ParseTrace(n, f)
		f.Close()
		if err != nil {
			return nil, total, err
		}
		ts = append(ts, t)
	}
	return ts, total, nil
}

// abrVirtual writes the virtual-time part and returns its one-line summary.
func abrVirtual(b *strings.Builder, out, dir, sample string, limit int, names []string) (string, error) {
	fmt.Fprintf(b, "### Virtual time\n\nplayer-sim's simulator (`simcmd.Evaluate`, Pensieve's fixed environment: 48 chunks, 60 s buffer cap, 0.95 x trace throughput, 80 ms RTT; QoE_lin summed over chunks 2..48), every ABR on every trace set, at most %d traces per set (`--max-traces`). Mean ± half-width of the 95%% confidence interval over traces; %% of optimal = mean score / mean offline-optimal score (`sim.Simulator.Optimal`: the best levels knowing the whole trace, a dynamic programme over chunk, level and buffer); switches = chunks at another level than the one before, per trace.\n\n", limit)
	if _, err := os.Stat(dir); err != nil {
		fmt.Fprintf(b, "**%s is not there** (%v): the sample carried in the repository, %s (20 traces per set), was played instead; its figures are not those of the full sets.\n\n", dir, errors.Unwrap(err), sample)
		fmt.Fprintf(os.Stderr, "abr: %s missing, using the sample %s\n", dir, sample)
		dir = sample
	}
	sets, notes, err := traceSets(dir, limit)
	if err != nil {
		return "", err
	}
	var sum []string
	for _, n := range notes {
		fmt.Fprintf(b, "- %s\n", n)
	}
	if len(notes) > 0 {
		b.WriteString("\n")
	}
	for _, set := range sets {
		start := time.Now()
		var rs []simcmd.Result
		for _, n := range names {
			r, err := simcmd.Evaluate(sim.Config{}, set.traces, n)
			if err != nil {
				return "", fmt.Errorf("%s on %s: %w", n, set.name, err)
			}
			rs = append(rs, r)
		}
		opt, err := simcmd.Optimal(sim.Config{}, set.traces, runtime.GOMAXPROCS(0))
		if err != nil {
			return "", fmt.Errorf("optimal on %s: %w", set.name, err)
		}
		simcmd.WithOptimal(rs, opt)
		took := time.Since(start)
		capNote := ""
		if len(set.traces) < set.files {
			capNote = fmt.Sprintf(", **capped** at %d of %d", len(set.traces), set.files)
		}
		fmt.Fprintf(b, "#### %s (%s: %d traces%s; %.1f s for all ABRs)\n\n", set.name, set.dir, len(set.traces), capNote, took.Seconds())
		fmt.Fprintf(b, "| ABR | traces | QoE_lin mean ± 95%% CI | %% of optimal | rebuffer s mean | bitrate kbps mean | switches mean |\n|---|---:|---:|---:|---:|---:|---:|\n")
		best := 0
		for i, r := range rs {
			if r.QoELinMean > rs[best].QoELinMean {
				best = i
			}
		}
		for i, r := range rs {
			name := r.ABR
			if i == best {
				name = "**" + name + "**"
			}
			fmt.Fprintf(b, "| %s | %d | %.3f ± %.3f | %.1f%% | %.3f | %.0f | %.2f |\n", name, r.Traces, r.QoELinMean, r.QoELinCI95, r.PctOptimal, r.RebufferSMean, r.BitrateKbpsMean, r.SwitchesMean)
		}
		fmt.Fprintf(b, "| *offline optimal* | %d | %.3f ± %.3f | 100%% | %.3f | %.0f | %.2f |\n", opt.Traces, opt.QoELinMean, opt.QoELinCI95, opt.RebufferSMean, opt.BitrateKbpsMean, opt.SwitchesMean)
		png := "abr-virtual-" + safeName(set.name) + ".png"
		if err := simcmd.WritePlot(filepath.Join(out, png), set.dir, rs); err != nil {
			return "", fmt.Errorf("plot %s: %w", png, err)
		}
		sum = append(sum, fmt.Sprintf("%s (%d traces) %s %.3f ± %.3f", set.name, len(set.traces), rs[best].ABR, rs[best].QoELinMean, rs[best].QoELinCI95))
		fmt.Fprintf(b, "\n![QoE_lin per ABR, %s](%s)\n\n", set.name, png)
		fmt.Fprintf(os.Stderr, "abr virtual: %s, %d traces, %v\n", set.name, len(set.traces), took.Round(time.Millisecond))
	}
	prefix := "best QoE_lin in virtual time: "
	if dir == sample {
		prefix = "best QoE_lin in virtual time (the repository's sample, ../shared/traces missing): "
	}
	return prefix + strings.Join(sum, ", "), nil
}

// errorKind sorts a player's error message into a few kinds for the report.
func errorKind(e string) string {
	switch {
	case strings.Contains(e, "no response head"):
		return "no response head in 3 s"
	case strings.Contains(e, "deadline exceeded") || strings.Contains(e, "Timeout"):
		return "segment timeout"
	case strings.Contains(e, "connection refused") || strings.Contains(e, "connection reset") || strings.Contains(e, "EOF"):
		return "connection refused, reset or closed"
	case strings.Contains(e, ": 5"):
		return "5xx status"
	case strings.Contains(e, ": 4"):
		return "4xx status"
	case strings.Contains(e, "do not match"):
		return "corrupt bytes"
	}
	return "other"
}

func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			return r
		}
		return '_'
	}, s)
}

type emuConfig struct {
	players      int
	media        time.Duration
	traces       string
	arrival, cut time.Duration
	titles       int
	seed         uint64
}

// emuResult is one ABR's fleet.
type emuResult struct {
	abr         string
	rep         *player.Report
	qoe         qoe.Summary
	cut, failed int // cut at the deadline; failed otherwise
	err         error
}

// abrEmulation writes the emulation part and returns its one-line summary.
func abrEmulation(ctx context.Context, b *strings.Builder, out string, cfg emuConfig, names []string) (string, error) {
	fmt.Fprintf(b, "### Emulation: real players through the CDN\n\n")
	// The links: every trace of the folder and of its sub-folders.
	var links []player.Link
	var sources []string
	dirs := []string{cfg.traces}
	if ents, err := os.ReadDir(cfg.traces); err == nil {
		for _, e := range ents {
			if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
				dirs = append(dirs, filepath.Join(cfg.traces, e.Name()))
			}
		}
	}
	for _, d := range dirs {
		ls, _, err := player.LoadTraces(d)
		if err != nil {
			continue // a folder of folders holds no trace itself
		}
		for _, l := range ls {
			links = append(links, l)
		}
		sources = append(sources, fmt.Sprintf("%s (%d)", d, len(ls)))
	}
	if len(links) == 0 {
		fmt.Fprintf(b, "**Not run**: no trace in %s for the players' links.\n\n", cfg.traces)
		fmt.Fprintf(os.Stderr, "abr: no traces in %s, emulation not run\n", cfg.traces)
		return "emulation not run (no traces in " + cfg.traces + ")", nil
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	dir, err := os.MkdirTemp("", "edgecdn-bench-abr-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	seg := 4 * time.Second
	dur := time.Duration(math.Ceil(cfg.media.Seconds()/seg.Seconds())) * seg
	cat, err := packager.Package(ctx, packager.Config{Out: dir, Titles: cfg.titles, Duration: dur, Logger: quiet})
	if err != nil {
		return "", err
	}
	var titles []string
	for _, t := range cat.Titles {
		titles = append(titles, t.Name)
	}
	st, err := demo.Start(ctx, demo.StackConfig{Content: dir, CacheBytes: 1 << 30})
	if err != nil {
		return "", err
	}
	defer st.Stop(context.Background())
	zones := []string{"zone-a", "zone-b", "zone-c"}

	fmt.Fprintf(b, "The whole CDN in the bench process (`demo.Start`: 2 origins, 6 edges in 3 zones, balancers, DNS, steering; %d titles of %v on the Envivio ladder, Zipf 1.0). For each ABR a fleet of %d real-time players (`player.RunFleet`; steering with the players' zones in turn), all fleets at the same time, each arriving over %v; every player plays %v of media over its own link replaying one of %d traces (%s) from a random offset (`player.TraceLink`). The same seed for every fleet: player i of each ABR gets the same title, trace and offset. Players still playing %v after the start are cut.\n\n",
		len(titles), dur, cfg.players, cfg.arrival, cfg.media, len(links), strings.Join(sources, ", "), cfg.cut)

	rctx, cancel := context.WithTimeout(ctx, cfg.cut)
	defer cancel()
	results := make([]emuResult, len(names))
	var wg sync.WaitGroup
	start := time.Now()
	for k, n := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rep, err := player.RunFleet(rctx, player.FleetConfig{
				Players: cfg.players, Titles: titles, Rate: float64(cfg.players) / cfg.arrival.Seconds(), MaxSeconds: cfg.media.Seconds(),
				Seed: cfg.seed, Links: links,
				NewEntry: func(i int) player.Entry { return &player.SteeringEntry{URL: st.Steering, Zone: zones[i%len(zones)]} },
				NewABR:   func() (abr.Algorithm, error) { return abr.New(n) },
			})
			results[k] = emuResult{abr: n, rep: rep, err: err}
		}()
	}
	wg.Wait()
	wall := time.Since(start)
	if ctx.Err() != nil {
		return "", ctx.Err()
	}
	fmt.Fprintf(os.Stderr, "abr emulation: %d fleets of %d players in %v\n", len(names), cfg.players, wall.Round(time.Second))

	// The default ABR's players, for paired differences: player i of every fleet had the same
	// title, trace and offset.
	var ref *player.Report
	for _, r := range results {
		if r.abr == abr.Default && r.err == nil && len(r.rep.PerPlayer) == cfg.players {
			ref = r.rep
		}
	}
	fmt.Fprintf(b, "| ABR | players | QoE_lin mean ± 95%% CI | paired Δ vs %s | rebuffer ratio | stalls | bitrate kbps | switches mean | startup p50 ms | failed | cut | client errors | link timeouts | corrupt |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n", abr.Default)
	var cutAll, errAll int
	var cutWho, starved []string
	kinds := map[string]int{}
	for k := range results {
		r := &results[k]
		if r.err != nil {
			fmt.Fprintf(b, "| %s | fleet error: %v ||||||||||||\n", r.abr, r.err)
			errAll++
			continue
		}
		var scores, diffs []float64
		for i, p := range r.rep.PerPlayer {
			switch {
			case p.Failed && strings.Contains(p.FailReason, "context"):
				r.cut++
				var bits, secs float64
				for _, c := range p.Chunks {
					bits, secs = bits+float64(c.Bytes)*8, secs+c.Seconds
				}
				cutWho = append(cutWho, fmt.Sprintf("%s #%d (%d segments in, %d errors, %.2f Mbit/s over its segments)", r.abr, i, len(p.Chunks), p.Errors, bits/max(secs, 1e-9)/1e6))
			case p.Failed:
				r.failed++
			default:
				scores = append(scores, p.QoELin)
				if ref != nil && len(r.rep.PerPlayer) == cfg.players && !ref.PerPlayer[i].Failed {
					diffs = append(diffs, p.QoELin-ref.PerPlayer[i].QoELin)
				}
			}
		}
		r.qoe = qoe.Summarize(scores)
		cutAll += r.cut
		rep := r.rep
		delta := "—"
		if d := qoe.Summarize(diffs); r.abr != abr.Default && d.N > 0 {
			delta = fmt.Sprintf("%+.2f ± %.2f (%d)", d.Mean, d.CI95, d.N)
		}
		fmt.Fprintf(b, "| %s | %d | %.2f ± %.2f | %s | %.4f | %d | %.0f | %.2f | %.0f | %d | %d | %d | %d | %d |\n", r.abr, rep.Players, r.qoe.Mean, r.qoe.CI95, delta,
			rep.RebufferRatio, rep.RebufferCount, rep.BitrateKbps, rep.SwitchesMean, rep.StartupMSP50, r.failed, r.cut, rep.Errors, rep.LinkTimeouts, rep.Corrupt)
		for _, p := range rep.PerPlayer {
			for _, e := range p.ErrorSamples {
				kinds[errorKind(e)]++
			}
		}
		if h := rep.Health; h.PlayerStarved || h.CDNStarved {
			starved = append(starved, fmt.Sprintf("%s: %s", r.abr, strings.Join(h.Warnings, "; ")))
		}
	}
	chunks := int(math.Ceil(cfg.media.Seconds() / seg.Seconds()))
	fmt.Fprintf(b, "\nWall time %.0f s for all fleets. QoE_lin per player: sum over chunks 2..%d (the session's %d segments) of bitrate_Mbps − 4.3 x stall_s − |change of bitrate|, on the real playback clock; mean and 95%% CI over the players that finished; paired Δ: mean and 95%% CI of player i's QoE_lin minus that of player i of the %s fleet (same title, trace and offset), over the pairs where both finished (their count in brackets). Rebuffer ratio and bitrate: `player.Report` (stall time / (played + stall), bitrate mean per player); stalls: count over the fleet; switches: bitrate switches per player; corrupt: segments whose bytes failed the SHA-256 check (refetched, never accepted).",
		wall.Seconds(), chunks, chunks, abr.Default)
	if len(kinds) > 0 {
		var ks []string
		for k, n := range kinds {
			ks = append(ks, fmt.Sprintf("%s %d", k, n))
		}
		sort.Strings(ks)
		fmt.Fprintf(b, " Client errors by kind (the first 4 of each player, all fleets): %s. Link timeouts: segment downloads cut by the 10 s timeout while the player's own link was the bottleneck (a trace's outage), retried on the same edge and not counted as errors.", strings.Join(ks, ", "))
	}
	if len(starved) > 0 {
		fmt.Fprintf(b, " **The machine was starved while the fleets ran** (these QoE figures are about the machine, not the ABRs): %s.", strings.Join(starved, " | "))
	}
	if cutAll > 0 {
		fmt.Fprintf(b, " **%d players were cut** at the %v deadline (`--emu-timeout`): their QoE is left out: %s. (The likely cause: their links replay stretches of a trace near 0 Mbit/s — some Puffer traces drop to 0.00-0.01 for minutes — where a segment takes far longer than the deadline.)", cutAll, cfg.cut, strings.Join(cutWho, "; "))
	}
	b.WriteString("\n\n")
	var rs []simcmd.Bar
	for _, r := range results {
		if r.err == nil {
			rs = append(rs, simcmd.Bar{Name: r.abr, Mean: r.qoe.Mean, CI95: r.qoe.CI95})
		}
	}
	if len(rs) > 0 {
		png := "abr-emulation.png"
		title := fmt.Sprintf("Emulation: mean QoE_lin per player (%d players per ABR, %v media)", cfg.players, cfg.media)
		if err := simcmd.WriteBars(filepath.Join(out, png), title, fmt.Sprintf("QoE_lin (sum over chunks 2..%d)", chunks), rs); err != nil {
			return "", fmt.Errorf("plot: %w", err)
		}
		fmt.Fprintf(b, "![QoE_lin per ABR in emulation](%s)\n\n", png)
	}
	best := -1
	for k, r := range results {
		if r.err == nil && (best < 0 || r.qoe.Mean > results[best].qoe.Mean) {
			best = k
		}
	}
	sum := "no fleet ran in emulation"
	if best >= 0 {
		sum = fmt.Sprintf("best in emulation (%d players per ABR, %v of media): %s %.2f ± %.2f", cfg.players, cfg.media, results[best].abr, results[best].qoe.Mean, results[best].qoe.CI95)
		if cutAll > 0 {
			sum += fmt.Sprintf(", %d players cut", cutAll)
		}
	}
	if errAll > 0 {
		return "", fmt.Errorf("%d fleets failed to run", errAll)
	}
	return sum, nil
}
