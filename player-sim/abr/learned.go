package abr

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"math"
)

// LearnedWeights are the parameters of Learned's network: one hidden layer of tanh units
// and one logit per level. They are made by `player-sim learn` (package player-sim/learn).
type LearnedWeights struct {
	// About says how the weights were made: the command, the training traces, the score.
	About  string      `json:"about"`
	Inputs int         `json:"inputs"`
	W1     [][]float64 `json:"w1"` // [hidden][inputs]
	B1     []float64   `json:"b1"`
	W2     [][]float64 `json:"w2"` // [moves][hidden]: one row per move of targetMPC's level, -1, 0, +1
	B2     []float64   `json:"b2"`
}

//go:embed learned_weights.json
var learnedJSON []byte

// DefaultLearnedWeights returns the weights carried in the repository (learned_weights.json).
func DefaultLearnedWeights() (*LearnedWeights, error) {
	var w LearnedWeights
	if err := json.Unmarshal(learnedJSON, &w); err != nil {
		return nil, fmt.Errorf("abr: learned_weights.json: %w", err)
	}
	if err := w.check(); err != nil {
		return nil, err
	}
	return &w, nil
}

func (w *LearnedWeights) check() error {
	if w.Inputs != NumFeatures || len(w.W1) == 0 || len(w.B1) != len(w.W1) || len(w.W2) != Moves || len(w.B2) != Moves {
		return fmt.Errorf("abr: learned weights: want %d inputs and %d outputs", NumFeatures, Moves)
	}
	for _, r := range w.W1 {
		if len(r) != w.Inputs {
			return fmt.Errorf("abr: learned weights: a hidden unit with %d inputs, want %d", len(r), w.Inputs)
		}
	}
	for _, r := range w.W2 {
		if len(r) != len(w.W1) {
			return fmt.Errorf("abr: learned weights: an output with %d inputs, want %d", len(r), len(w.W1))
		}
	}
	return nil
}

// Moves is the number of the network's answers: targetMPC's level one down, kept, one up.
const Moves = 3

// learnedLevels is the ladder size the network was made for (the Envivio ladder's six).
const learnedLevels = 6

// NumFeatures is the length of Features' vector.
const NumFeatures = 2*learnedLevels + 1 + 2*featureHistory + learnedLevels + 4

const featureHistory = 6

// Features writes into f (length NumFeatures) what Learned's network sees of s, given the
// level targetMPC would choose: the last level and targetMPC's (one-hot), the buffer, the last
// throughputs (MB/s) and download times, the next chunk's size at every level (MB), the share
// of the video left, the last stall, the harmonic mean of the last five throughputs and the
// time idled.
func Features(s *State, mpc int, f []float64) {
	for i := range f {
		f[i] = 0
	}
	k := 0
	if s.LastLevel < learnedLevels {
		f[k+s.LastLevel] = 1
	}
	k += learnedLevels
	if mpc < learnedLevels {
		f[k+mpc] = 1
	}
	k += learnedLevels
	f[k] = s.Buffer / 10
	k++
	n := len(s.Throughput)
	for j := 0; j < featureHistory && j < n; j++ {
		f[k+j] = s.Throughput[n-1-j] / 1e6
		f[k+featureHistory+j] = s.DownloadTime[n-1-j] / s.ChunkSeconds
	}
	k += 2 * featureHistory
	for q := 0; q < learnedLevels && q < len(s.Sizes); q++ {
		if s.Next < len(s.Sizes[q]) {
			f[k+q] = float64(s.Sizes[q][s.Next]) / 1e6
		}
	}
	k += learnedLevels
	if s.Chunks > 0 {
		f[k] = float64(s.Chunks-s.Next) / float64(s.Chunks)
	}
	f[k+1] = s.Rebuffer
	if n > 0 {
		f[k+2] = harmonicMean(s.Throughput, 5) / 1e6
	}
	f[k+3] = s.Idle / s.ChunkSeconds
}

// Learned is an ABR learned by imitation of the offline-optimal planner (as Comyco, Huang et
// al., MM 2019, imitates it): it runs targetMPC, and a small network that sees what targetMPC
// sees, and targetMPC's choice, moves that choice one level down, keeps it, or moves it one
// level up, as the planner that knows the future would. Keeping targetMPC underneath makes it
// explainable (it differs from targetMPC only where the network moved a level) and safe (it
// never strays more than a level). Its TargetMPC keeps its error history across sessions. On a
// ladder other than six levels it plays targetMPC's choice.
type Learned struct {
	w      *LearnedWeights
	mpc    *TargetMPC
	f, h   []float64
	logits [Moves]float64
	// LastMPC is targetMPC's choice at the last decision (for training).
	LastMPC int
}

// NewLearned returns a Learned with weights w (nil: the carried ones).
func NewLearned(w *LearnedWeights) (*Learned, error) {
	if w == nil {
		var err error
		if w, err = DefaultLearnedWeights(); err != nil {
			return nil, err
		}
	} else if err := w.check(); err != nil {
		return nil, err
	}
	return &Learned{w: w, mpc: NewTargetMPC(TargetConfig{}), f: make([]float64, NumFeatures), h: make([]float64, len(w.W1))}, nil
}

// Choose implements Algorithm. It does not allocate.
func (l *Learned) Choose(s *State) int {
	m := l.mpc.Choose(s)
	l.LastMPC = m
	if len(s.Kbps) != learnedLevels || len(s.Throughput) == 0 {
		return m
	}
	Features(s, m, l.f)
	mv := l.w.Forward(l.f, l.h, l.logits[:])
	return min(max(m+mv-1, 0), learnedLevels-1)
}

// Forward computes the network's logits for features f into out (length Moves), using h
// (length hidden) as scratch, and returns the index of the largest valid one: 0 moves
// targetMPC's level down, 1 keeps it, 2 moves it up.
func (w *LearnedWeights) Forward(f, h, out []float64) int {
	for j, row := range w.W1 {
		a := w.B1[j]
		for i, x := range f {
			a += row[i] * x
		}
		h[j] = math.Tanh(a)
	}
	best := 1
	for q, row := range w.W2 {
		a := w.B2[q]
		for j, x := range h {
			a += row[j] * x
		}
		out[q] = a
	}
	for q := range out {
		if out[q] > out[best] {
			best = q
		}
	}
	return best
}
