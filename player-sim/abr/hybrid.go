package abr

import "math"

// HybridConfig configures HybridMPC. Zero fields take the defaults.
type HybridConfig struct {
	Horizon      int     // chunks planned ahead; default 5
	History      int     // throughput samples in the harmonic mean; default 5
	ErrorWindow  int     // past relative errors considered; default 5
	ErrorWeight  float64 // the estimate is divided by 1 + ErrorWeight x max error; default 1
	TargetBuffer float64 // seconds; a plan ending below it pays BufferPenalty per missing second; default 0 (off)
	BufferWeight float64 // default 0
	CarryErrors  bool
	RebufPenalty float64 // default 4.3
}

// HybridMPC is the default.
type HybridMPC struct {
	cfg     HybridConfig
	errs    []float64
	nerr    int
	lastEst float64
	last    int
	search  planSearch
}

// NewHybridMPC returns a HybridMPC with cfg's zero fields set to the defaults.
func NewHybridMPC(cfg HybridConfig) *HybridMPC {
	if cfg.Horizon == 0 {
		cfg.Horizon = 5
	}
	if cfg.History == 0 {
		cfg.History = 5
	}
	if cfg.ErrorWindow == 0 {
		cfg.ErrorWindow = 5
	}
	if cfg.ErrorWeight == 0 {
		cfg.ErrorWeight = 1
	}
	if cfg.RebufPenalty == 0 {
		cfg.RebufPenalty = 4.3
	}
	h := &HybridMPC{cfg: cfg, errs: make([]float64, cfg.ErrorWindow)}
	if cfg.BufferWeight > 0 {
		h.search.terminal = func(buf float64) float64 {
			return -cfg.BufferWeight * math.Max(0, cfg.TargetBuffer-buf)
		}
	}
	return h
}

// Choose implements Algorithm.
func (m *HybridMPC) Choose(s *State) int {
	if s.Next <= m.last && !m.cfg.CarryErrors {
		m.nerr, m.lastEst = 0, 0
	}
	m.last = s.Next
	n := len(s.Throughput)
	if n == 0 {
		return 0
	}
	cur := s.Throughput[n-1] / 1e6
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
	predicted := hm / (1 + m.cfg.ErrorWeight*maxErr)
	h := min(m.cfg.Horizon, s.Chunks-s.Next)
	if h <= 0 {
		return s.LastLevel
	}
	m.search.reset(s, h, 0, predicted, m.cfg.RebufPenalty, 1)
	return m.search.best(s.Buffer, s.LastLevel)
}
