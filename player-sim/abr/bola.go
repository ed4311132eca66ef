package abr

import "math"

// BOLAConfig configures BOLA-E. Zero fields take dash.js's defaults.
type BOLAConfig struct {
	StableBuffer float64 // dash.js stableBufferTime, seconds; default 12
	Safety       float64 // dash.js bandwidthSafetyFactor; default 0.9
	Window       int     // throughput samples averaged (dash.js sliding window for VoD); default 4
}

func (c *BOLAConfig) setDefaults() {
	if c.StableBuffer == 0 {
		c.StableBuffer = 12
	}
	if c.Safety == 0 {
		c.Safety = 0.9
	}
	if c.Window == 0 {
		c.Window = 4
	}
}

// dash.js BolaRule constants.
const (
	bolaMinBuffer         = 10.0 // MINIMUM_BUFFER_S
	bolaMinBufferPerLevel = 2.0  // MINIMUM_BUFFER_PER_BITRATE_LEVEL_S
)

// BOLA is BOLA-E (Spiteri et al., "From theory to practice: improving bitrate adaptation in the
// DASH reference player", MMSys 2018) as dash.js's BolaRule implements it:
//
//   - utilities u_i = ln(bitrate_i / bitrate_0) + 1; with buffer target
//     T = max(StableBuffer, 10 + 2 x levels) s, gp = (u_max - 1) / (T/10 - 1) and Vp = 10/gp;
//     the level maximises (Vp (u_i + gp) - buffer') / bitrate_i, where buffer' is the buffer
//     plus a placeholder buffer;
//   - startup: the throughput level (Safety x the mean of the last Window measurements) until
//     the buffer holds a chunk, setting the placeholder so that BOLA would pick that level;
//   - steady: the placeholder grows with the time the player idled with a full buffer, drops
//     to 0 after a stall, and is spent before any pause BOLA asks for; BOLA-O: a switch up is
//     capped at max(last level, throughput level).
//
// dash.js also delays the next request when the buffer is over the target of the chosen level;
// the virtual-time simulator downloads back to back up to its 60 s cap, as the reference
// environment does, so that pause is not taken. Per-session state: phase, placeholder, last level.
type BOLA struct {
	cfg         BOLAConfig
	kbps        []int
	utility     []float64
	gp, vp      float64
	steady      bool
	placeholder float64
	lastLevel   int
	lastNext    int
}

// NewBOLA returns a BOLA with cfg's zero fields set to the defaults.
func NewBOLA(cfg BOLAConfig) *BOLA {
	cfg.setDefaults()
	return &BOLA{cfg: cfg}
}

// setup computes utilities and parameters for the ladder (once; the ladder does not change).
func (b *BOLA) setup(kbps []int) {
	if len(b.kbps) == len(kbps) {
		return
	}
	b.kbps = kbps
	b.utility = make([]float64, len(kbps))
	for i, k := range kbps {
		b.utility[i] = math.Log(float64(k)/float64(kbps[0])) + 1
	}
	target := math.Max(b.cfg.StableBuffer, bolaMinBuffer+bolaMinBufferPerLevel*float64(len(kbps)))
	b.gp = (b.utility[len(kbps)-1] - 1) / (target/bolaMinBuffer - 1)
	b.vp = bolaMinBuffer / b.gp
}

// Choose implements Algorithm.
func (b *BOLA) Choose(s *State) int {
	b.setup(s.Kbps)
	if s.Next <= b.lastNext { // a new session
		b.steady, b.placeholder = false, 0
	}
	b.lastNext = s.Next
	if len(s.Throughput) == 0 {
		return 0
	}
	tq := highestBelow(s.Kbps, b.cfg.Safety*8*meanLast(s.Throughput, b.cfg.Window))
	if !b.steady {
		q := tq
		b.placeholder = math.Max(0, b.minBuffer(q)-s.Buffer)
		b.lastLevel = q
		if s.Buffer >= s.ChunkSeconds {
			b.steady = true
		}
		return q
	}
	if s.Rebuffer > 0 {
		b.placeholder = 0
	}
	b.placeholder += s.Idle
	q := b.fromBuffer(s.Buffer + b.placeholder)
	if q > b.lastLevel && q > tq {
		q = max(tq, b.lastLevel)
	}
	delay := math.Max(0, s.Buffer+b.placeholder-b.maxBuffer(q))
	if delay <= b.placeholder {
		b.placeholder -= delay
	} else {
		b.placeholder = 0
	}
	b.lastLevel = q
	return q
}

// fromBuffer is dash.js getQualityFromBufferLevel: the level of highest score, the higher on ties.
func (b *BOLA) fromBuffer(buf float64) int {
	q, best := 0, math.Inf(-1)
	for i, k := range b.kbps {
		if sc := (b.vp*(b.utility[i]+b.gp) - buf) / float64(k); sc >= best {
			q, best = i, sc
		}
	}
	return q
}

// minBuffer is dash.js minBufferLevelForQuality: the buffer above which BOLA prefers q to
// every lower level.
func (b *BOLA) minBuffer(q int) float64 {
	qb, qu := float64(b.kbps[q]), b.utility[q]
	m := 0.0
	for i := q - 1; i >= 0; i-- {
		if b.utility[i] < qu {
			ib, iu := float64(b.kbps[i]), b.utility[i]
			m = math.Max(m, b.vp*(b.gp+(qb*iu-ib*qu)/(qb-ib)))
		}
	}
	return m
}

// maxBuffer is dash.js maxBufferLevelForQuality.
func (b *BOLA) maxBuffer(q int) float64 { return b.vp * (b.utility[q] + b.gp) }

// meanLast returns the arithmetic mean of the last k values of v.
func meanLast(v []float64, k int) float64 {
	k = min(k, len(v))
	sum := 0.0
	for _, x := range v[len(v)-k:] {
		sum += x
	}
	return sum / float64(k)
}
