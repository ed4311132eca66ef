package learn

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"edgecdn/player-sim/abr"
	"edgecdn/player-sim/sim"
)

// TestFitModel: a model fitted to the carried FCC and Norway samples checks out, and the MDP
// that plays it beats robustMPC on the Oboe and Puffer samples, which it never saw.
func TestFitModel(t *testing.T) {
	var train []*sim.Trace
	for _, set := range []string{"fcc-train", "norway-train"} {
		ts, err := sim.LoadTraces(filepath.Join("..", "testdata", "traces", set))
		if err != nil {
			t.Fatal(err)
		}
		train = append(train, ts...)
	}
	m, err := FitModel(train, ModelConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Check(); err != nil {
		t.Fatal(err)
	}
	for _, set := range []string{"oboe", "puffer-220218"} {
		ts, err := sim.LoadTraces(filepath.Join("..", "testdata", "traces", set))
		if err != nil {
			t.Fatal(err)
		}
		a, err := abr.NewMDP(abr.MDPConfig{Model: m})
		if err != nil {
			t.Fatal(err)
		}
		got, robust := Mean(ts, a), Mean(ts, abr.NewRobustMPC(abr.MPCConfig{}))
		if got <= robust {
			t.Errorf("%s: mdp %.3f, robustmpc %.3f", set, got, robust)
		}
	}
	if _, err := FitModel(nil, ModelConfig{}); err == nil {
		t.Error("no traces: no error")
	}
}

// TestRunMDP: `player-sim learn --mdp` writes a model that loads.
func TestRunMDP(t *testing.T) {
	out := filepath.Join(t.TempDir(), "model.json")
	var stdout, stderr bytes.Buffer
	dir := filepath.Join("..", "testdata", "traces", "norway-train")
	if err := Run([]string{"--mdp", "--traces", dir, "--out", out, "--validate", dir}, &stdout, &stderr); err != nil {
		t.Fatal(err, stderr.String())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	m, err := abr.ParseThroughputModel(b)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(m.About, "--mdp --traces "+dir) || !strings.Contains(stdout.String(), "mdp ") {
		t.Errorf("about %q, output %s", m.About, stdout.String())
	}
}
