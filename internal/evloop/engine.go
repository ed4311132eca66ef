package evloop

import (
	"flag"
	"fmt"
	"runtime"
)

// The engines a server's client port can be served with.
const (
	// EngineLoop serves it with epoll event loops (Linux; elsewhere EngineGoroutines).
	EngineLoop = "loop"
	// EngineGoroutines serves each connection on a goroutine of fasthttp's.
	EngineGoroutines = "goroutines"
)

// DefaultLoops is the number of event loops by default: one per P but one (at least one), so
// that a P stays free for the rest of the process (probes, gossip, metrics, the requests and
// connections handed to fasthttp, the garbage collector). Measured with loops that blocked in
// epoll_wait (before park): on 2 cores under wrk (the balancer, 2 KB playlist, 64
// connections) two loops cost 39-40 us of CPU per request and one 30-32 us, with a p99 of
// 17-20 ms against 7-9 ms.
func DefaultLoops() int { return max(1, runtime.GOMAXPROCS(0)-1) }

// RegisterFlags registers --engine and --loops on fs, bound to engine and loops.
func RegisterFlags(fs *flag.FlagSet, engine *string, loops *int) {
	fs.Func("engine", "how the client port is served: `loop` (epoll event loops, --loops; Linux) or goroutines (a goroutine per connection) (default "+*engine+")", func(v string) error {
		switch v {
		case EngineLoop, EngineGoroutines:
			*engine = v
			return nil
		}
		return fmt.Errorf("want %s or %s", EngineLoop, EngineGoroutines)
	})
	fs.IntVar(loops, "loops", *loops, "event loops of --engine loop (0: GOMAXPROCS less one, at least one)")
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
