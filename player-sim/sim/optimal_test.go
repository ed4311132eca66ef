package sim_test

import (
	"path/filepath"
	"testing"
	"time"

	"edgecdn/player-sim/abr"
	"edgecdn/player-sim/sim"
)

// TestOptimalBoundsEveryABR: on every sample trace the offline optimum scores at least what
// every algorithm scores, and its session is a real one (Run replays its levels to its score).
func TestOptimalBoundsEveryABR(t *testing.T) {
	for _, set := range []string{"oboe", "puffer-220218"} {
		ts, err := sim.LoadTraces(filepath.Join("..", "testdata", "traces", set))
		if err != nil {
			t.Fatal(err)
		}
		s, err := sim.New(sim.Config{})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		opt := make([]sim.Session, len(ts))
		for i, tr := range ts {
			if err := s.Optimal(tr, sim.OptimalConfig{}, &opt[i]); err != nil {
				t.Fatal(err)
			}
		}
		t.Logf("%s: optimum of %d traces in %v", set, len(ts), time.Since(start))
		var sumOpt float64
		for _, o := range opt {
			sumOpt += o.Score
		}
		for _, name := range abr.Names() {
			var sum float64
			for i, tr := range ts {
				alg, _ := abr.New(name)
				var sess sim.Session
				if err := s.Run(tr, alg, &sess); err != nil {
					t.Fatal(err)
				}
				sum += sess.Score
				if sess.Score > opt[i].Score+1e-9 {
					t.Errorf("%s %s: %s scores %.3f, above the optimum %.3f", set, tr.Name, name, sess.Score, opt[i].Score)
				}
			}
			t.Logf("%s %s: %.1f%% of optimal", set, name, 100*sum/sumOpt)
		}
	}
}
