package sim_test

import (
	"fmt"
	"strings"

	"edgecdn/player-sim/abr"
	"edgecdn/player-sim/sim"
)

// Play the EnvivioDash3 video over a link that alternates 1 s at 6 Mbps and 1 s at 1 Mbps,
// with buffer-based adaptation.
func ExampleSimulator_Run() {
	trace, err := sim.ParseTrace("square", strings.NewReader("0 6\n1 6\n2 1\n"))
	if err != nil {
		panic(err)
	}
	s, err := sim.New(sim.Config{}) // Pensieve's environment and the embedded video
	if err != nil {
		panic(err)
	}
	var out sim.Session
	if err := s.Run(trace, abr.NewBBA(abr.BBAConfig{}), &out); err != nil {
		panic(err)
	}
	fmt.Printf("QoE_lin %.3f, %.0f kbps, %.3f s stalled\n", out.Score, out.BitrateKbps, out.Rebuffer)
	// Output:
	// QoE_lin 108.700, 3086 kbps, 0.000 s stalled
}
