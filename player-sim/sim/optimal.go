package sim

import (
	"edgecdn/player-sim/abr"
	"fmt"
	"math"

	"edgecdn/player-sim/qoe"
)

// OptimalConfig sets the resolution of Optimal's dynamic programme. Zero fields take the
// defaults.
type OptimalConfig struct {
	BufferStep float64 // seconds per buffer bin; default 0.25
	// StallBins splits the session's total stall so far into bins (0, then doubling from
	// StallStep, 0.5 s by default); default 1: no split (6 bins add under 0.01% on the samples).
	StallBins int
	StallStep float64
}

// optState is a session after some chunk: its exact simulation state and how it got there.
type optState struct {
	score  float64 // QoE_lin over chunks 1..i (chunk 0 is not scored)
	buffer float64 // ms, exact
	stall  float64 // total stall over chunks 1..i, seconds
	pos    tracePos
	level  int
	parent int32 // index in the previous step's states
}

// Optimal plays t with the levels that maximise the score knowing the whole trace in advance:
// the offline-optimal bound of this environment, the best any ABR could do. It is a dynamic
// programme over chunks, the last level and the buffer (in cfg.BufferStep bins) and the total
// stall so far (in cfg.StallBins bins): for each such cell only the best-scoring session is kept,
// and it is carried with its exact buffer and trace position, so every chunk is simulated
// exactly as Run plays it. Merging sessions that differ within a cell makes it a lower bound on
// the true optimum (it is an actual sequence of levels, replayed by Run to the same score), and a
// tight one: 0.1 s cells and 8 stall bins raise the mean by 0.1% on the Oboe and Puffer samples
// (110.605 to 110.696, 48.442 to 48.503) for thirty times the work.
func (s *Simulator) Optimal(t *Trace, cfg OptimalConfig, out *Session) error {
	if cfg.BufferStep <= 0 {
		cfg.BufferStep = 0.25
	}
	if cfg.StallBins <= 0 {
		cfg.StallBins = 1
	}
	if cfg.StallStep <= 0 {
		cfg.StallStep = 0.5
	}
	c := &s.cfg
	v := c.Video
	if len(t.Time) < 2 {
		return fmt.Errorf("sim: trace %s has %d samples, want at least 2", t.Name, len(t.Time))
	}
	const msPerS = 1000.0
	bufferCap := c.BufferCap * msPerS
	drain := c.DrainStep * msPerS
	chunkMs := v.ChunkSeconds * msPerS
	rttMs := c.RTT * msPerS
	levels := len(v.Kbps)
	bufBins := int(math.Ceil((c.BufferCap+v.ChunkSeconds)/cfg.BufferStep)) + 1

	// step plays chunk i at level q from st; ok is false when the trace cannot deliver it.
	step := func(st *optState, i, q int) (optState, float64, float64, bool) {
		pos := st.pos
		delay, err := download(t, &pos, float64(v.Sizes[q][i]), c.Goodput)
		if err != nil {
			return optState{}, 0, 0, false
		}
		delay *= msPerS
		delay += rttMs
		rebuf := math.Max(delay-st.buffer, 0)
		buffer := math.Max(st.buffer-delay, 0) + chunkMs
		if buffer > bufferCap {
			sleep := math.Ceil((buffer-bufferCap)/drain) * drain
			buffer -= sleep
			if idle(t, &pos, sleep) != nil {
				return optState{}, 0, 0, false
			}
		}
		return optState{buffer: buffer, pos: pos, level: q}, delay / msPerS, rebuf / msPerS, true
	}
	stallBin := func(x float64) int {
		if x <= 0 {
			return 0
		}
		b, edge := 1, cfg.StallStep
		for b < cfg.StallBins-1 && x >= edge {
			b, edge = b+1, edge*2
		}
		return b
	}

	// Chunk 0 at the first level.
	first, _, _, ok := step(&optState{pos: tracePos{ptr: 1, last: t.Time[0]}}, 0, c.FirstLevel)
	if !ok {
		return fmt.Errorf("sim: trace %s chunk 0: %w", t.Name, ErrTooSlow)
	}
	first.parent = -1
	steps := [][]optState{{first}}
	cells := make([]int32, levels*bufBins*cfg.StallBins)
	for i := 1; i < c.Chunks; i++ {
		for k := range cells {
			cells[k] = -1
		}
		prev := steps[i-1]
		var next []optState
		for pi := range prev {
			st := &prev[pi]
			prevKbps := v.Kbps[st.level]
			for q := 0; q < levels; q++ {
				ns, _, rebuf, ok := step(st, i, q)
				if !ok {
					continue
				}
				ns.score = st.score + qoe.Lin(v.Kbps[q], prevKbps, rebuf, c.RebufPenalty)
				ns.stall = st.stall + rebuf
				ns.parent = int32(pi)
				b := min(int(ns.buffer/msPerS/cfg.BufferStep), bufBins-1)
				k := (q*bufBins+b)*cfg.StallBins + stallBin(ns.stall)
				if j := cells[k]; j < 0 {
					cells[k] = int32(len(next))
					next = append(next, ns)
				} else if ns.score > next[j].score {
					next[j] = ns
				}
			}
		}
		if len(next) == 0 {
			return fmt.Errorf("sim: trace %s chunk %d: %w", t.Name, i, ErrTooSlow)
		}
		steps = append(steps, next)
	}
	last := steps[len(steps)-1]
	best := 0
	for j := range last {
		if last[j].score > last[best].score {
			best = j
		}
	}
	// Walk back to the levels, then replay them with Run so that the session is Run's own.
	lv := make([]int, c.Chunks)
	for i, j := c.Chunks-1, best; i >= 0; i-- {
		lv[i] = steps[i][j].level
		j = int(steps[i][j].parent)
	}
	return s.Run(t, &fixedPlan{levels: lv}, out)
}

// fixedPlan is an abr.Algorithm that plays given levels.
type fixedPlan struct{ levels []int }

func (f *fixedPlan) Choose(s *abr.State) int {
	if s.Next < len(f.levels) {
		return f.levels[s.Next]
	}
	return 0
}
