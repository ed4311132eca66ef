package abr

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestLearnedWeights: the carried weights load, say how they were made, and the network only
// ever moves targetMPC's level by one.
func TestLearnedWeights(t *testing.T) {
	w, err := DefaultLearnedWeights()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(w.About, "player-sim learn") {
		t.Errorf("weights do not say how they were made: %q", w.About)
	}
	l, err := NewLearned(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tp := range []float64{30e3, 100e3, 300e3, 700e3, 2e6} {
		for _, buf := range []float64{0, 3, 10, 30, 60} {
			s := state(10, buf, 3, tp)
			q := l.Choose(s)
			if q < 0 || q >= len(s.Kbps) || q < l.LastMPC-1 || q > l.LastMPC+1 {
				t.Errorf("throughput %v buffer %v: level %d, targetMPC %d", tp, buf, q, l.LastMPC)
			}
		}
	}
	bad := *w
	bad.W2 = bad.W2[:2]
	if _, err := NewLearned(&bad); err == nil {
		t.Error("weights with two outputs accepted")
	}
}

func BenchmarkLearnedChoose(b *testing.B) {
	l, _ := NewLearned(nil)
	s := state(10, 12, 3, 300e3)
	b.ReportAllocs()
	for b.Loop() {
		l.Choose(s)
	}
}

func BenchmarkTargetMPCChoose(b *testing.B) {
	m := NewTargetMPC(TargetConfig{})
	s := state(10, 12, 3, 300e3)
	b.ReportAllocs()
	for b.Loop() {
		m.Choose(s)
	}
}

// FuzzLearnedWeights: weights read from any JSON either load as a network of the right shape
// or are refused, never a panic when playing.
func FuzzLearnedWeights(f *testing.F) {
	f.Add(string(learnedJSON))
	f.Add(`{"inputs":36,"w1":[[1]],"b1":[0],"w2":[[1],[1],[1]],"b2":[0,0,0]}`)
	f.Add(`{}`)
	f.Fuzz(func(t *testing.T, js string) {
		var w LearnedWeights
		if json.Unmarshal([]byte(js), &w) != nil {
			return
		}
		l, err := NewLearned(&w)
		if err != nil {
			return
		}
		s := state(10, 12, 3, 300e3)
		if q := l.Choose(s); q < 0 || q >= len(s.Kbps) {
			t.Errorf("level %d", q)
		}
	})
}

// BenchmarkTargetMPCLongChoose: targetMPC at the far end of the grid `player-sim learn --cv`
// tunes over (a 9-chunk horizon, the far chunks from a 20-throughput history).
func BenchmarkTargetMPCLongChoose(b *testing.B) {
	m := NewTargetMPC(TargetConfig{MPC: MPCConfig{Horizon: 9, LongHistory: 20, LongFrom: 3}})
	s := state(24, 12, 3, 300e3)
	b.ReportAllocs()
	for b.Loop() {
		m.Choose(s)
	}
}
