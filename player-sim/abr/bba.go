package abr

// BBAConfig configures the buffer-based algorithm. Zero fields take the defaults.
type BBAConfig struct {
	Reservoir float64 // seconds of buffer below which the lowest level is used; default 5
	Cushion   float64 // seconds over which the level climbs linearly to the highest; default 10
}

// BBA is the buffer-based algorithm of Huang et al. (SIGCOMM 2014) in the form of Pensieve's
// test/bb.py: below Reservoir the lowest level, at or above Reservoir+Cushion the highest, and in
// between level = floor((levels-1) x (buffer-Reservoir) / Cushion). It keeps no state.
type BBA struct{ cfg BBAConfig }

// NewBBA returns a BBA with cfg's zero fields set to the defaults.
func NewBBA(cfg BBAConfig) *BBA {
	if cfg.Reservoir == 0 {
		cfg.Reservoir = 5
	}
	if cfg.Cushion == 0 {
		cfg.Cushion = 10
	}
	return &BBA{cfg: cfg}
}

// Choose implements Algorithm.
func (b *BBA) Choose(s *State) int {
	top := s.Levels() - 1
	switch {
	case s.Buffer < b.cfg.Reservoir:
		return 0
	case s.Buffer >= b.cfg.Reservoir+b.cfg.Cushion:
		return top
	}
	return int(float64(top) * (s.Buffer - b.cfg.Reservoir) / b.cfg.Cushion)
}
