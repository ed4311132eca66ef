package learn

import (
	"fmt"
	"io"
	"math"
	"path/filepath"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	"edgecdn/player-sim/abr"
	"edgecdn/player-sim/qoe"
	"edgecdn/player-sim/sim"
	"edgecdn/player-sim/simcmd"
)

// CVConfig is a cross-validation of the learned ABR: it is trained on some traces and scored,
// beside fixed ABRs and the offline-optimal bound, on traces it never saw.
type CVConfig struct {
	// Dir holds one folder per trace set.
	Dir string
	// Split names the sets cut into two halves by sorted file name (the first ceil(n/2) traces
	// and the rest): the network is trained on the first halves of all of them and scored on
	// the second halves, then the other way round; every trace is scored once by a network
	// that did not see it. Default fcc-train, norway-train.
	Split []string
	// LeaveOut names the sets each scored by a network trained on all the other sets of Sets
	// (leave one set out). Default fcc-train, norway-train.
	LeaveOut []string
	// Sets are the sets a leave-one-set-out training draws from. Default fcc-train,
	// norway-train, oboe, puffer-220218.
	Sets []string
	// PerSet caps each set's share of a leave-one-set-out training at its first PerSet traces
	// in sorted order (Oboe and Puffer hold hundreds); default 40.
	PerSet int
	// ABRs are the fixed algorithms scored beside the learned network; default robustmpc,
	// targetmpc.
	ABRs []string
	// Train is the training run of every fold (its Traces are set per fold); with Rounds < 0
	// no network is trained (only the tuned targetMPC is).
	Train Config
	// Model is the fit of each fold's throughput model for the mdp ABR.
	Model ModelConfig
	// Log gets one line per fold and the training's progress; nil: none.
	Log io.Writer
}

// CVRow is one ABR on one held-out set.
type CVRow struct {
	Set      string // the held-out set
	Protocol string // "halves" or "leave-one-set-out"
	ABR      string // an ABR name, "learned" (trained without the set's traces) or simcmd.OptimalABR
	Summary  qoe.Summary
	PctOpt   float64 // mean as a percentage of the mean offline-optimal score
	VsRobust float64 // (mean - robustMPC's mean) / |robustMPC's mean|, in percent
}

// CrossValidate runs the folds of cfg and returns one row per held-out set and ABR.
func CrossValidate(cfg CVConfig) ([]CVRow, error) {
	if len(cfg.Split) == 0 {
		cfg.Split = []string{"fcc-train", "norway-train"}
	}
	if len(cfg.LeaveOut) == 0 {
		cfg.LeaveOut = []string{"fcc-train", "norway-train"}
	}
	if len(cfg.Sets) == 0 {
		cfg.Sets = []string{"fcc-train", "norway-train", "oboe", "puffer-220218"}
	}
	if cfg.PerSet < 0 {
		return nil, fmt.Errorf("%d traces per set, want at least 1", cfg.PerSet)
	}
	if cfg.PerSet == 0 {
		cfg.PerSet = 40
	}
	if len(cfg.ABRs) == 0 {
		cfg.ABRs = []string{"robustmpc", "targetmpc"}
	}
	for _, n := range cfg.ABRs {
		if _, err := abr.New(n); err != nil {
			return nil, err
		}
	}
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	sets := map[string][]*sim.Trace{}
	load := func(name string) ([]*sim.Trace, error) {
		if ts, ok := sets[name]; ok {
			return ts, nil
		}
		ts, err := sim.LoadTraces(filepath.Join(cfg.Dir, name))
		if err != nil {
			return nil, err
		}
		if len(ts) < 2 {
			return nil, fmt.Errorf("set %s has %d traces, want at least 2", name, len(ts))
		}
		sets[name] = ts
		return ts, nil
	}
	// train makes a fold's two trained ABRs: targetMPC tuned on the groups, and the network.
	train := func(fold string, groups [][]*sim.Trace) (foldModels, error) {
		var ts []*sim.Trace
		for _, g := range groups {
			ts = append(ts, g...)
		}
		t0 := time.Now()
		var fm foldModels
		var gain float64
		var err error
		fm.tuned, gain, err = Tune(groups)
		if err != nil {
			return fm, err
		}
		fmt.Fprintf(cfg.Log, "%s: tuned targetmpc: %s (%+.1f points of %% of optimal over robustmpc on the training sets), %v\n", fold, DescribeTarget(fm.tuned), gain, time.Since(t0).Round(time.Second))
		t0 = time.Now()
		if fm.model, err = FitModel(ts, cfg.Model); err != nil {
			return fm, err
		}
		fmt.Fprintf(cfg.Log, "%s: fitted the mdp's throughput model to %d traces, %v\n", fold, len(ts), time.Since(t0).Round(time.Second))
		if cfg.Train.Rounds < 0 {
			return fm, nil
		}
		c := cfg.Train
		c.Traces = ts
		c.Log = prefixWriter{cfg.Log, fold + ": "}
		t0 = time.Now()
		w, err := Train(c)
		fmt.Fprintf(cfg.Log, "%s: trained on %d traces in %v\n", fold, len(ts), time.Since(t0).Round(time.Second))
		fm.net = w
		return fm, err
	}

	var rows []CVRow
	// Halves: two networks, each scoring the halves the other was trained on.
	if len(cfg.Split) > 0 {
		var halves [2][][]*sim.Trace
		cut := map[string]int{}
		for _, name := range cfg.Split {
			ts, err := load(name)
			if err != nil {
				return nil, err
			}
			cut[name] = (len(ts) + 1) / 2
			halves[0] = append(halves[0], ts[:cut[name]])
			halves[1] = append(halves[1], ts[cut[name]:])
		}
		var models [2]foldModels
		for h := range models {
			m, err := train(fmt.Sprintf("halves, trained on the %s halves of %s", []string{"first", "second"}[h], strings.Join(cfg.Split, ", ")), halves[h])
			if err != nil {
				return nil, err
			}
			models[h] = m
		}
		for _, name := range cfg.Split {
			ts := sets[name]
			parts := [2][]*sim.Trace{ts[:cut[name]], ts[cut[name]:]}
			// Part p is scored by the network trained on the other halves.
			r, err := score(name, "halves", parts[:], []foldModels{models[1], models[0]}, cfg.ABRs)
			if err != nil {
				return nil, err
			}
			rows = append(rows, r...)
		}
	}
	// Leave one set out.
	for _, out := range cfg.LeaveOut {
		held, err := load(out)
		if err != nil {
			return nil, err
		}
		var tr [][]*sim.Trace
		var from []string
		for _, name := range cfg.Sets {
			if name == out {
				continue
			}
			ts, err := load(name)
			if err != nil {
				return nil, err
			}
			ts = ts[:min(len(ts), cfg.PerSet)]
			tr = append(tr, ts)
			from = append(from, fmt.Sprintf("%s (%d)", name, len(ts)))
		}
		m, err := train("leave "+out+" out, trained on "+strings.Join(from, ", "), tr)
		if err != nil {
			return nil, err
		}
		r, err := score(out, "leave-one-set-out", [][]*sim.Trace{held}, []foldModels{m}, cfg.ABRs)
		if err != nil {
			return nil, err
		}
		rows = append(rows, r...)
	}
	return rows, nil
}

// foldModels are the ABRs trained on one fold's training traces.
type foldModels struct {
	tuned abr.TargetConfig
	model *abr.ThroughputModel
	net   *abr.LearnedWeights // nil: not trained
}

// Names of the trained ABRs in CVRow.ABR.
const (
	CVTuned   = "targetmpc (tuned, held out)"
	CVMDP     = "mdp (model held out)"
	CVLearned = "learned (held out)"
)

// score plays each part with a fresh instance of every ABR, part p's trained ones being
// models[p], and the offline-optimal bound, and pools the per-trace scores of the parts.
func score(set, protocol string, parts [][]*sim.Trace, models []foldModels, names []string) ([]CVRow, error) {
	s, err := sim.New(sim.Config{})
	if err != nil {
		return nil, err
	}
	per := map[string][]float64{}
	var order []string
	var all []*sim.Trace
	for p, ts := range parts {
		all = append(all, ts...)
		algs := map[string]abr.Algorithm{}
		for _, n := range names {
			a, _ := abr.New(n)
			algs[n] = a
		}
		algs[CVTuned] = abr.NewTargetMPC(models[p].tuned)
		mdp, err := abr.NewMDP(abr.MDPConfig{Model: models[p].model})
		if err != nil {
			return nil, err
		}
		algs[CVMDP] = mdp
		if models[p].net != nil {
			l, err := abr.NewLearned(models[p].net)
			if err != nil {
				return nil, err
			}
			algs[CVLearned] = l
		}
		if p == 0 {
			order = append(append(order, names...), CVTuned, CVMDP)
			if models[p].net != nil {
				order = append(order, CVLearned)
			}
		}
		var sess sim.Session
		for _, n := range order {
			for _, t := range ts {
				if err := s.Run(t, algs[n], &sess); err != nil {
					return nil, err
				}
				per[n] = append(per[n], sess.Score)
			}
		}
	}
	opt, err := simcmd.Optimal(sim.Config{}, all, runtime.GOMAXPROCS(0))
	if err != nil {
		return nil, err
	}
	for _, tr := range opt.PerTrace {
		per[simcmd.OptimalABR] = append(per[simcmd.OptimalABR], tr.Score)
	}
	order = append(order, simcmd.OptimalABR)
	optMean := opt.QoELinMean
	robust := 0.0
	if v, ok := per["robustmpc"]; ok {
		robust = qoe.Summarize(v).Mean
	}
	var rows []CVRow
	for _, n := range order {
		r := CVRow{Set: set, Protocol: protocol, ABR: n, Summary: qoe.Summarize(per[n])}
		if optMean != 0 {
			r.PctOpt = 100 * r.Summary.Mean / optMean
		}
		if robust != 0 {
			r.VsRobust = 100 * (r.Summary.Mean - robust) / math.Abs(robust)
		}
		rows = append(rows, r)
	}
	return rows, nil
}

// WriteCV writes rows as a table.
func WriteCV(w io.Writer, rows []CVRow) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "held-out set\tprotocol\tabr\ttraces\tQoE_lin mean\t±95% CI\t% of optimal\tvs robustmpc\t")
	for _, r := range rows {
		vs := fmt.Sprintf("%+.1f%%", r.VsRobust)
		if r.ABR == "robustmpc" {
			vs = ""
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%.3f\t%.3f\t%.1f%%\t%s\t\n", r.Set, r.Protocol, r.ABR, r.Summary.N, r.Summary.Mean, r.Summary.CI95, r.PctOpt, vs)
	}
	tw.Flush()
}

// prefixWriter prefixes every write (one log line) with a fold's name.
type prefixWriter struct {
	w      io.Writer
	prefix string
}

func (p prefixWriter) Write(b []byte) (int, error) {
	if _, err := io.WriteString(p.w, p.prefix); err != nil {
		return 0, err
	}
	return p.w.Write(b)
}
