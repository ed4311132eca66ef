package abr

import "math"

// ThroughputConfig configures the throughput rule. Zero fields take the defaults, hls.js's for
// video on demand (abrEwmaFastVoD, abrEwmaSlowVoD) with the safety factor of the brief.
type ThroughputConfig struct {
	FastHalfLife float64 // seconds of download time that halve a sample's weight; default 3
	SlowHalfLife float64 // likewise for the slow average; default 9
	Safety       float64 // share of the estimate the chosen bitrate may use; default 0.9
}

// Throughput is the throughput rule of hls.js (EwmaBandWidthEstimator): two exponentially
// weighted moving averages of the measured throughput, each sample weighted by its download time
// in seconds, with half-lives FastHalfLife and SlowHalfLife; the estimate is the smaller of the
// two (quick to fall, slow to rise) and the level is the highest whose bitrate is at most
// Safety x the estimate. Per-session state: the two averages.
type Throughput struct {
	cfg        ThroughputConfig
	fast, slow ewma
	seen       int // samples of this session already folded in
	lastNext   int
}

// NewThroughput returns a Throughput with cfg's zero fields set to the defaults.
func NewThroughput(cfg ThroughputConfig) *Throughput {
	if cfg.FastHalfLife == 0 {
		cfg.FastHalfLife = 3
	}
	if cfg.SlowHalfLife == 0 {
		cfg.SlowHalfLife = 9
	}
	if cfg.Safety == 0 {
		cfg.Safety = 0.9
	}
	return &Throughput{cfg: cfg}
}

// Choose implements Algorithm.
func (t *Throughput) Choose(s *State) int {
	est, ok := t.estimate(s)
	if !ok {
		return 0
	}
	return highestBelow(s.Kbps, t.cfg.Safety*est)
}

// estimate folds the session's new samples in and returns the estimate in bits per second.
func (t *Throughput) estimate(s *State) (float64, bool) {
	if s.Next <= t.lastNext || len(s.Throughput) < t.seen { // a new session
		t.seen = 0
	}
	t.lastNext = s.Next
	if t.seen == 0 {
		t.fast = ewma{alpha: math.Exp(math.Log(0.5) / t.cfg.FastHalfLife)}
		t.slow = ewma{alpha: math.Exp(math.Log(0.5) / t.cfg.SlowHalfLife)}
	}
	for ; t.seen < len(s.Throughput); t.seen++ {
		bps := 8 * s.Throughput[t.seen]
		w := s.DownloadTime[t.seen]
		t.fast.sample(w, bps)
		t.slow.sample(w, bps)
	}
	if t.seen == 0 {
		return 0, false
	}
	return min(t.fast.get(), t.slow.get()), true
}

// ewma is hls.js's EWMA: weights decay with the weight (seconds) of later samples, and the
// estimate is corrected for the zero it starts from.
type ewma struct {
	alpha, est, total float64
}

func (e *ewma) sample(weight, v float64) {
	a := math.Pow(e.alpha, weight)
	e.est = v*(1-a) + a*e.est
	e.total += weight
}

func (e *ewma) get() float64 {
	z := 1 - math.Pow(e.alpha, e.total)
	if z == 0 {
		return e.est
	}
	return e.est / z
}
