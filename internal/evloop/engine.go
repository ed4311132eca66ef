package evloop

import (
	"flag"
	"fmt"
	"runtime"
	"time"
)

// The engines a server's client port can be served with.
const (
	// EngineLoop serves it with epoll event loops (Linux; elsewhere EngineGoroutines).
	EngineLoop = "loop"
	// EngineGoroutines serves each connection on a goroutine of fasthttp's.
	EngineGoroutines = "goroutines"
)

// DefaultLoops is the number of event loops by default: one per P, as nginx's worker_processes
// auto and HAProxy's nbthread give one worker per core. The rest of the process (probes,
// gossip, metrics, the requests and connections handed to fasthttp, the garbage collector)
// still gets a P: a busy loop yields its P once it has run Yield without parking
// (runtime.Gosched), and an idle one parks in Go's poller. Measured on 2 cores under wrk beside nginx (the edge, 2 KB
// playlist, `go run ./bench edge-vs-peers --duration 5s --runs 3`, two runs): one loop (one
// per P but one, the default before) served 0.79-0.96 of nginx's req/s, using 0.66-0.83 of a
// core while nginx's two workers used 1.03-1.06; two loops served 1.10-1.16 of it.
func DefaultLoops() int { return max(1, runtime.GOMAXPROCS(0)) }

// DefaultYieldCPU is the Engine.YieldCPU of the edge's and the balancer's loops: a busy loop
// gives its core away (sched_yield) after about every round of events. Measured on 2 cores
// under wrk beside nginx and Varnish (`go run ./bench edge-vs-peers --baseline` with a wrapper
// setting EDGECDN_YIELD_CPU, 2026-12-03): 50 us served more requests than 200 us at a lower
// p99 on all 6 rows; in a second run 20 us more than 50 us on 5 rows, at a lower p99 on 4 (2 KB
// at 64 connections: 200 us 92049 req/s, p99 3.73 ms, 50 us 96722, 1.81; second run 50 us
// 94763, 2.74, 20 us 101885, 1.38). Results: bench/results/2026-12-03/edge-vs-peers-yield*.
const DefaultYieldCPU = 20 * time.Microsecond

// RegisterFlags registers --engine and --loops on fs, bound to engine and loops; zero says
// what 0, the default, means.
func RegisterFlags(fs *flag.FlagSet, engine *string, loops *int, zero string) {
	fs.Func("engine", "how the client port is served: `loop` (epoll event loops, --loops; Linux) or goroutines (a goroutine per connection) (default "+*engine+")", func(v string) error {
		switch v {
		case EngineLoop, EngineGoroutines:
			*engine = v
			return nil
		}
		return fmt.Errorf("want %s or %s", EngineLoop, EngineGoroutines)
	})
	fs.IntVar(loops, "loops", *loops, "event loops of --engine loop (0: "+zero+")")
}

// Check fills in the default engine and checks engine and loops; component prefixes the error.
func Check(component string, engine *string, loops int) error {
	switch *engine {
	case "":
		*engine = EngineLoop
	case EngineLoop, EngineGoroutines:
	default:
		return fmt.Errorf("%s: engine %q: want %s or %s", component, *engine, EngineLoop, EngineGoroutines)
	}
	if loops < 0 {
		return fmt.Errorf("%s: loops %d: want 0 (the default) or more", component, loops)
	}
	return nil
}
