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
	parent int32   // index in the previous step's states
	rebuf  float64 // the last chunk's stall, seconds
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
	if len(t.Time) < 2 {
		return fmt.Errorf("sim: trace %s has %d samples, want at least 2", t.Name, len(t.Time))
	}
	c := &s.cfg
	// Chunk 0 at the first level.
	first, ok := s.optStep(t, &optState{pos: tracePos{ptr: 1, last: t.Time[0]}}, 0, c.FirstLevel)
	if !ok {
		return fmt.Errorf("sim: trace %s chunk 0: %w", t.Name, ErrTooSlow)
	}
	lv, _, err := s.plan(t, first, 1, c.Chunks, cfg)
	if err != nil {
		return err
	}
	// Replay the levels with Run so that the session is Run's own.
	return s.Run(t, &fixedPlan{levels: append([]int{c.FirstLevel}, lv...)}, out)
}

// optStep plays chunk i at level q from st, as Run does; ok is false when the trace cannot
// deliver it. The returned state's rebuf holds the chunk's stall in seconds.
func (s *Simulator) optStep(t *Trace, st *optState, i, q int) (optState, bool) {
	const msPerS = 1000.0
	c := &s.cfg
	v := c.Video
	pos := st.pos
	delay, err := download(t, &pos, float64(v.Sizes[q][i]), c.Goodput)
	if err != nil {
		return optState{}, false
	}
	delay *= msPerS
	delay += c.RTT * msPerS
	rebuf := math.Max(delay-st.buffer, 0)
	buffer := math.Max(st.buffer-delay, 0) + v.ChunkSeconds*msPerS
	if bufferCap := c.BufferCap * msPerS; buffer > bufferCap {
		drain := c.DrainStep * msPerS
		sleep := math.Ceil((buffer-bufferCap)/drain) * drain
		buffer -= sleep
		if idle(t, &pos, sleep) != nil {
			return optState{}, false
		}
	}
	return optState{buffer: buffer, pos: pos, level: q, rebuf: rebuf / msPerS}, true
}

// plan returns the best levels of chunks from..to-1 from start (the state after chunk from-1),
// knowing the trace, and their QoE_lin: the dynamic programme of Optimal.
func (s *Simulator) plan(t *Trace, start optState, from, to int, cfg OptimalConfig) ([]int, float64, error) {
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
	const msPerS = 1000.0
	levels := len(v.Kbps)
	bufBins := int(math.Ceil((c.BufferCap+v.ChunkSeconds)/cfg.BufferStep)) + 1
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
	start.parent, start.score, start.stall = -1, 0, 0
	steps := [][]optState{{start}}
	if len(s.cells) < levels*bufBins*cfg.StallBins {
		s.cells = make([]int32, levels*bufBins*cfg.StallBins)
	}
	cells := s.cells[:levels*bufBins*cfg.StallBins]
	for i := from; i < to; i++ {
		for k := range cells {
			cells[k] = -1
		}
		prev := steps[len(steps)-1]
		var next []optState
		for pi := range prev {
			st := &prev[pi]
			prevKbps := v.Kbps[st.level]
			for q := 0; q < levels; q++ {
				ns, ok := s.optStep(t, st, i, q)
				if !ok {
					continue
				}
				ns.score = st.score + qoe.Lin(v.Kbps[q], prevKbps, ns.rebuf, c.RebufPenalty)
				ns.stall = st.stall + ns.rebuf
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
			return nil, 0, fmt.Errorf("sim: trace %s chunk %d: %w", t.Name, i, ErrTooSlow)
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
	lv := make([]int, to-from)
	for k, j := len(steps)-1, best; k > 0; k-- {
		lv[k-1] = steps[k][j].level
		j = int(steps[k][j].parent)
	}
	return lv, last[best].score, nil
}

// ExpertFunc is called by RunExpert before each decision with the state the algorithm sees,
// the level the offline-optimal plan from that exact point would take, and q[level]: the best
// QoE_lin over the planner's horizon after taking that level (-Inf when the trace cannot
// deliver it).
type ExpertFunc func(st *abr.State, expert int, q []float64)

// RunExpert plays t with alg as Run does, and before every decision asks the offline-optimal
// planner (Optimal's dynamic programme, knowing the rest of the trace, over the next horizon
// chunks; 0: to the end) what every level is worth and which it would take, and calls label:
// the expert of imitation learning (DAgger, as in Comyco). With follow set, the session plays
// the expert's level instead of alg's (alg is still asked, so its history stays that of a real
// session).
func (s *Simulator) RunExpert(t *Trace, alg abr.Algorithm, out *Session, horizon int, cfg OptimalConfig, follow bool, label ExpertFunc) error {
	v := s.cfg.Video
	q := make([]float64, len(v.Kbps))
	s.expert = func(st *abr.State, cur optState) (int, error) {
		to := s.cfg.Chunks
		if horizon > 0 {
			to = min(to, st.Next+horizon)
		}
		best := 0
		for a := range q {
			q[a] = math.Inf(-1)
			child, ok := s.optStep(t, &cur, st.Next, a)
			if !ok {
				continue
			}
			q[a] = qoe.Lin(v.Kbps[a], v.Kbps[cur.level], child.rebuf, s.cfg.RebufPenalty)
			if st.Next+1 < to {
				_, rest, err := s.plan(t, child, st.Next+1, to, cfg)
				if err != nil {
					q[a] = math.Inf(-1)
					continue
				}
				q[a] += rest
			}
			if q[a] > q[best] {
				best = a
			}
		}
		label(st, best, q)
		return best, nil
	}
	s.follow = follow
	defer func() { s.expert = nil }()
	return s.Run(t, alg, out)
}

// fixedPlan is an abr.Algorithm that plays given levels.
type fixedPlan struct{ levels []int }

func (f *fixedPlan) Choose(s *abr.State) int {
	if s.Next < len(f.levels) {
		return f.levels[s.Next]
	}
	return 0
}
