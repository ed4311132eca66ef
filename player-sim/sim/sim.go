// Package sim is a chunk-level, trace-driven player simulator in virtual time: Pensieve's fixed
// test environment (Mao et al., SIGCOMM 2017, test/fixed_env.py), reproduced operation for
// operation so that its QoE figures match those of the ABR literature.
package sim

import (
	"errors"
	"fmt"
	"math"

	"edgecdn/player-sim/abr"
	"edgecdn/player-sim/qoe"
)

// Config is the simulated player and network. Zero fields take the defaults, Pensieve's.
type Config struct {
	Video        *Video  // default Envivio()
	Chunks       int     // chunks played per session; default 48
	BufferCap    float64 // seconds of buffer above which the player sleeps; default 60
	DrainStep    float64 // the sleep comes in steps of this many seconds; default 0.5
	Goodput      float64 // share of the trace's throughput that carries chunk bytes; default 0.95
	RTT          float64 // seconds added to every chunk download; default 0.08
	FirstLevel   int     // level of chunk 0, chosen before any measurement; default 1 (750 kbps)
	RebufPenalty float64 // QoE_lin weight of a second of stall; default 4.3
}

func (c *Config) setDefaults() {
	if c.Video == nil {
		c.Video = Envivio()
	}
	if c.Chunks == 0 {
		c.Chunks = 48
	}
	if c.BufferCap == 0 {
		c.BufferCap = 60
	}
	if c.DrainStep == 0 {
		c.DrainStep = 0.5
	}
	if c.Goodput == 0 {
		c.Goodput = 0.95
	}
	if c.RTT == 0 {
		c.RTT = 0.08
	}
	if c.FirstLevel == 0 {
		c.FirstLevel = 1
	}
	if c.RebufPenalty == 0 {
		c.RebufPenalty = 4.3
	}
}

// Chunk is what happened to one chunk of a session.
type Chunk struct {
	Level    int     // level downloaded
	Download float64 // seconds from request to last byte, the RTT included
	Rebuffer float64 // seconds playback stalled waiting for this chunk
	Buffer   float64 // seconds buffered after the chunk arrived and any sleep
	Sleep    float64 // seconds slept after it because the buffer was over the cap
	QoE      float64 // QoE_lin of this chunk
}

// Session is the outcome of playing the video over one trace.
type Session struct {
	Trace  string
	Chunks []Chunk
	// Score is the sum of QoE_lin over chunks 2..N (the first chunk, whose level the player
	// did not choose, is left out as in the literature).
	Score       float64
	BitrateKbps float64 // mean bitrate of chunks 2..N
	Rebuffer    float64 // total stall over chunks 2..N, seconds
}

// Simulator plays sessions. It is not safe for concurrent use; make one per goroutine.
type Simulator struct {
	cfg Config
	st  abr.State
	tp  []float64
	dt  []float64

	cells  []int32                                 // Optimal's cell index, reused
	expert func(*abr.State, optState) (int, error) // RunExpert's planner
	follow bool                                    // RunExpert plays the expert's levels
}

// New returns a Simulator for cfg, after checking the video holds cfg.Chunks chunks.
func New(cfg Config) (*Simulator, error) {
	cfg.setDefaults()
	v := cfg.Video
	if len(v.Kbps) == 0 || len(v.Sizes) != len(v.Kbps) {
		return nil, errors.New("sim: video needs one size list per level")
	}
	for q, s := range v.Sizes {
		if len(s) < cfg.Chunks {
			return nil, fmt.Errorf("sim: level %d has %d chunks, want %d", q, len(s), cfg.Chunks)
		}
	}
	if cfg.FirstLevel < 0 || cfg.FirstLevel >= len(v.Kbps) {
		return nil, fmt.Errorf("sim: first level %d out of range", cfg.FirstLevel)
	}
	return &Simulator{cfg: cfg, tp: make([]float64, 0, cfg.Chunks), dt: make([]float64, 0, cfg.Chunks)}, nil
}

// maxSteps bounds the trace samples one download or sleep may walk, so that a trace that
// delivers almost nothing ends with an error rather than hanging.
const maxSteps = 50_000_000

// ErrTooSlow is returned when a chunk would need more than maxSteps trace samples.
var ErrTooSlow = errors.New("trace too slow: a chunk needs more than 50M trace samples")

// Run plays one session over t, asking alg for every chunk after the first. Into out.Chunks
// it reuses the capacity of out's slice, so a caller that passes the same Session again does
// not allocate.
func (s *Simulator) Run(t *Trace, alg abr.Algorithm, out *Session) error {
	c := &s.cfg
	v := c.Video
	times := t.Time
	n := len(times)
	if n < 2 {
		return fmt.Errorf("sim: trace %s has %d samples, want at least 2", t.Name, n)
	}
	out.Trace = t.Name
	out.Chunks = out.Chunks[:0]
	out.Score, out.BitrateKbps, out.Rebuffer = 0, 0, 0
	s.tp, s.dt = s.tp[:0], s.dt[:0]

	// Units and operation order follow fixed_env.py: times in ms around the buffer.
	const msPerS = 1000.0
	bufferCap := c.BufferCap * msPerS
	drain := c.DrainStep * msPerS
	chunkMs := v.ChunkSeconds * msPerS
	rttMs := c.RTT * msPerS

	pos := tracePos{ptr: 1, last: times[0]}
	buffer := 0.0
	level := c.FirstLevel
	prevKbps := v.Kbps[level]
	for i := 0; i < c.Chunks; i++ {
		if level < 0 || level >= len(v.Kbps) {
			return fmt.Errorf("sim: ABR chose level %d for chunk %d, want 0..%d", level, i, len(v.Kbps)-1)
		}
		size := float64(v.Sizes[level][i])
		delay, err := download(t, &pos, size, c.Goodput)
		if err != nil {
			return fmt.Errorf("sim: trace %s chunk %d: %w", t.Name, i, err)
		}
		delay *= msPerS
		delay += rttMs
		rebuf := math.Max(delay-buffer, 0)
		buffer = math.Max(buffer-delay, 0)
		buffer += chunkMs
		sleep := 0.0
		if buffer > bufferCap {
			sleep = math.Ceil((buffer-bufferCap)/drain) * drain
			buffer -= sleep
			if err := idle(t, &pos, sleep); err != nil {
				return fmt.Errorf("sim: trace %s chunk %d sleep: %w", t.Name, i, err)
			}
		}
		kbps := v.Kbps[level]
		ch := Chunk{
			Level:    level,
			Download: delay / msPerS,
			Rebuffer: rebuf / msPerS,
			Buffer:   buffer / msPerS,
			Sleep:    sleep / msPerS,
			QoE:      qoe.Lin(kbps, prevKbps, rebuf/msPerS, c.RebufPenalty),
		}
		out.Chunks = append(out.Chunks, ch)
		if i > 0 {
			out.Score += ch.QoE
			out.BitrateKbps += float64(kbps)
			out.Rebuffer += ch.Rebuffer
		}
		prevKbps = kbps
		s.dt = append(s.dt, ch.Download)
		s.tp = append(s.tp, size/ch.Download)

		s.st = abr.State{
			Next:         i + 1,
			Chunks:       c.Chunks,
			Buffer:       ch.Buffer,
			LastLevel:    level,
			Throughput:   s.tp,
			DownloadTime: s.dt,
			Rebuffer:     ch.Rebuffer,
			Idle:         ch.Sleep,
			Sizes:        v.Sizes,
			Kbps:         v.Kbps,
			ChunkSeconds: v.ChunkSeconds,
		}
		level = alg.Choose(&s.st)
		if s.expert != nil && i+1 < c.Chunks {
			e, err := s.expert(&s.st, optState{buffer: buffer, pos: pos, level: s.st.LastLevel})
			if err != nil {
				return err
			}
			if s.follow {
				level = e
			}
		}
	}
	if c.Chunks > 1 {
		out.BitrateKbps /= float64(c.Chunks - 1)
	}
	return nil
}

// tracePos is where a session is in its trace: the sample being played and the time reached.
type tracePos struct {
	ptr  int
	last float64
}

// download walks the trace from pos until size bytes have arrived at goodput x the trace's
// rate, and returns the seconds it took (without the RTT), as fixed_env.py does.
func download(t *Trace, pos *tracePos, size, goodput float64) (float64, error) {
	times, bw := t.Time, t.Mbps
	n := len(times)
	delay, sent := 0.0, 0.0
	for steps := 0; ; steps++ {
		if steps > maxSteps {
			return 0, ErrTooSlow
		}
		tput := bw[pos.ptr] * 1e6 / 8
		dur := times[pos.ptr] - pos.last
		payload := tput * dur * goodput
		if sent+payload > size {
			frac := (size - sent) / tput / goodput
			delay += frac
			pos.last += frac
			return delay, nil
		}
		sent += payload
		delay += dur
		pos.last = times[pos.ptr]
		pos.ptr++
		if pos.ptr >= n {
			pos.ptr, pos.last = 1, 0
		}
	}
}

// idle walks the trace from pos for sleepMs milliseconds (the player sleeping with a full buffer).
func idle(t *Trace, pos *tracePos, sleepMs float64) error {
	const msPerS = 1000.0
	rest := sleepMs
	times := t.Time
	n := len(times)
	for steps := 0; ; steps++ {
		if steps > maxSteps {
			return ErrTooSlow
		}
		dur := times[pos.ptr] - pos.last
		if dur > rest/msPerS {
			pos.last += rest / msPerS
			return nil
		}
		rest -= dur * msPerS
		pos.last = times[pos.ptr]
		pos.ptr++
		if pos.ptr >= n {
			pos.ptr, pos.last = 1, 0
		}
	}
}

// RunAll plays one session per trace, in order, with the same algorithm (so that history an
// algorithm carries between sessions, as robustMPC's, follows the trace order).
func (s *Simulator) RunAll(traces []*Trace, alg abr.Algorithm) ([]Session, error) {
	out := make([]Session, len(traces))
	for i, t := range traces {
		out[i].Chunks = make([]Chunk, 0, s.cfg.Chunks)
		if err := s.Run(t, alg, &out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}
