package learn

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"edgecdn/player-sim/abr"
	"edgecdn/player-sim/sim"
)

// TestCrossValidate: on the carried sample, every held-out set gets a row per ABR under both
// protocols, every trace of the set scored once, the optimum at 100% and above every ABR.
func TestCrossValidate(t *testing.T) {
	var log bytes.Buffer
	rows, err := CrossValidate(CVConfig{
		Dir: filepath.Join("..", "testdata", "traces"), PerSet: 3, Log: &log,
		Train: Config{Rounds: 1, Epochs: 2, Horizon: 3},
	})
	if err != nil {
		t.Fatal(err)
	}
	n := map[string]int{}
	for _, set := range []string{"fcc-train", "norway-train"} {
		ts, err := sim.LoadTraces(filepath.Join("..", "testdata", "traces", set))
		if err != nil {
			t.Fatal(err)
		}
		n[set] = len(ts)
	}
	want := []string{"robustmpc", "targetmpc", CVTuned, CVMDP, CVLearned, "optimal (offline)"}
	if len(rows) != 4*len(want) {
		t.Fatalf("%d rows, want %d", len(rows), 4*len(want))
	}
	for i, r := range rows {
		if r.ABR != want[i%len(want)] || r.Summary.N != n[r.Set] {
			t.Errorf("row %d: %s %s %s over %d traces, want %s over %d", i, r.Set, r.Protocol, r.ABR, r.Summary.N, want[i%len(want)], n[r.Set])
		}
		opt := rows[i-i%len(want)+len(want)-1]
		if r.Summary.Mean > opt.Summary.Mean+1e-9 {
			t.Errorf("%s %s: %s %.3f above the optimum %.3f", r.Set, r.Protocol, r.ABR, r.Summary.Mean, opt.Summary.Mean)
		}
	}
	var out bytes.Buffer
	WriteCV(&out, rows)
	if !strings.Contains(out.String(), "leave-one-set-out") || !strings.Contains(log.String(), "tuned targetmpc") {
		t.Errorf("table:\n%s\nlog:\n%s", out.String(), log.String())
	}
	if _, err := CrossValidate(CVConfig{Dir: "no/such/dir"}); err == nil {
		t.Error("missing folder: no error")
	}
	if _, err := CrossValidate(CVConfig{Dir: filepath.Join("..", "testdata", "traces"), ABRs: []string{"nosuch"}}); err == nil {
		t.Error("unknown ABR: no error")
	}
	var stdout, stderr bytes.Buffer
	for _, args := range [][]string{
		{"--cv", filepath.Join("..", "testdata", "traces"), "--cv-per-set", "-1"},
		{"--cv", filepath.Join("..", "testdata", "traces"), "--cv-abr", "robustmpc,nosuch"},
		{"--cv", filepath.Join("..", "testdata", "traces", "oboe")},
	} {
		if err := Run(args, &stdout, &stderr); err == nil || !strings.HasPrefix(err.Error(), "learn: cv:") {
			t.Errorf("%v: error %v, want one starting learn: cv:", args, err)
		}
	}
}

// TestTune: the tuned configuration is one of the grid, and no worse than the default
// targetMPC (the grid's first) on the traces it was tuned on.
func TestTune(t *testing.T) {
	ts, err := sim.LoadTraces(filepath.Join("..", "testdata", "traces", "norway-train"))
	if err != nil {
		t.Fatal(err)
	}
	c, gain, err := Tune([][]*sim.Trace{ts})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, g := range TuneGrid() {
		found = found || g == c
	}
	if !found {
		t.Errorf("tuned %+v is not in the grid", c)
	}
	r, d := Mean(ts, abr.NewRobustMPC(abr.MPCConfig{})), Mean(ts, abr.NewTargetMPC(TuneGrid()[0]))
	if gain < 0 || (d > r && gain == 0) {
		t.Errorf("tuned gain %+.2f points, the default targetMPC %.3f against robustMPC %.3f", gain, d, r)
	}
}
