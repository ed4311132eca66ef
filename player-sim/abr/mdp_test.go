package abr

import (
	"encoding/json"
	"math"
	"strings"
	"sync"
	"testing"
)

func TestDefaultThroughputModel(t *testing.T) {
	m, err := DefaultThroughputModel()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(m.About, "player-sim learn --mdp") {
		t.Errorf("about = %q, want the command that made it", m.About)
	}
	if _, err := NewMDP(MDPConfig{Model: m}); err != nil {
		t.Fatal(err)
	}
}

// TestMDPChoices: with a long history of fast throughput and a full buffer the MDP takes the
// top level; with a throughput under the lowest bitrate and an empty buffer, the lowest; its
// answers are always on the ladder, for other ladders and video lengths too.
func TestMDPChoices(t *testing.T) {
	a, err := NewMDP(MDPConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if q := a.Choose(state(20, 40, 5, 2e6)); q != 5 {
		t.Errorf("16 Mbit/s, 40 s buffered: level %d, want 5", q)
	}
	if q := a.Choose(state(20, 0.5, 5, 20e3)); q != 0 {
		t.Errorf("160 kbit/s, 0.5 s buffered: level %d, want 0", q)
	}
	// Three levels, 10 chunks, odd sizes.
	s := &State{Next: 3, Chunks: 10, Buffer: 6, LastLevel: 1, Kbps: []int{500, 1500, 6000}, ChunkSeconds: 2,
		Sizes: [][]int64{{125e3}, {375e3, 375e3}, {1.5e6, 1.5e6, 1.5e6}}, Throughput: []float64{300e3, 250e3, 280e3}, DownloadTime: []float64{1, 1, 1}}
	for next := 3; next < 12; next++ {
		s.Next = next
		if q := a.Choose(s); q < 0 || q > 2 {
			t.Fatalf("chunk %d: level %d, want 0..2", next, q)
		}
	}
	// Nonsense measurements are skipped, not folded in.
	s.Next, s.Throughput = 3, []float64{math.NaN(), 0, -1}
	if q := a.Choose(s); q < 0 || q > 2 {
		t.Errorf("no usable measurement: level %d", q)
	}
}

// TestMDPSharesTables: players of the same ladder share one solved table, whatever the chunk
// sizes of their videos; another ladder gets its own.
func TestMDPSharesTables(t *testing.T) {
	a, _ := NewMDP(MDPConfig{})
	b, _ := NewMDP(MDPConfig{})
	a.Choose(state(5, 10, 2, 300e3))
	s := state(5, 10, 2, 300e3)
	s.Sizes[3] = append([]int64(nil), s.Sizes[3]...)
	s.Sizes[3][7]++
	b.Choose(s)
	if a.table == nil || a.table != b.table {
		t.Errorf("tables %p and %p, want one", a.table, b.table)
	}
	s = state(5, 10, 2, 300e3)
	s.Kbps = []int{300, 750, 1200, 1850, 2850, 4500}
	b.Choose(state(1, 10, 2, 300e3)) // a new session
	b.Choose(s)
	if b.table == a.table {
		t.Error("another ladder got the same table")
	}
}

func BenchmarkMDPChoose(b *testing.B) {
	m, _ := NewMDP(MDPConfig{})
	s := state(10, 12, 3, 300e3)
	m.Choose(s)
	b.ReportAllocs()
	for b.Loop() {
		m.Choose(s)
	}
}

// FuzzParseThroughputModel: a model read from any JSON either loads and plays levels on the
// ladder, or is refused; never a panic.
func FuzzParseThroughputModel(f *testing.F) {
	f.Add(string(mdpJSON))
	f.Add(`{"bins":2,"lo":0.1,"hi":1,"alpha":0.5,"beta":0,"p":[[0.5,0.5],[0,1]]}`)
	f.Add(`{"bins":2,"lo":0.1,"hi":1,"alpha":0.5,"beta":0.5,"v_edges":[0.1],"v_center":[0,0.2],"p":[[1,0],[1,0],[0,1],[0,1]]}`)
	f.Add(`{"bins":2,"lo":1,"hi":0.1,"alpha":2,"p":[[1]]}`)
	f.Add(`{}`)
	f.Fuzz(func(t *testing.T, js string) {
		m, err := ParseThroughputModel([]byte(js))
		if err != nil {
			return
		}
		if m.Bins*m.nv() > 64 {
			return // a valid but large model: solving it is slow, not wrong
		}
		a, err := NewMDP(MDPConfig{Model: m, BufferStep: 4, BufferCap: 20})
		if err != nil {
			t.Fatal(err)
		}
		s := state(10, 12, 3, 300e3)
		s.Chunks = 14
		if q := a.Choose(s); q < 0 || q >= len(s.Kbps) {
			t.Errorf("level %d", q)
		}
		b, _ := json.Marshal(m)
		if _, err := ParseThroughputModel(b); err != nil {
			t.Errorf("a checked model does not load again: %v", err)
		}
	})
}

// BenchmarkMDPSolve: solving the value table of a ladder (done once per ladder and process).
func BenchmarkMDPSolve(b *testing.B) {
	m, _ := NewMDP(MDPConfig{})
	for b.Loop() {
		solve(ladder, 4, &m.cfg)
	}
}

// TestMDPConcurrentPlayers: players that start at once on one ladder solve its table once and
// share it (go test -race checks the sharing).
func TestMDPConcurrentPlayers(t *testing.T) {
	s := state(5, 10, 2, 300e3)
	s.Kbps = []int{300, 750, 1200, 1850, 2850, 4400} // a ladder no other test solved
	got := make([]*mdpTable, 8)
	var wg sync.WaitGroup
	for i := range got {
		wg.Go(func() {
			a, err := NewMDP(MDPConfig{})
			if err != nil {
				t.Error(err)
				return
			}
			st := *s
			a.Choose(&st)
			got[i] = a.table
		})
	}
	wg.Wait()
	for i, tb := range got {
		if tb == nil || tb != got[0] {
			t.Fatalf("player %d: table %p, want the one of player 0 (%p)", i, tb, got[0])
		}
	}
}
