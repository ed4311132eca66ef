package abr

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"sync"
)

// ThroughputModel is what MDP believes about the network: the chance of each throughput the
// next chunk may measure, given the state of the throughputs measured so far. A state is a
// smoothed estimate (an EWMA of log throughput) in one of Bins log-spaced bins between Lo and
// Hi, and a volatility class (an EWMA of |log(sample / estimate)|, split at VEdges). The
// model is fitted to traces by `player-sim learn --mdp` (package player-sim/learn).
type ThroughputModel struct {
	// About says how the model was made: the command and the traces.
	About string  `json:"about"`
	Bins  int     `json:"bins"`  // throughput bins
	Lo    float64 `json:"lo"`    // MB/s at the bottom of bin 0
	Hi    float64 `json:"hi"`    // MB/s at the top of the last bin
	Alpha float64 `json:"alpha"` // weight of the newest sample in the estimate
	Beta  float64 `json:"beta"`  // weight of the newest deviation in the volatility
	// VEdges split volatility into len(VEdges)+1 classes; VCenter represents each class.
	VEdges  []float64 `json:"v_edges"`
	VCenter []float64 `json:"v_center"`
	// P[state][bin] is the chance that the next chunk measures a throughput in bin, where
	// state = estimate bin x len(VCenter) + volatility class. Rows sum to 1.
	P [][]float64 `json:"p"`
}

//go:embed mdp_model.json
var mdpJSON []byte

// DefaultThroughputModel returns the model carried in the repository (mdp_model.json).
func DefaultThroughputModel() (*ThroughputModel, error) {
	m, err := ParseThroughputModel(mdpJSON)
	if err != nil {
		return nil, fmt.Errorf("abr: mdp_model.json: %w", err)
	}
	return m, nil
}

// sharedModel is the carried model, read once, so that every player with the default
// shares its value tables (they are keyed by the model too).
var sharedModel = sync.OnceValues(DefaultThroughputModel)

// ParseThroughputModel reads a model written as JSON and checks it.
func ParseThroughputModel(b []byte) (*ThroughputModel, error) {
	var m ThroughputModel
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	if err := m.Check(); err != nil {
		return nil, err
	}
	return &m, nil
}

// Check reports what makes m unusable.
func (m *ThroughputModel) Check() error {
	switch {
	case m.Bins < 2 || m.Bins > 256:
		return fmt.Errorf("throughput model: %d bins, want 2 to 256", m.Bins)
	case !(m.Lo > 0) || !(m.Hi > m.Lo) || math.IsInf(m.Hi, 0):
		return fmt.Errorf("throughput model: bins from %g to %g MB/s, want 0 < lo < hi", m.Lo, m.Hi)
	case !(m.Alpha > 0 && m.Alpha <= 1) || !(m.Beta >= 0 && m.Beta <= 1):
		return errors.New("throughput model: alpha must be in (0, 1] and beta in [0, 1]")
	case len(m.VCenter) == 0 && len(m.VEdges) != 0, len(m.VCenter) > 0 && len(m.VEdges) != len(m.VCenter)-1, len(m.VCenter) > 16:
		return fmt.Errorf("throughput model: %d volatility edges for %d classes", len(m.VEdges), len(m.VCenter))
	case len(m.P) != m.Bins*m.nv():
		return fmt.Errorf("throughput model: %d rows, want %d", len(m.P), m.Bins*m.nv())
	}
	for i, e := range m.VEdges {
		if !(e >= 0) || math.IsInf(e, 0) || i > 0 && e < m.VEdges[i-1] {
			return errors.New("throughput model: volatility edges must be finite, non-negative and sorted")
		}
	}
	for _, c := range m.VCenter {
		if !(c >= 0) || math.IsInf(c, 0) {
			return errors.New("throughput model: volatility centres must be finite and non-negative")
		}
	}
	for i, row := range m.P {
		if len(row) != m.Bins {
			return fmt.Errorf("throughput model: row %d has %d entries, want %d", i, len(row), m.Bins)
		}
		sum := 0.0
		for _, p := range row {
			if !(p >= 0 && p <= 1) {
				return fmt.Errorf("throughput model: row %d holds %g, not a chance", i, p)
			}
			sum += p
		}
		if math.Abs(sum-1) > 1e-6 {
			return fmt.Errorf("throughput model: row %d sums to %g, want 1", i, sum)
		}
	}
	return nil
}

func (m *ThroughputModel) nv() int { return max(len(m.VCenter), 1) }

// Bin returns the bin of a throughput in MB/s.
func (m *ThroughputModel) Bin(mbps float64) int {
	x := (math.Log(mbps) - math.Log(m.Lo)) / (math.Log(m.Hi) - math.Log(m.Lo)) * float64(m.Bins)
	if !(x > 0) { // NaN too
		return 0
	}
	return min(int(x), m.Bins-1)
}

// Center returns the MB/s at the centre of bin i.
func (m *ThroughputModel) Center(i int) float64 {
	return math.Exp(math.Log(m.Lo) + (float64(i)+0.5)/float64(m.Bins)*(math.Log(m.Hi)-math.Log(m.Lo)))
}

// Update folds sample x (MB/s) into estimate e (0: none yet).
func (m *ThroughputModel) Update(e, x float64) float64 {
	if e <= 0 {
		return x
	}
	return math.Exp(m.Alpha*math.Log(x) + (1-m.Alpha)*math.Log(e))
}

// VUpdate folds sample x, measured under estimate e, into volatility v.
func (m *ThroughputModel) VUpdate(v, e, x float64) float64 {
	if e <= 0 {
		return v
	}
	return (1-m.Beta)*v + m.Beta*math.Abs(math.Log(x/e))
}

// State returns the state of estimate e and volatility v.
func (m *ThroughputModel) State(e, v float64) int {
	c := 0
	for _, edge := range m.VEdges {
		if v >= edge {
			c++
		}
	}
	return m.Bin(e)*m.nv() + c
}

// MDPConfig configures MDP. Zero fields take the defaults, those of the reference simulator.
type MDPConfig struct {
	Model         *ThroughputModel // nil: DefaultThroughputModel
	BufferStep    float64          // seconds per buffer cell of the value table; default 0.5
	BufferCap     float64          // the player's buffer cap, seconds; default 60
	RebufPenalty  float64          // QoE_lin weight of a second of stall; default 4.3
	SmoothPenalty float64          // QoE_lin weight of a Mbps of level change; default 1
	// Lookahead is how many chunks the value table reaches; a chunk further from the end of
	// the video is valued as if it were Lookahead from it. Default 48.
	Lookahead int
}

// MDP chooses the level that maximises the expected QoE_lin of the rest of the video under a
// ThroughputModel: a Markov decision process over (chunks left, buffer, last level, throughput
// state). Its value table is solved once per ladder and chunk duration by backward induction
// from the end of the video, with every chunk at its level's nominal size, and shared by every
// player of that ladder; each decision then takes one step of expectation over the next
// chunk's throughput with that chunk's real size. Unlike MPC's single predicted throughput and
// fixed horizon, it weighs every throughput the model deems possible, and it knows that a
// level taken now will have to be left again when throughput moves: it switches less. Its
// per-session state (the estimate and volatility) restarts when s.Next does not advance.
type MDP struct {
	cfg      MDPConfig
	table    *mdpTable
	est, vol float64
	lastNext int
	seen     int
}

// NewMDP returns an MDP with cfg's zero fields set to the defaults.
func NewMDP(cfg MDPConfig) (*MDP, error) {
	if cfg.Model == nil {
		m, err := sharedModel()
		if err != nil {
			return nil, err
		}
		cfg.Model = m
	} else if err := cfg.Model.Check(); err != nil {
		return nil, err
	}
	if cfg.BufferStep == 0 {
		cfg.BufferStep = 0.5
	}
	if cfg.BufferCap == 0 {
		cfg.BufferCap = 60
	}
	if cfg.RebufPenalty == 0 {
		cfg.RebufPenalty = 4.3
	}
	if cfg.SmoothPenalty == 0 {
		cfg.SmoothPenalty = 1
	}
	if cfg.Lookahead == 0 {
		cfg.Lookahead = 48
	}
	if !(cfg.BufferStep > 0) || !(cfg.BufferCap >= cfg.BufferStep) || cfg.BufferCap/cfg.BufferStep > 1000 {
		return nil, errors.New("abr: mdp: want 0 < buffer step <= buffer cap, at most 1000 cells")
	}
	if cfg.Lookahead < 1 || cfg.Lookahead > 1000 {
		return nil, errors.New("abr: mdp: want a lookahead of 1 to 1000 chunks")
	}
	return &MDP{cfg: cfg}, nil
}

// Choose implements Algorithm. It does not allocate once its table is solved.
func (a *MDP) Choose(s *State) int {
	n := len(s.Throughput)
	if n == 0 || len(s.Kbps) == 0 || len(s.Sizes) < len(s.Kbps) || !(s.ChunkSeconds > 0) {
		return 0
	}
	m := a.cfg.Model
	if s.Next <= a.lastNext || n < a.seen { // a new session
		a.est, a.vol, a.seen = 0, 0, 0
	}
	a.lastNext = s.Next
	for ; a.seen < n; a.seen++ {
		x := s.Throughput[a.seen] / 1e6
		if !(x > 0) || math.IsInf(x, 0) {
			continue
		}
		a.vol = m.VUpdate(a.vol, a.est, x)
		a.est = m.Update(a.est, x)
	}
	last := min(max(s.LastLevel, 0), len(s.Kbps)-1)
	if s.Next >= s.Chunks || a.est <= 0 {
		return last
	}
	if t := a.table; t == nil || t.chunkSec != s.ChunkSeconds || !slices.Equal(t.ladder, s.Kbps) {
		a.table = tableFor(s.Kbps, s.ChunkSeconds, &a.cfg)
	}
	buf := min(max(s.Buffer, 0), a.cfg.BufferCap)
	t := a.table
	z := m.State(a.est, a.vol)
	rest := min(s.Chunks-s.Next-1, t.h) // chunks left after this one, as far as the table reaches
	bq, bv := last, math.Inf(-1)
	for q := 0; q < t.nl; q++ {
		size := 0.0
		if row := s.Sizes[q]; len(row) > 0 {
			size = float64(row[min(s.Next, len(row)-1)]) / 1e6
		}
		if v := t.expect(rest, buf, size, q, z) + t.reward(q, last); v > bv {
			bq, bv = q, v
		}
	}
	return bq
}

// tableKey identifies a value table: the ladder, the chunk duration and the configuration.
type tableKey struct {
	ladder   string // the bitrates, decimal, comma-separated
	chunkSec float64
	cfg      MDPConfig
}

// tables holds the value tables solved so far, at most maxTables.
var tables struct {
	sync.Mutex
	m map[tableKey]*tableEntry
}

type tableEntry struct {
	once sync.Once
	t    *mdpTable
}

const maxTables = 16

// tableFor returns the table of a ladder, solving it the first time (once, however many
// players ask at the same time).
func tableFor(kbps []int, chunkSec float64, cfg *MDPConfig) *mdpTable {
	var ladder []byte
	for _, k := range kbps {
		ladder = strconv.AppendInt(append(ladder, ','), int64(k), 10)
	}
	k := tableKey{string(ladder), chunkSec, *cfg}
	tables.Lock()
	if tables.m == nil || len(tables.m) >= maxTables {
		tables.m = map[tableKey]*tableEntry{}
	}
	e, ok := tables.m[k]
	if !ok {
		e = &tableEntry{}
		tables.m[k] = e
	}
	tables.Unlock()
	e.once.Do(func() { e.t = solve(kbps, chunkSec, &k.cfg) })
	return e.t
}

// mdpTable is a solved MDP: the value of every (chunks left, buffer cell, last level, state).
type mdpTable struct {
	cfg        *MDPConfig
	nb, nl, nz int
	ladder     []int     // the bitrates it was solved for, kbps
	h          int       // chunks left the table reaches
	v          []float32 // [chunks left 0..h][buffer cell][level][state]; 0 chunks left: 0
	kbps       []float64 // Mbps
	size       []float64 // nominal MB per chunk of each level
	chunkSec   float64
	// Per state, the throughputs the next chunk may measure: their chance, MB/s and the state
	// they lead to.
	next [][]mdpNext
}

type mdpNext struct {
	p, mbps float64
	state   int
}

func solve(kbps []int, chunkSec float64, cfg *MDPConfig) *mdpTable {
	m := cfg.Model
	nv := m.nv()
	t := &mdpTable{cfg: cfg, nb: int(math.Round(cfg.BufferCap/cfg.BufferStep)) + 1, nl: len(kbps), nz: m.Bins * nv, h: cfg.Lookahead, chunkSec: chunkSec, ladder: slices.Clone(kbps)}
	for _, k := range kbps {
		t.kbps = append(t.kbps, float64(k)/1000)
		t.size = append(t.size, float64(k)*chunkSec/8/1000)
	}
	t.next = make([][]mdpNext, t.nz)
	for z := range t.next {
		e := m.Center(z / nv)
		v := 0.0
		if len(m.VCenter) > 0 {
			v = m.VCenter[z%nv]
		}
		// Chances under 1e-4 are left out (the rest scaled up): a tenth of the work.
		kept := 0.0
		for _, p := range m.P[z] {
			if p >= 1e-4 {
				kept += p
			}
		}
		for x, p := range m.P[z] {
			if p < 1e-4 {
				continue
			}
			c := m.Center(x)
			t.next[z] = append(t.next[z], mdpNext{p: p / kept, mbps: c, state: m.State(m.Update(e, c), m.VUpdate(v, e, c))})
		}
	}
	t.v = make([]float32, (t.h+1)*t.nb*t.nl*t.nz)
	ev := make([]float64, t.nl)
	for r := 1; r <= t.h; r++ {
		for j := 0; j < t.nb; j++ {
			b := float64(j) * cfg.BufferStep
			for z := 0; z < t.nz; z++ {
				for q := range ev {
					ev[q] = t.expect(r-1, b, t.size[q], q, z)
				}
				for l := 0; l < t.nl; l++ {
					best := math.Inf(-1)
					for q, e := range ev {
						best = max(best, e+t.reward(q, l))
					}
					t.v[t.at(r, j, l, z)] = float32(best)
				}
			}
		}
	}
	return t
}

func (t *mdpTable) at(r, j, l, z int) int { return ((r*t.nb+j)*t.nl+l)*t.nz + z }

func (t *mdpTable) reward(q, last int) float64 {
	return t.kbps[q] - t.cfg.SmoothPenalty*math.Abs(t.kbps[q]-t.kbps[last])
}

// expect returns the expected stall penalty of a chunk of size MB at level q from buffer b in
// state z, plus the expected value of the rest chunks left after it.
func (t *mdpTable) expect(rest int, b, size float64, q, z int) float64 {
	v := 0.0
	for _, n := range t.next[z] {
		d := size / n.mbps
		r := 0.0
		nb := b - d
		if nb < 0 {
			r = t.cfg.RebufPenalty * nb
			nb = 0
		}
		nb = min(nb+t.chunkSec, t.cfg.BufferCap)
		v += n.p * (r + t.value(rest, nb, q, n.state))
	}
	return v
}

// value interpolates the value of rest chunks left at buffer b linearly between cells.
func (t *mdpTable) value(rest int, b float64, q, z int) float64 {
	if rest <= 0 {
		return 0
	}
	f := b / t.cfg.BufferStep
	j := min(int(f), t.nb-2)
	w := f - float64(j)
	k := t.at(rest, j, q, z)
	return float64(t.v[k])*(1-w) + float64(t.v[k+t.nl*t.nz])*w
}
