package learn

import (
	"errors"
	"math"
	"sort"

	"edgecdn/player-sim/abr"
	"edgecdn/player-sim/sim"
)

// ModelConfig is the fit of a throughput model (abr.ThroughputModel). Zero fields take the
// defaults, those of the carried model.
type ModelConfig struct {
	Bins    int     // throughput bins; default 36
	Lo, Hi  float64 // MB/s range of the bins; default 0.02 to 4 (160 kbit/s to 32 Mbit/s)
	Alpha   float64 // EWMA weight of the estimate; default 0.3
	Beta    float64 // EWMA weight of the volatility; default 0.4
	Classes int     // volatility classes, split at equal shares of the samples; default 3
	// Blend is how many samples' weight a row's own counts are blended with: a row is
	// (counts + Blend x the class's distribution of bin moves) / (samples + Blend), so a state
	// seen rarely leans on how throughput moves from any estimate in its class; default 30.
	Blend float64
	// Rounds of observation: the first plays the traces with targetMPC, each later one with the
	// MDP of the model fitted so far, and the model is fitted on all of them; default 1.
	Rounds int
}

func (c *ModelConfig) setDefaults() {
	if c.Bins == 0 {
		c.Bins = 36
	}
	if c.Lo == 0 {
		c.Lo = 0.02
	}
	if c.Hi == 0 {
		c.Hi = 4
	}
	if c.Alpha == 0 {
		c.Alpha = 0.3
	}
	if c.Beta == 0 {
		c.Beta = 0.4
	}
	if c.Classes == 0 {
		c.Classes = 3
	}
	if c.Blend == 0 {
		c.Blend = 30
	}
	if c.Rounds == 0 {
		c.Rounds = 1
	}
}

// FitModel fits a throughput model to the throughputs that players measure on traces in
// virtual time: for every chunk after the first, the state before it (estimate and
// volatility) and the bin of the throughput it measured.
func FitModel(traces []*sim.Trace, cfg ModelConfig) (*abr.ThroughputModel, error) {
	if len(traces) == 0 {
		return nil, errors.New("learn: no traces to fit a throughput model to")
	}
	cfg.setDefaults()
	m := &abr.ThroughputModel{Bins: cfg.Bins, Lo: cfg.Lo, Hi: cfg.Hi, Alpha: cfg.Alpha, Beta: cfg.Beta}
	var obs [][]float64
	var alg abr.Algorithm = abr.NewTargetMPC(abr.TargetConfig{})
	for round := 0; round < cfg.Rounds; round++ {
		got, err := observe(traces, alg)
		if err != nil {
			return nil, err
		}
		obs = append(obs, got...)
		if err := fitModel(m, obs, cfg); err != nil {
			return nil, err
		}
		mdp, err := abr.NewMDP(abr.MDPConfig{Model: m})
		if err != nil {
			return nil, err
		}
		alg = mdp
	}
	return m, nil
}

// observe plays every trace with alg and returns each session's measured throughputs, MB/s.
func observe(traces []*sim.Trace, alg abr.Algorithm) ([][]float64, error) {
	s, err := sim.New(sim.Config{})
	if err != nil {
		return nil, err
	}
	v := sim.Envivio()
	var sess sim.Session
	var out [][]float64
	for _, t := range traces {
		if err := s.Run(t, alg, &sess); err != nil {
			return nil, err
		}
		xs := make([]float64, 0, len(sess.Chunks))
		for i, c := range sess.Chunks {
			xs = append(xs, float64(v.Sizes[c.Level][i])/c.Download/1e6)
		}
		out = append(out, xs)
	}
	return out, nil
}

// fitModel sets m's volatility classes and chances from obs.
func fitModel(m *abr.ThroughputModel, obs [][]float64, cfg ModelConfig) error {
	// Volatility classes at equal shares of the samples.
	m.VEdges, m.VCenter = nil, nil
	var vs []float64
	walk := func(f func(e, v, x float64)) {
		for _, xs := range obs {
			e, v := 0.0, 0.0
			for _, x := range xs {
				if e > 0 {
					f(e, v, x)
				}
				v = m.VUpdate(v, e, x)
				e = m.Update(e, x)
			}
		}
	}
	walk(func(_, v, _ float64) { vs = append(vs, v) })
	if len(vs) == 0 {
		return errors.New("learn: the traces gave no throughput samples")
	}
	sort.Float64s(vs)
	nv := max(cfg.Classes, 1)
	if nv > 1 {
		for c := 0; c < nv; c++ {
			if c > 0 {
				m.VEdges = append(m.VEdges, vs[c*len(vs)/nv])
			}
			m.VCenter = append(m.VCenter, vs[(2*c+1)*len(vs)/(2*nv)])
		}
	}
	bins := m.Bins
	counts := make([][]float64, bins*nv)
	for i := range counts {
		counts[i] = make([]float64, bins)
	}
	moves := make([][]float64, nv) // [class][bin move + bins]
	for c := range moves {
		moves[c] = make([]float64, 2*bins)
	}
	walk(func(e, v, x float64) {
		st, xb := m.State(e, v), m.Bin(x)
		counts[st][xb]++
		moves[st%nv][xb-m.Bin(e)+bins]++
	})
	m.P = make([][]float64, bins*nv)
	for st := range m.P {
		z, c := st/nv, st%nv
		var nMoves, n float64
		for _, k := range moves[c] {
			nMoves += k
		}
		for _, k := range counts[st] {
			n += k
		}
		row := make([]float64, bins)
		sum := 0.0
		for x := range row {
			prior := 0.0
			if nMoves > 0 {
				prior = moves[c][x-z+bins] / nMoves
			}
			row[x] = (counts[st][x] + cfg.Blend*prior) / (n + cfg.Blend)
			sum += row[x]
		}
		if sum == 0 { // a class with no samples: stay in the estimate's bin
			row[z], sum = 1, 1
		}
		for x := range row {
			row[x] = math.Round(row[x]/sum*1e6) / 1e6
		}
		// Put the rounding's remainder on the largest chance so the row sums to 1.
		tot, big := 0.0, 0
		for x, p := range row {
			tot += p
			if p > row[big] {
				big = x
			}
		}
		row[big] += 1 - tot
		m.P[st] = row
	}
	return nil
}
