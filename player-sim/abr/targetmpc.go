package abr

import "math"

// TargetConfig configures TargetMPC. Zero fields take the defaults, tuned on the Oboe traces
// and checked on the Puffer 2022-02-18 traces (player-sim/README.md).
type TargetConfig struct {
	MPC MPCConfig // the robustMPC underneath; its Horizon defaults to 7 here, ExactNext is forced
	// TargetBuffer is the buffer, in seconds, a plan should leave at its end; default 6.
	TargetBuffer float64
	// BufferWeight is what a plan pays, in QoE_lin units, per second it ends below
	// TargetBuffer; default 0.6.
	BufferWeight float64
}

// TargetMPC is the default ABR: robustMPC (same throughput prediction, same error history
// carried across sessions, same exhaustive plan search and tie rule) with three changes that
// each add QoE_lin in the reference simulator:
//
//   - it plans with the sizes of the chunks it will download (the reference looks one chunk
//     ahead of them);
//   - it plans 7 chunks (28 s) ahead instead of 5, which the pruned search keeps cheap;
//   - a plan that ends with less than TargetBuffer seconds buffered pays BufferWeight per
//     missing second, so that the last chunks of the plan do not spend the buffer the next
//     plan will need when throughput falls (robustMPC plans as if the video ended at the horizon).
type TargetMPC struct {
	mpc *RobustMPC
}

// NewTargetMPC returns a TargetMPC with cfg's zero fields set to the defaults.
func NewTargetMPC(cfg TargetConfig) *TargetMPC {
	if cfg.MPC.Horizon == 0 {
		cfg.MPC.Horizon = 7
	}
	cfg.MPC.ExactNext = true
	if cfg.TargetBuffer == 0 {
		cfg.TargetBuffer = 6
	}
	if cfg.BufferWeight == 0 {
		cfg.BufferWeight = 0.6
	}
	m := NewRobustMPC(cfg.MPC)
	target, weight := cfg.TargetBuffer, cfg.BufferWeight
	m.search.terminal = func(buf float64) float64 { return -weight * math.Max(0, target-buf) }
	return &TargetMPC{mpc: m}
}

// Choose implements Algorithm.
func (t *TargetMPC) Choose(s *State) int { return t.mpc.Choose(s) }
