package learn

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"edgecdn/internal/cli"
	"edgecdn/player-sim/abr"
	"edgecdn/player-sim/sim"
)

// Summary is the subcommand's one-line description.
const Summary = "train the learned ABR (imitation of the offline-optimal planner, DAgger) on trace folders and write its weights"

// ErrHelp is returned after --help.
var ErrHelp = flag.ErrHelp

// Run runs `player-sim learn` with args.
func Run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("player-sim learn", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	traces := fs.String("traces", "", "training trace `DIRS`, comma-separated (required)")
	validate := fs.String("validate", "", "after training, score learned, targetmpc and robustmpc on these trace `DIRS`, comma-separated")
	out := fs.String("out", "", "write the weights (or with --mdp the model) to `FILE`; default the carried player-sim/abr/learned_weights.json (player-sim/abr/mdp_model.json)")
	mdp := fs.Bool("mdp", false, "fit the mdp ABR's throughput model to --traces instead of training the network")
	rounds := fs.Int("rounds", 4, "DAgger `ROUNDS` (with --cv, -1: train no network, only tune targetmpc)")
	hidden := fs.Int("hidden", 32, "hidden `UNITS`")
	epochs := fs.Int("epochs", 40, "passes over the data after each round, `N`")
	horizon := fs.Int("horizon", 12, "the planner's look-ahead in `CHUNKS` (0: to the end of the video)")
	workers := fs.Int("workers", 2, "sessions played at once, `N`")
	seed := fs.Uint64("seed", 1, "`SEED` of the initial weights and the shuffles")
	deadline := fs.Duration("deadline", 15*time.Minute, "start no new round after this `DURATION`")
	cv := fs.String("cv", "", "cross-validate instead of writing weights: `DIR` holds the trace sets; fcc-train and norway-train are each scored by networks trained on their other half, and by a network trained on the other sets (leave one set out); --traces is not used")
	cvPerSet := fs.Int("cv-per-set", 40, "leave one set out: train on at most the first `N` traces of each other set")
	cvLeave := fs.String("cv-leave-out", "fcc-train,norway-train", "leave one set out: score each of these `SETS` by policies trained on the other sets of fcc-train, norway-train, oboe, puffer-220218")
	cvABR := fs.String("cv-abr", "robustmpc,targetmpc", "fixed ABRs scored beside the held-out network, comma-separated `NAMES`")
	if err := cli.Parse(fs, args, os.LookupEnv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			cli.Help{Usage: "player-sim learn --traces DIRS [--validate DIRS] [--out FILE] [flags]", About: Summary + ".",
				Example: "go run ./player-sim learn --traces ../shared/traces/fcc-train,../shared/traces/norway-train --validate ../shared/traces/oboe,../shared/traces/puffer-220218\n" +
					"go run ./player-sim learn --mdp --traces ../shared/traces/fcc-train,../shared/traces/norway-train   # the mdp ABR's throughput model\n" +
					"go run ./player-sim learn --cv ../shared/traces --rounds 3   # cross-validation: scores on traces the network never saw"}.Print(stdout, fs)
			return ErrHelp
		}
		return fmt.Errorf("learn: %w (see player-sim learn --help)", err)
	}
	if *cv != "" {
		start := time.Now()
		rows, err := CrossValidate(CVConfig{
			Dir: *cv, PerSet: *cvPerSet, ABRs: strings.Split(*cvABR, ","), LeaveOut: strings.Split(*cvLeave, ","), Log: stderr,
			Train: Config{Rounds: *rounds, Hidden: *hidden, Epochs: *epochs, Horizon: *horizon, Workers: *workers, Seed: *seed, Deadline: *deadline},
		})
		if err != nil {
			return fmt.Errorf("learn: cv: %w", err)
		}
		fmt.Fprintf(stdout, "cross-validation of the learned ABR (--rounds %d --hidden %d --epochs %d --horizon %d --seed %d), %v:\n",
			*rounds, *hidden, *epochs, *horizon, *seed, time.Since(start).Round(time.Second))
		WriteCV(stdout, rows)
		return nil
	}
	if *traces == "" {
		return errors.New("learn: --traces DIRS (or --cv DIR) is required (see player-sim learn --help)")
	}
	if *out == "" {
		*out = filepath.Join("player-sim", "abr", "learned_weights.json")
		if *mdp {
			*out = filepath.Join("player-sim", "abr", "mdp_model.json")
		}
	}
	var train []*sim.Trace
	var names []string
	for _, d := range strings.Split(*traces, ",") {
		ts, err := sim.LoadTraces(d)
		if err != nil {
			return fmt.Errorf("learn: %w", err)
		}
		train = append(train, ts...)
		names = append(names, fmt.Sprintf("%s (%d)", filepath.Base(d), len(ts)))
	}
	if *mdp {
		return fitAndWrite(train, *traces, names, *out, *validate, stdout)
	}
	start := time.Now()
	w, err := Train(Config{Traces: train, Rounds: *rounds, Hidden: *hidden, Epochs: *epochs, Horizon: *horizon, Workers: *workers, Seed: *seed, Deadline: *deadline, Log: stderr})
	if err != nil {
		return fmt.Errorf("learn: %w", err)
	}
	w.About = fmt.Sprintf("player-sim learn --traces %s --rounds %d --hidden %d --epochs %d --horizon %d --seed %d: DAgger imitation of the offline-optimal planner on %s, %v on %d workers",
		*traces, *rounds, *hidden, *epochs, *horizon, *seed, strings.Join(names, ", "), time.Since(start).Round(time.Second), *workers)
	return writeAndValidate(stdout, *out, w.About, w, *validate, "learned", func() (abr.Algorithm, error) { return abr.NewLearned(w) })
}

// Mean is alg's mean score over ts in virtual time (one instance, in order).
func Mean(ts []*sim.Trace, alg abr.Algorithm) float64 {
	s, err := sim.New(sim.Config{})
	if err != nil {
		return math.NaN()
	}
	var sess sim.Session
	sum := 0.0
	for _, t := range ts {
		if err := s.Run(t, alg, &sess); err != nil {
			return math.NaN()
		}
		sum += sess.Score
	}
	return sum / float64(len(ts))
}

// fitAndWrite fits the mdp ABR's throughput model to train, writes it to out and scores it on
// the validate folders.
func fitAndWrite(train []*sim.Trace, dirs string, names []string, out, validate string, stdout io.Writer) error {
	start := time.Now()
	m, err := FitModel(train, ModelConfig{})
	if err != nil {
		return fmt.Errorf("learn: %w", err)
	}
	m.About = fmt.Sprintf("player-sim learn --mdp --traces %s: fitted to the throughputs targetMPC's sessions measure on %s in virtual time, %v",
		dirs, strings.Join(names, ", "), time.Since(start).Round(time.Millisecond))
	return writeAndValidate(stdout, out, m.About, m, validate, "mdp", func() (abr.Algorithm, error) { return abr.NewMDP(abr.MDPConfig{Model: m}) })
}

// writeAndValidate writes v as JSON to out, then scores the ABR mk makes (called name),
// targetmpc and robustmpc on each of the comma-separated validate folders.
func writeAndValidate(stdout io.Writer, out, about string, v any, validate, name string, mk func() (abr.Algorithm, error)) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if err := os.WriteFile(out, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("learn: %w", err)
	}
	fmt.Fprintf(stdout, "wrote %s: %s\n", out, about)
	if validate == "" {
		return nil
	}
	for _, d := range strings.Split(validate, ",") {
		ts, err := sim.LoadTraces(d)
		if err != nil {
			return fmt.Errorf("learn: %w", err)
		}
		a, err := mk()
		if err != nil {
			return err
		}
		ma, mt, mr := Mean(ts, a), Mean(ts, abr.NewTargetMPC(abr.TargetConfig{})), Mean(ts, abr.NewRobustMPC(abr.MPCConfig{}))
		fmt.Fprintf(stdout, "%s (%d traces): %s %.3f (%+.1f%% vs robustmpc), targetmpc %.3f (%+.1f%%), robustmpc %.3f\n",
			d, len(ts), name, ma, 100*(ma-mr)/math.Abs(mr), mt, 100*(mt-mr)/math.Abs(mr), mr)
	}
	return nil
}
