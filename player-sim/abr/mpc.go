package abr

import "math"

// MPCConfig configures robustMPC. Zero fields take the defaults, which are those of the
// reference code (Pensieve's test/mpc.py).
type MPCConfig struct {
	Horizon       int     // chunks planned ahead; default 5 (all 6^5 plans are scored)
	History       int     // throughput samples in the harmonic mean; default 5
	ErrorWindow   int     // past relative prediction errors whose maximum discounts the estimate; default 5
	RebufPenalty  float64 // QoE_lin weight of a second of stall; default 4.3
	SmoothPenalty float64 // QoE_lin weight of a Mbps of level change; default 1
	// ExactNext makes the plan use the sizes of the chunks it will actually download
	// (Sizes[level][Next+k]). By default the plan uses Sizes[level][Next+1+k], as the reference
	// code does (an off-by-one there that the reference figures include).
	ExactNext bool
	// ErrorScale multiplies the largest recent relative error before it discounts the
	// estimate: predicted = harmonic mean / (1 + ErrorScale x max error); default 1 (robustMPC).
	ErrorScale float64
	// LongHistory, when above History, plans chunks LongFrom.. of the horizon with the harmonic
	// mean of the last LongHistory throughputs (discounted alike) instead of the last History:
	// the near future from the recent past, the farther from a longer one. Default 0: off.
	LongHistory, LongFrom int
}

func (c *MPCConfig) setDefaults() {
	if c.Horizon == 0 {
		c.Horizon = 5
	}
	if c.History == 0 {
		c.History = 5
	}
	if c.ErrorWindow == 0 {
		c.ErrorWindow = 5
	}
	if c.RebufPenalty == 0 {
		c.RebufPenalty = 4.3
	}
	if c.SmoothPenalty == 0 {
		c.SmoothPenalty = 1
	}
	if c.ErrorScale == 0 {
		c.ErrorScale = 1
	}
}

// RobustMPC is robust model predictive control (Yin et al., SIGCOMM 2015) as in Pensieve's
// test/mpc.py, the reference for the QoE figures of the ABR literature.
//
// After each chunk it predicts throughput as the harmonic mean of the session's last History
// measurements (chunk bytes / download time, the round trip included) divided by 1 + the largest
// relative error of its last ErrorWindow predictions, then scores every plan of levels for the
// next Horizon chunks with QoE_lin (bitrate - RebufPenalty x stall - SmoothPenalty x |change|,
// in Mbps and seconds) under that throughput, and takes the first level of the best plan; ties
// go to the plan that comes later in lexicographic order.
//
// Its error history is kept across sessions (the reference carries it from one trace to the
// next), so figures depend slightly on the order of sessions. Choose does not allocate.
type RobustMPC struct {
	cfg     MPCConfig
	errs    []float64 // ring of the last ErrorWindow relative errors
	nerr    int       // errors recorded so far
	lastEst float64   // last harmonic-mean estimate, 0 before the first
	search  planSearch
}

// NewRobustMPC returns a RobustMPC with cfg's zero fields set to the defaults.
func NewRobustMPC(cfg MPCConfig) *RobustMPC {
	cfg.setDefaults()
	cfg.Horizon = min(cfg.Horizon, maxHorizon)
	return &RobustMPC{cfg: cfg, errs: make([]float64, cfg.ErrorWindow)}
}

// Choose implements Algorithm.
func (m *RobustMPC) Choose(s *State) int {
	n := len(s.Throughput)
	if n == 0 {
		return 0
	}
	cur := s.Throughput[n-1] / 1e6 // MB/s, as the reference
	e := 0.0
	if m.lastEst > 0 {
		e = math.Abs(m.lastEst-cur) / cur
	}
	m.errs[m.nerr%len(m.errs)] = e
	m.nerr++
	maxErr := 0.0
	for i := 0; i < min(m.nerr, len(m.errs)); i++ {
		maxErr = max(maxErr, m.errs[i])
	}
	hm := harmonicMean(s.Throughput, m.cfg.History) / 1e6
	m.lastEst = hm
	predicted := hm / (1 + maxErr)
	if m.cfg.ErrorScale != 1 {
		predicted = hm / (1 + m.cfg.ErrorScale*maxErr)
	}

	h := min(m.cfg.Horizon, s.Chunks-s.Next)
	if h <= 0 {
		return s.LastLevel
	}
	off := 1
	if m.cfg.ExactNext {
		off = 0
	}
	m.search.reset(s, h, off, predicted, m.cfg.RebufPenalty, m.cfg.SmoothPenalty)
	if m.cfg.LongHistory > m.cfg.History && m.cfg.LongFrom < h {
		long := harmonicMean(s.Throughput, m.cfg.LongHistory) / 1e6 / (1 + m.cfg.ErrorScale*maxErr)
		m.search.rescale(m.cfg.LongFrom, predicted/long)
	}
	return m.search.best(s.Buffer, s.LastLevel)
}

// harmonicMean returns the harmonic mean of the last k values of v.
func harmonicMean(v []float64, k int) float64 {
	if k > len(v) {
		k = len(v)
	}
	sum := 0.0
	for _, x := range v[len(v)-k:] {
		sum += 1 / x
	}
	return 1 / (sum / float64(k))
}

// maxHorizon bounds the plan length of the search.
const maxHorizon = 10

// planSearch finds the best plan of levels by depth-first search with exact branch-and-bound
// pruning: a subtree is skipped only when even its best conceivable leaf (every remaining chunk
// at the top bitrate, no further stall or change) could not win, so the answer, ties included
// (the lexicographically last of the best plans), is that of scoring all plans. Floating-point
// operations are done in the same order as the reference, so scores match it bit for bit.
type planSearch struct {
	h        int
	levels   int
	dl       [maxHorizon][16]float64 // download seconds of chunk k at level q
	kbps     [16]int
	maxKbps  int
	chunkSec float64
	rebufPen float64
	smooth   float64
	// terminal, when set, adds a value to a plan's score given the buffer at its end. It must
	// never be positive, which keeps the pruning bound valid.
	terminal func(buf float64) float64

	bestScore float64
	bestFirst int
}

func (p *planSearch) reset(s *State, h, off int, mbps, rebufPen, smooth float64) {
	p.h, p.levels = h, min(len(s.Kbps), 16)
	p.maxKbps = 0
	for q := 0; q < p.levels; q++ {
		p.kbps[q] = s.Kbps[q]
		p.maxKbps = max(p.maxKbps, s.Kbps[q])
	}
	for k := 0; k < h; k++ {
		for q := 0; q < p.levels; q++ {
			row := s.Sizes[q]
			i := min(s.Next+k+off, len(row)-1)
			p.dl[k][q] = (float64(row[i]) / 1e6) / mbps
		}
	}
	p.chunkSec = s.ChunkSeconds
	p.rebufPen, p.smooth = rebufPen, smooth
}

// rescale multiplies the download times of chunks from.. of the plan by f.
func (p *planSearch) rescale(from int, f float64) {
	for k := from; k < p.h; k++ {
		for q := 0; q < p.levels; q++ {
			p.dl[k][q] *= f
		}
	}
}

// best returns the first level of the best plan starting from buffer buf after level last.
func (p *planSearch) best(buf float64, last int) int {
	// Seed the bound just under the best plan that keeps one level throughout: that plan, or
	// a better one or an equal one later in lexicographic order, is found again by the search.
	seed := math.Inf(-1)
	for q := 0; q < p.levels; q++ {
		seed = max(seed, p.score(buf, last, q))
	}
	p.bestScore = math.Nextafter(seed, math.Inf(-1))
	p.bestFirst = last
	p.dfs(0, buf, 0, 0, 0, last, -1)
	return p.bestFirst
}

// score returns the score of the plan that switches from level last to q for every chunk.
func (p *planSearch) score(buf float64, last, q int) float64 {
	rebuf := 0.0
	for k := 0; k < p.h; k++ {
		d := p.dl[k][q]
		if buf < d {
			rebuf += d - buf
			buf = 0
		} else {
			buf -= d
		}
		buf += p.chunkSec
	}
	return p.value(p.h*p.kbps[q], rebuf, abs(p.kbps[q]-p.kbps[last]), buf)
}

func (p *planSearch) value(bitSum int, rebuf float64, smooth int, buf float64) float64 {
	v := float64(bitSum)/1000 - p.rebufPen*rebuf - p.smooth*float64(smooth)/1000
	if p.terminal != nil {
		v += p.terminal(buf)
	}
	return v
}

func (p *planSearch) dfs(k int, buf, rebuf float64, bitSum, smooth, last, first int) {
	if k == p.h {
		if v := p.value(bitSum, rebuf, smooth, buf); v > p.bestScore {
			p.bestScore, p.bestFirst = v, first
		}
		return
	}
	// Upper bound of every leaf below: the score is monotone in each term, in floating point
	// too. Plans are visited in reverse lexicographic order, so a leaf that only ties the best
	// so far comes earlier in lexicographic order and loses: the subtree can go.
	if ub := float64(bitSum+(p.h-k)*p.maxKbps)/1000 - p.rebufPen*rebuf - p.smooth*float64(smooth)/1000; ub <= p.bestScore {
		return
	}
	for q := p.levels - 1; q >= 0; q-- {
		d := p.dl[k][q]
		b, r := buf, rebuf
		if b < d {
			r += d - b
			b = 0
		} else {
			b -= d
		}
		b += p.chunkSec
		f := first
		if k == 0 {
			f = q
		}
		p.dfs(k+1, b, r, bitSum+p.kbps[q], smooth+abs(p.kbps[q]-p.kbps[last]), q, f)
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
