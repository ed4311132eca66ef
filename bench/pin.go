package main

import (
	"context"
	"flag"
	"fmt"
	"os/exec"
	"runtime"
)

// pinned is set by --pin (edge-vs-peers, lb-overhead): every server under test runs on the
// same one core and wrk on another, so that each server has the same CPU budget whatever its
// thread count. Unpinned, all share both cores with wrk, and the kernel shares them out by
// runnable thread: Varnish with its hundreds of threads takes more of them than a server with
// two workers, so req/s measures who grabs the cores as much as what a request costs.
var pinned bool

// serverCPU and loadCPU are the cores of --pin: the servers' and wrk's.
const serverCPU, loadCPU = "0", "1"

func addPinFlag(fs *flag.FlagSet) *bool {
	return fs.Bool("pin", false, "run every server on CPU "+serverCPU+" (taskset) with one worker/thread/P each, wrk on CPU "+loadCPU)
}

// setPinned turns --pin on after checking that it can be.
func setPinned(on bool) error {
	if !on {
		return nil
	}
	if runtime.NumCPU() < 2 {
		return fmt.Errorf("--pin needs 2 CPUs, this machine has %d", runtime.NumCPU())
	}
	if err := needTools("taskset"); err != nil {
		return err
	}
	pinned = true
	return nil
}

// serverCommand is exec.CommandContext, on the servers' core under --pin.
func serverCommand(ctx context.Context, name string, args ...string) *exec.Cmd {
	return pinnedCommand(ctx, serverCPU, name, args...)
}

// loadCommand is exec.CommandContext, on wrk's core under --pin.
func loadCommand(ctx context.Context, name string, args ...string) *exec.Cmd {
	return pinnedCommand(ctx, loadCPU, name, args...)
}

func pinnedCommand(ctx context.Context, cpu, name string, args ...string) *exec.Cmd {
	if !pinned {
		return exec.CommandContext(ctx, name, args...)
	}
	// taskset execs the command: the process (its pid, its CPU time) is the command's own.
	return exec.CommandContext(ctx, "taskset", append([]string{"-c", cpu, name}, args...)...)
}

// serverThreads is how many workers (nginx), threads (HAProxy) or thread pools (Varnish) a
// server gets: one per core it may run on. Go's runtime sets GOMAXPROCS from the CPU affinity
// itself.
func serverThreads() int {
	if pinned {
		return 1
	}
	return runtime.NumCPU()
}

// pinArg is " --pin" under --pin, for a report's command line.
func pinArg() string {
	if pinned {
		return " --pin"
	}
	return ""
}

// pinNote says how the cores were given out, for a report's header.
func pinNote() string {
	if pinned {
		return fmt.Sprintf("`--pin`: every server on CPU %s (taskset; one nginx worker, one HAProxy thread, one Varnish thread pool, Go's GOMAXPROCS 1 from the affinity), wrk on CPU %s.", serverCPU, loadCPU)
	}
	return fmt.Sprintf("Servers and wrk share all %d cores (no pinning); nginx, HAProxy and Varnish get one worker, thread or thread pool per core, Go GOMAXPROCS = %d.", runtime.NumCPU(), runtime.NumCPU())
}
