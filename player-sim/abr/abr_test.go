package abr

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"edgecdn/internal/envivio"
)

var ladder = envivio.Kbps[:]

func sizes() [][]int64 {
	s := envivio.Sizes()
	return s[:]
}

// state returns a State for chunk next with buffer buf and a history of constant throughput
// (bytes/s), as the simulator would build it.
func state(next int, buf float64, last int, bps float64) *State {
	s := &State{Next: next, Chunks: 48, Buffer: buf, LastLevel: last, Sizes: sizes(), Kbps: ladder, ChunkSeconds: 4}
	for i := 0; i < next; i++ {
		s.Throughput = append(s.Throughput, bps)
		s.DownloadTime = append(s.DownloadTime, 1)
	}
	return s
}

func TestNew(t *testing.T) {
	for _, n := range Names() {
		if a, err := New(n); err != nil || a == nil {
			t.Errorf("New(%q) = %v, %v", n, a, err)
		}
	}
	if _, err := New(Default); err != nil {
		t.Errorf("the default %q is not known: %v", Default, err)
	}
	if _, err := New("pensieve"); err == nil || !strings.Contains(err.Error(), "robustmpc") {
		t.Errorf("New(unknown) error = %v, want one listing the names", err)
	}
}

func TestBBA(t *testing.T) {
	tests := []struct {
		buf  float64
		want int
	}{
		{0, 0}, {4.99, 0}, {5, 0}, {6.99, 0}, {7, 1}, {9, 2}, {11, 3}, {13, 4}, {14.99, 4}, {15, 5}, {60, 5},
	}
	b := NewBBA(BBAConfig{})
	for _, tt := range tests {
		if got := b.Choose(state(3, tt.buf, 1, 1e6)); got != tt.want {
			t.Errorf("BBA at %v s = level %d, want %d", tt.buf, got, tt.want)
		}
	}
}

func TestThroughput(t *testing.T) {
	tests := []struct {
		bps  float64 // bytes per second, constant
		want int
	}{
		{10e3, 0},  // 80 kbps
		{100e3, 0}, // 800 kbps x 0.9 = 720, under 750
		{110e3, 1}, // 880 x 0.9 = 792
		{300e3, 3}, // 2400 x 0.9 = 2160
		{597e3, 4}, // 4776 x 0.9 = 4298.4, under 4300
		{598e3, 5}, // 4784 x 0.9 = 4305.6
	}
	for _, tt := range tests {
		a := NewThroughput(ThroughputConfig{})
		if got := a.Choose(state(5, 10, 1, tt.bps)); got != tt.want {
			t.Errorf("Throughput at %v B/s = level %d, want %d", tt.bps, got, tt.want)
		}
	}
	// The estimate falls fast and rises slowly: after a drop it follows the drop.
	a := NewThroughput(ThroughputConfig{})
	s := state(10, 10, 5, 1e6)
	s.Throughput[9], s.DownloadTime[9] = 50e3, 8
	if got := a.Choose(s); got > 2 {
		t.Errorf("after 9 s at 8 Mbps then 8 s at 400 kbps, level %d, want at most 2", got)
	}
}

func TestBOLA(t *testing.T) {
	b := NewBOLA(BOLAConfig{})
	b.setup(ladder)
	// dash.js: buffer target max(12, 10 + 2 x 6) = 22 s; gp = ln(4300/300)/1.2.
	if want := math.Log(4300.0/300) / 1.2; math.Abs(b.gp-want) > 1e-12 || math.Abs(b.vp-10/want) > 1e-12 {
		t.Fatalf("gp %v Vp %v, want %v and %v", b.gp, b.vp, want, 10/want)
	}
	// In steady state the level rises with the buffer and never falls.
	prev := 0
	for buf := 0.0; buf <= 30; buf += 0.5 {
		q := b.fromBuffer(buf)
		if q < prev {
			t.Fatalf("level %d at %v s after %d below", q, buf, prev)
		}
		prev = q
		if buf == 0 && q != 0 || buf >= 25 && q != 5 {
			t.Errorf("level %d at %v s", q, buf)
		}
	}
	// minBuffer(q) is where q starts to win.
	for q := 1; q < len(ladder); q++ {
		if m := b.minBuffer(q); b.fromBuffer(m+1e-9) < q || b.fromBuffer(m-1e-6) >= q {
			t.Errorf("minBuffer(%d) = %v does not separate level %d from the one below", q, m, q)
		}
	}
	// Startup follows throughput: 2 Mbps measured, x 0.9 = 1.8 Mbps: 1200 kbps.
	if got := NewBOLA(BOLAConfig{}).Choose(state(1, 3, 1, 250e3)); got != 2 {
		t.Errorf("BOLA startup at 2 Mbps = level %d, want 2", got)
	}
}

func TestDynamicHysteresis(t *testing.T) {
	d := NewDynamic(DynamicConfig{})
	steps := []struct {
		buf  float64
		bola bool
	}{{4, false}, {9, false}, {10.5, true}, {7, true}, {5.5, true}, {4.9, false}, {8, false}, {11, true}}
	for i, st := range steps {
		d.Choose(state(i+1, st.buf, 1, 200e3))
		if d.useBOLA != st.bola {
			t.Errorf("step %d at %v s: BOLA on = %v, want %v", i, st.buf, d.useBOLA, st.bola)
		}
	}
}

// bruteForce is the reference code's plan loop (Pensieve test/mpc.py), transcribed: every plan
// in lexicographic order, the later plan winning ties.
func bruteForce(s *State, h, off int, mbps float64, terminal func(float64) float64) int {
	maxReward, send := -100000000.0, 0
	plan := make([]int, h)
	for n := 0; n < int(math.Pow(6, float64(h))); n++ {
		for k, x := h-1, n; k >= 0; k, x = k-1, x/6 {
			plan[k] = x % 6
		}
		rebuf, buf, bitSum, smooth, last := 0.0, s.Buffer, 0, 0, s.LastLevel
		for k, q := range plan {
			dl := (float64(s.Sizes[q][min(s.Next+k+off, 48)]) / 1e6) / mbps
			if buf < dl {
				rebuf += dl - buf
				buf = 0
			} else {
				buf -= dl
			}
			buf += 4
			bitSum += ladder[q]
			smooth += abs(ladder[q] - ladder[last])
			last = q
		}
		r := float64(bitSum)/1000 - 4.3*rebuf - float64(smooth)/1000
		if terminal != nil {
			r += terminal(buf)
		}
		if r >= maxReward {
			maxReward, send = r, plan[0]
		}
	}
	return send
}

// TestPlanSearchIsExhaustive checks the pruned search against the reference loop on random
// states, with and without a terminal buffer penalty.
func TestPlanSearchIsExhaustive(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	pen := func(buf float64) float64 { return -0.6 * math.Max(0, 6-buf) }
	for i := 0; i < 300; i++ {
		s := state(1+rng.IntN(47), rng.Float64()*60, rng.IntN(6), 1)
		if i%3 == 0 {
			s.Buffer = math.Round(s.Buffer) // exact ties are likelier on round numbers
		}
		mbps := 0.05 + rng.Float64()*rng.Float64()*4
		h := min(1+rng.IntN(5), 48-s.Next)
		off := rng.IntN(2)
		var p planSearch
		p.reset(s, h, off, mbps, 4.3, 1)
		if got, want := p.best(s.Buffer, s.LastLevel), bruteForce(s, h, off, mbps, nil); got != want {
			t.Fatalf("state %+v h=%d off=%d %.4f MB/s: search %d, reference %d", *s, h, off, mbps, got, want)
		}
		p.terminal = pen
		if got, want := p.best(s.Buffer, s.LastLevel), bruteForce(s, h, off, mbps, pen); got != want {
			t.Fatalf("with buffer target, state %+v h=%d: search %d, reference %d", *s, h, got, want)
		}
	}
}

func TestRobustMPCErrorHistory(t *testing.T) {
	m := NewRobustMPC(MPCConfig{})
	s := state(1, 4, 1, 1e6)
	m.Choose(s)
	if m.nerr != 1 || m.errs[0] != 0 || m.lastEst != 1 {
		t.Fatalf("after the first chunk: %d errors %v, estimate %v; want one 0 error, estimate 1 MB/s", m.nerr, m.errs, m.lastEst)
	}
	s = state(2, 8, 1, 1e6)
	s.Throughput[1] = 0.5e6 // predicted 1 MB/s, measured 0.5: error 1
	m.Choose(s)
	if m.errs[1] != 1 {
		t.Errorf("relative error = %v, want 1", m.errs[1])
	}
	// A new session keeps the error history, as the reference.
	m.Choose(state(1, 4, 1, 1e6))
	if m.nerr != 3 {
		t.Errorf("errors recorded = %d, want 3 (history kept across sessions)", m.nerr)
	}
}

func TestChooseDoesNotAllocate(t *testing.T) {
	for _, n := range Names() {
		a, _ := New(n)
		s := state(10, 12, 3, 300e3)
		a.Choose(s)
		if got := testing.AllocsPerRun(50, func() { a.Choose(s) }); got != 0 {
			t.Errorf("%s: Choose allocates %v times, want 0", n, got)
		}
	}
}

func BenchmarkRobustMPCChoose(b *testing.B) {
	m := NewRobustMPC(MPCConfig{})
	s := state(10, 12, 3, 300e3)
	b.ReportAllocs()
	for b.Loop() {
		m.Choose(s)
	}
}

// TestLongHistory: the far chunks of a plan predicted from a longer history change nothing when
// throughput has been constant, and make the plan more careful when the recent throughputs are
// higher than the older ones.
func TestLongHistory(t *testing.T) {
	long := TargetConfig{MPC: MPCConfig{Horizon: 9, LongHistory: 20, LongFrom: 3}}
	s := state(24, 10, 3, 400e3)
	if a, b := NewTargetMPC(TargetConfig{MPC: MPCConfig{Horizon: 9}}).Choose(s), NewTargetMPC(long).Choose(s); a != b {
		t.Errorf("constant throughput: level %d with a long history, %d without", b, a)
	}
	s = state(24, 20, 3, 100e3)
	for i := 19; i < 24; i++ {
		s.Throughput[i] = 400e3 // the last five chunks came fast
	}
	short, far := NewTargetMPC(TargetConfig{MPC: MPCConfig{Horizon: 9}}).Choose(s), NewTargetMPC(long).Choose(s)
	if far >= short {
		t.Errorf("a slow past and a fast last five: level %d with the long history, %d without; want lower", far, short)
	}
}
