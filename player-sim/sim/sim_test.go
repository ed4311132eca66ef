package sim_test

import (
	"math"
	"strings"
	"testing"

	"edgecdn/internal/envivio"
	"edgecdn/player-sim/abr"
	"edgecdn/player-sim/qoe"
	"edgecdn/player-sim/sim"
)

func mustTrace(t testing.TB, s string) *sim.Trace {
	t.Helper()
	tr, err := sim.ParseTrace("test", strings.NewReader(s))
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// fixed always answers the same level.
type fixed int

func (f fixed) Choose(*abr.State) int { return int(f) }

// TestDownloadTime checks the download loop against hand computation: at a constant
// throughput a chunk takes bytes / (0.95 x throughput) plus the 80 ms RTT, however often the
// download crosses sample boundaries or wraps around the trace.
func TestDownloadTime(t *testing.T) {
	tests := []struct {
		name  string
		trace string
		bps   float64 // bytes per second the trace carries
	}{
		{"one long sample", "0 8\n1000 8\n", 1e6},
		{"short samples", "0 8\n0.1 8\n0.2 8\n0.3 8\n", 1e6},
		{"wraps every half second", "0 1\n0.5 1\n", 125e3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := sim.New(sim.Config{})
			if err != nil {
				t.Fatal(err)
			}
			var out sim.Session
			if err := s.Run(mustTrace(t, tt.trace), fixed(2), &out); err != nil {
				t.Fatal(err)
			}
			for i, c := range out.Chunks[:5] {
				want := float64(envivio.Size(c.Level, i))/(0.95*tt.bps) + 0.08
				if math.Abs(c.Download-want) > 1e-9 {
					t.Errorf("chunk %d download = %.9f s, want %.9f", i, c.Download, want)
				}
			}
			if c := out.Chunks[0]; c.Level != 1 || c.Rebuffer != c.Download || c.Buffer != 4 {
				t.Errorf("first chunk = %+v, want level 1, stall = download time, 4 s buffered", c)
			}
		})
	}
}

// TestBufferCap checks the sleep: with a fast link the buffer fills to the 60 s cap, and each
// chunk over it sleeps whole 500 ms steps until the buffer is back at or under 60 s.
func TestBufferCap(t *testing.T) {
	s, _ := sim.New(sim.Config{})
	var out sim.Session
	if err := s.Run(mustTrace(t, "0 100\n1 100\n"), abr.NewBBA(abr.BBAConfig{}), &out); err != nil {
		t.Fatal(err)
	}
	slept := false
	for i, c := range out.Chunks {
		if c.Sleep > 0 {
			slept = true
			if steps := c.Sleep / 0.5; steps != math.Trunc(steps) {
				t.Errorf("chunk %d slept %v s, not whole 500 ms steps", i, c.Sleep)
			}
			if c.Buffer > 60 || c.Buffer+0.5 <= 60 {
				t.Errorf("chunk %d: buffer %v after sleeping %v, want the fewest steps that reach 60 s", i, c.Buffer, c.Sleep)
			}
		}
	}
	if !slept {
		t.Fatal("a 100 Mbps link never filled the buffer")
	}
}

// TestInvariants plays the sample traces with every algorithm and checks what must hold of any
// session.
func TestInvariants(t *testing.T) {
	var traces []*sim.Trace
	for _, set := range sampleSets {
		ts, err := sim.LoadTraces(sampleDir + set)
		if err != nil {
			t.Fatal(err)
		}
		traces = append(traces, ts...)
	}
	for _, name := range abr.Names() {
		t.Run(name, func(t *testing.T) {
			alg, _ := abr.New(name)
			s, _ := sim.New(sim.Config{})
			sessions, err := s.RunAll(traces, alg)
			if err != nil {
				t.Fatal(err)
			}
			for _, ss := range sessions {
				if len(ss.Chunks) != 48 {
					t.Fatalf("%s: %d chunks, want 48", ss.Trace, len(ss.Chunks))
				}
				score, prev := 0.0, envivio.Kbps[1]
				for i, c := range ss.Chunks {
					if c.Level < 0 || c.Level > 5 || c.Rebuffer < 0 || c.Buffer < 0 || c.Buffer > 64 || c.Download <= 0.08 || c.Sleep < 0 {
						t.Fatalf("%s chunk %d: %+v", ss.Trace, i, c)
					}
					kbps := envivio.Kbps[c.Level]
					if want := qoe.Lin(kbps, prev, c.Rebuffer, 4.3); c.QoE != want {
						t.Fatalf("%s chunk %d: QoE %v, want %v", ss.Trace, i, c.QoE, want)
					}
					if i > 0 {
						score += c.QoE
					}
					prev = kbps
				}
				if math.Abs(score-ss.Score) > 1e-9 {
					t.Fatalf("%s: score %v, chunks 2..48 sum to %v", ss.Trace, ss.Score, score)
				}
			}
		})
	}
}

// badLevel answers a level the ladder does not have.
type badLevel struct{}

func (badLevel) Choose(*abr.State) int { return 6 }

func TestErrors(t *testing.T) {
	s, _ := sim.New(sim.Config{})
	var out sim.Session
	if err := s.Run(mustTrace(t, "0 5\n1 5\n"), badLevel{}, &out); err == nil || !strings.Contains(err.Error(), "level 6") {
		t.Errorf("an ABR answering level 6: error = %v, want one naming the level", err)
	}
	if err := s.Run(mustTrace(t, "0 1e-300\n1 1e-300\n"), fixed(0), &out); err == nil {
		t.Error("a trace that delivers nothing: no error")
	}
	if _, err := sim.New(sim.Config{Chunks: 50}); err == nil {
		t.Error("50 chunks of a 49-chunk video: no error")
	}
}

// TestRunDoesNotAllocate checks that a warm simulator with robustMPC plays a session without
// allocating: no allocation per chunk, none in the plan search.
func TestRunDoesNotAllocate(t *testing.T) {
	tr := mustTrace(t, "0 3\n1 1\n2 5\n3 0.5\n")
	s, _ := sim.New(sim.Config{})
	alg := abr.NewRobustMPC(abr.MPCConfig{})
	var out sim.Session
	if err := s.Run(tr, alg, &out); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(20, func() { _ = s.Run(tr, alg, &out) }); n != 0 {
		t.Errorf("Run allocates %v times per session, want 0", n)
	}
}
