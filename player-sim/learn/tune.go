package learn

import (
	"fmt"
	"math"
	"runtime"

	"edgecdn/player-sim/abr"
	"edgecdn/player-sim/sim"
	"edgecdn/player-sim/simcmd"
)

// TuneGrid returns the targetMPC configurations Tune chooses from: horizon 7 or 9 chunks,
// buffer target 6 or 10 s, weight 0.6 or 1.2 per missing second, a plan's switches weighed 1
// or 2 (QoE_lin weighs them 1), and the far chunks of the plan predicted from the last 5
// throughputs or, from the fourth chunk on, from the last 20. The default targetMPC is the first.
func TuneGrid() []abr.TargetConfig {
	var out []abr.TargetConfig
	for _, long := range []int{0, 20} {
		for _, sp := range []float64{1, 2} {
			for _, w := range []float64{0.6, 1.2} {
				for _, tb := range []float64{6, 10} {
					for _, h := range []int{7, 9} {
						c := abr.TargetConfig{MPC: abr.MPCConfig{Horizon: h, SmoothPenalty: sp}, TargetBuffer: tb, BufferWeight: w}
						if long > 0 {
							c.MPC.LongHistory, c.MPC.LongFrom = long, 3
						}
						out = append(out, c)
					}
				}
			}
		}
	}
	return out
}

// DescribeTarget names a TuneGrid configuration.
func DescribeTarget(c abr.TargetConfig) string {
	long := "off"
	if c.MPC.LongHistory > 0 {
		long = fmt.Sprintf("%d from chunk %d", c.MPC.LongHistory, c.MPC.LongFrom+1)
	}
	return fmt.Sprintf("horizon %d, target %.0f s, weight %.1f, switch weight %.0f, long history %s",
		c.MPC.Horizon, c.TargetBuffer, c.BufferWeight, c.MPC.SmoothPenalty, long)
}

// Tune returns the configuration of TuneGrid that gains the most over robustMPC, and that
// gain: the difference of mean scores as a percentage of the mean offline-optimal score,
// averaged over the groups of traces (each group one trace set, scored in order with one
// instance). The optimum as the yardstick keeps a set whose robustMPC mean is near 0 (FCC's
// few traces with minutes of stall) from weighing more than the others.
func Tune(groups [][]*sim.Trace) (abr.TargetConfig, float64, error) {
	robust := make([]float64, len(groups))
	opt := make([]float64, len(groups))
	for g, ts := range groups {
		robust[g] = Mean(ts, abr.NewRobustMPC(abr.MPCConfig{}))
		o, err := simcmd.Optimal(sim.Config{}, ts, runtime.GOMAXPROCS(0))
		if err != nil {
			return abr.TargetConfig{}, 0, err
		}
		opt[g] = math.Max(math.Abs(o.QoELinMean), 1)
	}
	var best abr.TargetConfig
	bestGain := math.Inf(-1)
	for _, c := range TuneGrid() {
		gain := 0.0
		for g, ts := range groups {
			gain += (Mean(ts, abr.NewTargetMPC(c)) - robust[g]) / opt[g]
		}
		gain /= float64(len(groups))
		if gain > bestGain {
			best, bestGain = c, gain
		}
	}
	return best, 100 * bestGain, nil
}
