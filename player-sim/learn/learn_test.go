package learn

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"edgecdn/player-sim/abr"
	"edgecdn/player-sim/sim"
)

// TestTrainOnSample: a short training run on the carried Norway sample gives weights that
// load as an ABR and play every trace, and it logs each round.
func TestTrainOnSample(t *testing.T) {
	ts, err := sim.LoadTraces(filepath.Join("..", "testdata", "traces", "norway-train"))
	if err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	w, err := Train(Config{Traces: ts[:4], Rounds: 2, Epochs: 5, Horizon: 4, Log: &log})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(log.String(), "round ") != 2 {
		t.Errorf("log: %s", log.String())
	}
	l, err := abr.NewLearned(w)
	if err != nil {
		t.Fatal(err)
	}
	if m := Mean(ts, l); m != m {
		t.Errorf("mean score NaN")
	}
}

func TestRunFlags(t *testing.T) {
	var out, errb bytes.Buffer
	if err := Run([]string{"--help"}, &out, &errb); err != ErrHelp || !strings.Contains(out.String(), "--traces DIRS   [EDGECDN_TRACES]") {
		t.Errorf("help: %v %s", err, out.String())
	}
	if err := Run(nil, &out, &errb); err == nil || !strings.Contains(err.Error(), "--traces") {
		t.Errorf("no traces: %v", err)
	}
	if err := Run([]string{"--traces", "no/such/dir"}, &out, &errb); err == nil {
		t.Error("missing folder: no error")
	}
}
