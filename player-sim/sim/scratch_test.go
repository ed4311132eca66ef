package sim

import (
	"fmt"
	"os"
	"testing"
	"time"

	"edgecdn/player-sim/abr"
	"edgecdn/player-sim/qoe"
)

func mean(tr []*Trace, alg abr.Algorithm) float64 {
	s, _ := New(Config{})
	ss, err := s.RunAll(tr, alg)
	if err != nil {
		panic(err)
	}
	var sc []float64
	for _, x := range ss {
		sc = append(sc, x.Score)
	}
	return qoe.Summarize(sc).Mean
}

func TestScratch(t *testing.T) {
	if os.Getenv("SCRATCH") == "" {
		t.Skip()
	}
	o, _ := LoadTraces("/work/shared/traces/oboe")
	p, _ := LoadTraces("/work/shared/traces/puffer-220218")
	for _, n := range abr.Names() {
		a, _ := abr.New(n)
		b, _ := abr.New(n)
		fmt.Printf("%-12s %8.3f %8.3f\n", n, mean(o, a), mean(p, b))
	}
	t0 := time.Now()
	for _, h := range []int{6, 7} {
		for _, ew := range []float64{1, 1.25, 1.5} {
			for _, tb := range []float64{0, 10, 16, 20} {
				for _, bw := range []float64{0.2, 0.4} {
					if tb == 0 && bw > 0.2 {
						continue
					}
					cfg := abr.HybridConfig{Horizon: h, ErrorWeight: ew, CarryErrors: true, TargetBuffer: tb, BufferWeight: bw}
					if tb == 0 {
						cfg.BufferWeight = 0
					}
					fmt.Printf("h=%d ew=%.2f tb=%v bw=%v  %8.3f %8.3f\n", h, ew, tb, cfg.BufferWeight, mean(o, abr.NewHybridMPC(cfg)), mean(p, abr.NewHybridMPC(cfg)))
				}
			}
		}
	}
	fmt.Println(time.Since(t0))
}
