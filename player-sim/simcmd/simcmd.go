// Package simcmd is player-sim's `sim` subcommand: it plays every trace of a folder through the
// virtual-time simulator with one ABR algorithm, or all of them, and reports QoE.
package simcmd

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"

	"edgecdn/internal/cli"
	"edgecdn/player-sim/abr"
	"edgecdn/player-sim/sim"
)

// Summary is the subcommand's one-line description.
const Summary = "play a folder of throughput traces in virtual time with an ABR algorithm and report QoE_lin"

// ErrHelp is returned when the user asked for help; the caller exits 0.
var ErrHelp = flag.ErrHelp

// about says what the subcommand plays and how it scores.
const about = Summary + `
(Pensieve's fixed environment: 48 chunks of 4 s, 60 s buffer cap, 0.95 x trace throughput,
80 ms RTT per chunk; the score of a trace is the sum of QoE_lin over chunks 2..N).`

// example is a complete command line a line, shown by --help.
const example = `go run ./player-sim sim --traces player-sim/testdata/traces/oboe --abr all --json out.json --plot qoe.png
go run ./player-sim sim --traces player-sim/testdata/traces/oboe --abr bba --chunks 12`

// Run runs the subcommand with args (after "sim"): results on stdout, help on stdout.
func Run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("player-sim sim", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	traces := fs.String("traces", "", "folder of traces, one `time_s throughput_Mbps` sample per line (required)")
	chunks := fs.Int("chunks", 48, "chunks played per trace, `N` (the video must hold them; an emulated --duration D plays D/4s)")
	video := fs.String("video", "", "folder with video_size_0..5 (bytes per chunk, one per line); default the embedded EnvivioDash3 sizes")
	alg := fs.String("abr", abr.Default, "ABR algorithm ("+strings.Join(abr.Names(), ", ")+"), or all")
	optimal := fs.Bool("optimal", true, "also compute each trace's offline-optimal score (dynamic programming knowing the whole trace) and report every ABR as a % of it")
	jsonOut := fs.String("json", "", "also write the results as JSON to this file")
	plotOut := fs.String("plot", "", "also write a bar chart of mean QoE_lin with 95% confidence intervals to this PNG file")
	if err := cli.Parse(fs, args, os.LookupEnv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			cli.Help{Usage: "player-sim sim --traces DIR [--chunks N] [--video DIR] [--abr NAME|all] [--json FILE] [--plot FILE.png]", About: about, Example: example}.Print(stdout, fs)
			return ErrHelp
		}
		return fmt.Errorf("sim: %w (see player-sim sim --help)", err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("sim: unexpected argument %q (see player-sim sim --help)", fs.Arg(0))
	}
	if *traces == "" {
		return errors.New("sim: --traces DIR is required (see player-sim sim --help)")
	}
	names := []string{*alg}
	if *alg == "all" {
		names = abr.Names()
	} else if _, err := abr.New(*alg); err != nil {
		return fmt.Errorf("sim: --abr: %w, or all", err)
	}
	if *chunks < 2 {
		return fmt.Errorf("sim: --chunks %d: want at least 2 (the first chunk is not scored)", *chunks)
	}
	cfg := sim.Config{Chunks: *chunks}
	if *video != "" {
		v, err := sim.LoadVideo(*video, *chunks)
		if err != nil {
			return fmt.Errorf("sim: %w", err)
		}
		cfg.Video = v
	}
	ts, err := sim.LoadTraces(*traces)
	if err != nil {
		return fmt.Errorf("sim: %w", err)
	}
	if _, err := sim.New(cfg); err != nil {
		return fmt.Errorf("sim: --chunks: %w", err)
	}
	results := make([]Result, 0, len(names))
	for _, n := range names {
		r, err := Evaluate(cfg, ts, n)
		if err != nil {
			return fmt.Errorf("sim: %w", err)
		}
		results = append(results, r)
	}
	var opt *Result
	if *optimal {
		o, err := Optimal(cfg, ts, runtime.GOMAXPROCS(0))
		if err != nil {
			return fmt.Errorf("sim: optimal: %w", err)
		}
		WithOptimal(results, o)
		o.PctOptimal = 100
		opt = &o
	}
	table := results
	if opt != nil {
		table = append(append([]Result(nil), results...), *opt)
	}
	WriteTable(stdout, *traces, table)
	if *jsonOut != "" {
		if err := writeJSON(*jsonOut, results, opt, *alg == "all"); err != nil {
			return fmt.Errorf("sim: --json: %w", err)
		}
	}
	if *plotOut != "" {
		if err := WritePlot(*plotOut, *traces, results); err != nil {
			return fmt.Errorf("sim: --plot: %w", err)
		}
	}
	return nil
}
