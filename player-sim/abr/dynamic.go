package abr

// DynamicConfig configures the DYNAMIC strategy. Zero fields take the defaults.
type DynamicConfig struct {
	// SwitchOn is the buffer, in seconds, above which BOLA takes over; default 10.
	SwitchOn float64
	// SwitchOff is the buffer below which the throughput rule takes back; default SwitchOn/2
	// (dash.js: stableBufferTime and half of it).
	SwitchOff float64
	BOLA      BOLAConfig // the BOLA half, and its Safety and Window for the throughput rule
}

// Dynamic is dash.js's DYNAMIC ABR strategy (the default of dash.js since v3): dash.js's
// ThroughputRule (the highest level under Safety x the mean of the last Window throughput
// samples) while the buffer is low, BOLA-E once the buffer passes SwitchOn, back to the throughput
// rule when it falls below SwitchOff (hysteresis, so that the rules do not flap). BOLA's state
// follows every decision, whichever rule answers. Per-session state: which rule is on, BOLA's.
type Dynamic struct {
	cfg     DynamicConfig
	bola    *BOLA
	useBOLA bool
	last    int
}

// NewDynamic returns a Dynamic with cfg's zero fields set to the defaults.
func NewDynamic(cfg DynamicConfig) *Dynamic {
	if cfg.SwitchOn == 0 {
		cfg.SwitchOn = 10
	}
	if cfg.SwitchOff == 0 {
		cfg.SwitchOff = cfg.SwitchOn / 2
	}
	cfg.BOLA.setDefaults()
	return &Dynamic{cfg: cfg, bola: NewBOLA(cfg.BOLA)}
}

// Choose implements Algorithm.
func (d *Dynamic) Choose(s *State) int {
	if s.Next <= d.last {
		d.useBOLA = false
	}
	d.last = s.Next
	if d.useBOLA {
		d.useBOLA = s.Buffer > d.cfg.SwitchOff
	} else {
		d.useBOLA = s.Buffer > d.cfg.SwitchOn
	}
	bq := d.bola.Choose(s)
	if d.useBOLA || len(s.Throughput) == 0 {
		return bq
	}
	return highestBelow(s.Kbps, d.cfg.BOLA.Safety*8*meanLast(s.Throughput, d.cfg.BOLA.Window))
}
