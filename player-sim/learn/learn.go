// Package learn trains player-sim's learned ABR (abr.Learned) by imitation of the
// offline-optimal planner, with DAgger (Ross et al., AISTATS 2011) as Comyco does (Huang et
// al., ACM MM 2019): sessions are played in virtual time, at every decision the planner that
// knows the rest of the trace (sim.Simulator.RunExpert) says which level it would take, and a
// small network learns to answer the same from what a player sees. The first round follows the
// planner; later rounds play the network and label the states it reaches.
package learn

import (
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"sync"
	"time"

	"edgecdn/player-sim/abr"
	"edgecdn/player-sim/sim"
)

// Config is a training run. Zero fields take the defaults.
type Config struct {
	Traces  []*sim.Trace // training traces
	Rounds  int          // DAgger rounds; default 4
	Hidden  int          // hidden units; default 32
	Epochs  int          // passes over the data after each round; default 40
	Rate    float64      // Adam's step; default 0.003
	Horizon int          // the planner's look-ahead in chunks; default 0: to the end of the video
	Workers int          // sessions played at once; default 2
	Seed    uint64
	Log     io.Writer // progress, one line per round; nil: none
	// Deadline stops collecting new rounds after this long (the network trained so far is
	// returned); default 15 minutes.
	Deadline time.Duration
}

// sample is one decision: what the network sees, the planner's best move of targetMPC's
// level, the moves it may take (a move off the ladder may not), and what is at stake (the best
// move's worth minus the worst's, capped), which weighs the sample.
type sample struct {
	x      []float64
	move   int
	valid  [abr.Moves]bool
	weight float64
}

// Train runs DAgger and returns the network.
func Train(cfg Config) (*abr.LearnedWeights, error) {
	if len(cfg.Traces) == 0 {
		return nil, errors.New("learn: no training traces")
	}
	if cfg.Rounds == 0 {
		cfg.Rounds = 4
	}
	if cfg.Hidden == 0 {
		cfg.Hidden = 32
	}
	if cfg.Epochs == 0 {
		cfg.Epochs = 40
	}
	if cfg.Rate == 0 {
		cfg.Rate = 0.003
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 2
	}
	if cfg.Deadline == 0 {
		cfg.Deadline = 15 * time.Minute
	}
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	start := time.Now()
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x1ea7))
	w := initWeights(cfg.Hidden, rng)
	var data []sample
	for round := 0; round < cfg.Rounds; round++ {
		if round > 0 && time.Since(start) > cfg.Deadline {
			fmt.Fprintf(cfg.Log, "round %d: not run, past the %v deadline\n", round, cfg.Deadline)
			break
		}
		t0 := time.Now()
		got, score, agree, err := collect(cfg, w, false)
		if err != nil {
			return nil, err
		}
		data = append(data, got...)
		loss := fit(w, data, cfg, rng)
		fmt.Fprintf(cfg.Log, "round %d: %s sessions score %.3f mean, the network agreed with the planner on %.1f%% of %d decisions; %d samples, loss %.4f; %v\n",
			round, "network's", score, 100*agree, len(got), len(data), loss, time.Since(t0).Round(time.Second))
	}
	return w, nil
}

// collect plays every training trace (following the planner, or the network) and labels every
// decision with the planner's level.
func collect(cfg Config, w *abr.LearnedWeights, follow bool) ([]sample, float64, float64, error) {
	type result struct {
		samples     []sample
		score       float64
		agree, seen int
		err         error
	}
	res := make([]result, cfg.Workers)
	var wg sync.WaitGroup
	for k := range res {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := &res[k]
			s, err := sim.New(sim.Config{})
			if err != nil {
				r.err = err
				return
			}
			alg, err := abr.NewLearned(w)
			if err != nil {
				r.err = err
				return
			}
			var sess sim.Session
			for i := k; i < len(cfg.Traces); i += cfg.Workers {
				err := s.RunExpert(cfg.Traces[i], alg, &sess, cfg.Horizon, sim.OptimalConfig{BufferStep: 0.5}, follow, func(st *abr.State, expert int, q []float64) {
					d := sample{x: make([]float64, abr.NumFeatures)}
					abr.Features(st, alg.LastMPC, d.x)
					hi, lo := math.Inf(-1), math.Inf(1)
					for mv := 0; mv < abr.Moves; mv++ {
						a := alg.LastMPC + mv - 1
						if a < 0 || a >= len(q) || math.IsInf(q[a], -1) {
							continue
						}
						d.valid[mv] = true
						if q[a] > hi {
							hi, d.move = q[a], mv
						}
						lo = min(lo, q[a])
					}
					if math.IsInf(hi, -1) {
						return
					}
					d.weight = min(max(hi-lo, 0.05), 3)
					r.samples = append(r.samples, d)
					logits := make([]float64, abr.Moves)
					if w.Forward(d.x, make([]float64, len(w.W1)), logits) == d.move {
						r.agree++
					}
					r.seen++
				})
				if err != nil {
					r.err = err
					return
				}
				r.score += sess.Score
			}
		}()
	}
	wg.Wait()
	var out []sample
	var score float64
	var agree, seen int
	for _, r := range res {
		if r.err != nil {
			return nil, 0, 0, r.err
		}
		out = append(out, r.samples...)
		score += r.score
		agree += r.agree
		seen += r.seen
	}
	return out, score / float64(len(cfg.Traces)), float64(agree) / float64(max(seen, 1)), nil
}

func initWeights(hidden int, rng *rand.Rand) *abr.LearnedWeights {
	w := &abr.LearnedWeights{Inputs: abr.NumFeatures, B1: make([]float64, hidden), B2: make([]float64, abr.Moves)}
	for j := 0; j < hidden; j++ {
		row := make([]float64, abr.NumFeatures)
		for i := range row {
			row[i] = rng.NormFloat64() / math.Sqrt(float64(abr.NumFeatures))
		}
		w.W1 = append(w.W1, row)
	}
	w.B2[1] = 2 // start by keeping targetMPC's level
	for q := 0; q < abr.Moves; q++ {
		row := make([]float64, hidden)
		for j := range row {
			row[j] = rng.NormFloat64() / math.Sqrt(float64(hidden))
		}
		w.W2 = append(w.W2, row)
	}
	return w
}

// fit trains w on data with softmax cross-entropy and Adam, in minibatches of 64, and returns
// the last epoch's mean loss.
func fit(w *abr.LearnedWeights, data []sample, cfg Config, rng *rand.Rand) float64 {
	H, I := len(w.W1), w.Inputs
	// Parameters and Adam moments, flattened: W1, B1, W2, B2.
	const M = abr.Moves
	n := H*I + H + M*H + M
	m, v, g := make([]float64, n), make([]float64, n), make([]float64, n)
	const beta1, beta2, eps = 0.9, 0.999, 1e-8
	t := 0
	h := make([]float64, H)
	logits := make([]float64, M)
	idx := make([]int, len(data))
	for i := range idx {
		idx[i] = i
	}
	loss := 0.0
	for epoch := 0; epoch < cfg.Epochs; epoch++ {
		rng.Shuffle(len(idx), func(a, b int) { idx[a], idx[b] = idx[b], idx[a] })
		loss = 0
		for lo := 0; lo < len(idx); lo += 64 {
			batch := idx[lo:min(lo+64, len(idx))]
			for i := range g {
				g[i] = 0
			}
			for _, di := range batch {
				d := &data[di]
				w.Forward(d.x, h, logits)
				mx := math.Inf(-1)
				for q, l := range logits {
					if d.valid[q] {
						mx = max(mx, l)
					}
				}
				var z float64
				var p [M]float64
				for q, l := range logits {
					if d.valid[q] {
						p[q] = math.Exp(l - mx)
						z += p[q]
					}
				}
				for q := range p {
					p[q] /= z
				}
				loss -= d.weight * math.Log(max(p[d.move], 1e-12))
				p[d.move] -= 1 // dL/dlogit
				for q := range p {
					p[q] *= d.weight
				}
				// Output layer.
				off2 := H*I + H
				for q := 0; q < M; q++ {
					for j := 0; j < H; j++ {
						g[off2+q*H+j] += p[q] * h[j]
					}
					g[off2+M*H+q] += p[q]
				}
				// Hidden layer.
				for j := 0; j < H; j++ {
					var dh float64
					for q := 0; q < M; q++ {
						dh += p[q] * w.W2[q][j]
					}
					da := dh * (1 - h[j]*h[j])
					for i, x := range d.x {
						g[j*I+i] += da * x
					}
					g[H*I+j] += da
				}
			}
			t++
			scale := 1 / float64(len(batch))
			lr := cfg.Rate * math.Sqrt(1-math.Pow(beta2, float64(t))) / (1 - math.Pow(beta1, float64(t)))
			for k := range g {
				gk := g[k] * scale
				m[k] = beta1*m[k] + (1-beta1)*gk
				v[k] = beta2*v[k] + (1-beta2)*gk*gk
				step := lr * m[k] / (math.Sqrt(v[k]) + eps)
				switch {
				case k < H*I:
					w.W1[k/I][k%I] -= step
				case k < H*I+H:
					w.B1[k-H*I] -= step
				case k < H*I+H+M*H:
					kk := k - H*I - H
					w.W2[kk/H][kk%H] -= step
				default:
					w.B2[k-H*I-H-M*H] -= step
				}
			}
		}
		loss /= float64(len(idx))
	}
	return loss
}
