package sim_test

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"edgecdn/player-sim/abr"
	"edgecdn/player-sim/qoe"
	"edgecdn/player-sim/sim"
)

const sampleDir = "../testdata/traces/"

var sampleSets = []string{"oboe", "puffer-220218"}

type figures struct{ mean, median, kbps, rebuf float64 }

// run plays traces with a fresh algorithm called name and returns the mean score, median score,
// mean bitrate and mean stall.
func run(t testing.TB, traces []*sim.Trace, name string) figures {
	t.Helper()
	alg, err := abr.New(name)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := sim.New(sim.Config{})
	sessions, err := s.RunAll(traces, alg)
	if err != nil {
		t.Fatal(err)
	}
	var sc, kb, rb []float64
	for _, ss := range sessions {
		sc = append(sc, ss.Score)
		kb = append(kb, ss.BitrateKbps)
		rb = append(rb, ss.Rebuffer)
	}
	return figures{qoe.Summarize(sc).Mean, qoe.Summarize(sc).Median, qoe.Summarize(kb).Mean, qoe.Summarize(rb).Mean}
}

// fullTraces returns the folder of the full trace sets: $EDGECDN_TRACES, shared/traces beside
// the repository, or /work/shared/traces; "" when none exists.
func fullTraces() string {
	for _, d := range []string{os.Getenv("EDGECDN_TRACES"), "../../../shared/traces", "/work/shared/traces"} {
		if d == "" {
			continue
		}
		if st, err := os.Stat(filepath.Join(d, "oboe")); err == nil && st.IsDir() {
			return d
		}
	}
	return ""
}

// TestReferenceFigures checks the simulator against the reference figures of
// shared/traces/REFERENCE.md, on the full trace sets.
func TestReferenceFigures(t *testing.T) {
	dir := fullTraces()
	if dir == "" {
		t.Skip("full trace sets not found: set EDGECDN_TRACES to the folder holding oboe/ and puffer-220218/ (shared/traces)")
	}
	tests := []struct {
		set, abr string
		want     figures
		tol      float64 // on the mean score, absolute
	}{
		{"oboe", "bba", figures{89.340, 94.025, 2396, 0.527}, 0.01},
		{"puffer-220218", "bba", figures{19.422, 34.900, 1419, 6.113}, 0.01},
		{"oboe", "robustmpc", figures{104.894, 111.825, 2457, 0.726}, 0.01 * 104.894},
		{"puffer-220218", "robustmpc", figures{44.531, 43.800, 1421, 3.357}, 0.01 * 44.531},
	}
	got := map[string]float64{}
	for _, tt := range tests {
		t.Run(tt.set+"/"+tt.abr, func(t *testing.T) {
			traces, err := sim.LoadTraces(filepath.Join(dir, tt.set))
			if err != nil {
				t.Fatal(err)
			}
			g := run(t, traces, tt.abr)
			t.Logf("mean %.4f median %.4f bitrate %.1f kbps rebuffer %.4f s; reference %+v", g.mean, g.median, g.kbps, g.rebuf, tt.want)
			if math.Abs(g.mean-tt.want.mean) > tt.tol {
				t.Errorf("mean QoE_lin = %.4f, want %.3f ± %.3f", g.mean, tt.want.mean, tt.tol)
			}
			if math.Abs(g.median-tt.want.median) > 0.01*math.Abs(tt.want.median) ||
				math.Abs(g.kbps-tt.want.kbps) > 1 || math.Abs(g.rebuf-tt.want.rebuf) > 0.001 {
				t.Errorf("median %.3f, bitrate %.1f kbps, rebuffer %.4f s; want %+v", g.median, g.kbps, g.rebuf, tt.want)
			}
			got[tt.set+"/"+tt.abr] = g.mean
		})
	}
	// The project's goal: the default ABR beats robustMPC on both sets.
	for _, set := range sampleSets {
		traces, err := sim.LoadTraces(filepath.Join(dir, set))
		if err != nil {
			t.Fatal(err)
		}
		d := run(t, traces, abr.Default)
		if ref := got[set+"/robustmpc"]; d.mean <= ref {
			t.Errorf("%s: %s mean QoE_lin %.3f does not beat robustmpc's %.3f", set, abr.Default, d.mean, ref)
		}
	}
}

// golden holds every algorithm's figures on the sample in testdata/traces, computed once the
// simulator matched the reference figures on the full sets (go test -run Golden -v prints them).
var golden = map[string]map[string]figures{
	"oboe": {
		"bba":        {85.912672, 83.275000, 2276.170213, 0.467983},
		"bola":       {87.172239, 81.587780, 1924.042553, 0.137851},
		"dynamic":    {86.690800, 81.838257, 1934.574468, 0.224233},
		"learned":    {101.970044, 101.825000, 2331.702128, 0.387199},
		"mdp":        {103.469022, 104.125000, 2312.925532, 0.150227},
		"robustmpc":  {100.381059, 88.425000, 2336.489362, 0.563707},
		"targetmpc":  {102.288816, 92.348280, 2322.925532, 0.196787},
		"throughput": {73.871756, 74.175000, 1648.510638, 0.092615},
	},
	"puffer-220218": {
		"bba":        {-0.105747, 36.325000, 1297.819149, 9.597267},
		"bola":       {30.753488, 37.869526, 1071.968085, 3.728840},
		"dynamic":    {25.532453, 30.485686, 1115.638298, 5.393616},
		"learned":    {38.968753, 49.275000, 1305.691489, 3.947965},
		"mdp":        {37.692203, 48.625000, 1305.797872, 4.427976},
		"robustmpc":  {37.292355, 46.452451, 1307.872340, 3.858173},
		"targetmpc":  {38.787769, 48.900000, 1269.414894, 3.401682},
		"throughput": {20.589220, 24.000000, 872.021277, 3.737391},
	},
}

func TestGoldenSample(t *testing.T) {
	for _, set := range sampleSets {
		traces, err := sim.LoadTraces(sampleDir + set)
		if err != nil {
			t.Fatal(err)
		}
		if len(traces) != 20 {
			t.Fatalf("%s: %d sample traces, want 20", set, len(traces))
		}
		for _, name := range abr.Names() {
			g := run(t, traces, name)
			t.Logf("%s %q: {%.6f, %.6f, %.6f, %.6f},", set, name, g.mean, g.median, g.kbps, g.rebuf)
			want, ok := golden[set][name]
			if !ok {
				t.Errorf("%s/%s: no golden figures", set, name)
				continue
			}
			if !near(g.mean, want.mean) || !near(g.median, want.median) || !near(g.kbps, want.kbps) || !near(g.rebuf, want.rebuf) {
				t.Errorf("%s/%s = %+v, want %+v", set, name, g, want)
			}
		}
	}
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-5*math.Max(1, math.Abs(b)) }

// BenchmarkRobustMPC1000 plays 1,000 sessions (the 40 sample traces, repeated) with robustMPC:
// one op is 1,000 traces.
func BenchmarkRobustMPC1000(b *testing.B) { bench1000(b, "robustmpc") }

// BenchmarkTargetMPC1000 is the same for the default ABR, which searches 7 chunks ahead.
func BenchmarkTargetMPC1000(b *testing.B) { bench1000(b, "targetmpc") }

func bench1000(b *testing.B, name string) {
	var sample []*sim.Trace
	for _, set := range sampleSets {
		ts, err := sim.LoadTraces(sampleDir + set)
		if err != nil {
			b.Fatal(err)
		}
		sample = append(sample, ts...)
	}
	traces := make([]*sim.Trace, 1000)
	for i := range traces {
		traces[i] = sample[i%len(sample)]
	}
	s, _ := sim.New(sim.Config{})
	var out sim.Session
	b.ReportAllocs()
	for b.Loop() {
		alg, _ := abr.New(name)
		for _, t := range traces {
			if err := s.Run(t, alg, &out); err != nil {
				b.Fatal(err)
			}
		}
	}
}
