package abr_test

import (
	"fmt"

	"edgecdn/internal/envivio"
	"edgecdn/player-sim/abr"
)

// A player after its third chunk, 12 s buffered, having measured about 2 Mbps.
func Example() {
	sizes := envivio.Sizes()
	s := &abr.State{
		Next:         3,
		Chunks:       48,
		Buffer:       12,
		LastLevel:    2,
		Throughput:   []float64{240e3, 260e3, 250e3}, // bytes per second
		DownloadTime: []float64{2.4, 2.2, 2.3},
		Sizes:        sizes[:],
		Kbps:         envivio.Kbps[:],
		ChunkSeconds: envivio.ChunkSeconds,
	}
	for _, name := range abr.Names() {
		alg, _ := abr.New(name)
		q := alg.Choose(s)
		fmt.Printf("%-10s level %d (%d kbps)\n", name, q, s.Kbps[q])
	}
	// Output:
	// bba        level 3 (1850 kbps)
	// bola       level 2 (1200 kbps)
	// dynamic    level 2 (1200 kbps)
	// learned    level 2 (1200 kbps)
	// mdp        level 2 (1200 kbps)
	// robustmpc  level 3 (1850 kbps)
	// targetmpc  level 2 (1200 kbps)
	// throughput level 2 (1200 kbps)
}
