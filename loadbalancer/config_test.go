package loadbalancer

import (
	"flag"
	"testing"
	"time"

	"edgecdn/internal/evloop"
)

// TestProbeIntervalZero: --probe-interval 0 turns the active probe off, with no translation by
// the caller; without the flag the probe runs every DefaultProbeInterval.
func TestProbeIntervalZero(t *testing.T) {
	for _, tt := range []struct {
		args  []string
		probe bool
	}{{nil, true}, {[]string{"--probe-interval", "0"}, false}, {[]string{"--probe-interval", "-1s"}, false}, {[]string{"--probe-interval", "3s"}, true}} {
		cfg := parseConfig(t, tt.args...)
		if got := cfg.ProbeInterval > 0; got != tt.probe {
			t.Errorf("%q: probe interval %v; want probing %v", tt.args, cfg.ProbeInterval, tt.probe)
		}
	}
}

// TestNotsentLowatFlag: client connections get 16 KiB by default, --notsent-lowat sets another
// size, and 0 leaves the kernel's (Off), never the default.
func TestNotsentLowatFlag(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want int64
	}{{nil, 16 << 10}, {[]string{"--notsent-lowat", "0"}, -1}, {[]string{"--notsent-lowat", "4KiB"}, 4 << 10}} {
		cfg := parseConfig(t, tt.args...)
		if cfg.NotsentLowat != tt.want {
			t.Errorf("%q: notsent lowat %d, want %d", tt.args, cfg.NotsentLowat, tt.want)
		}
	}
}

// TestYieldCPUFlag: the balancer's loop does not give its core away unless told to.
func TestYieldCPUFlag(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want time.Duration
	}{{nil, evloop.DefaultYieldCPU}, {[]string{"--yield-cpu", "0"}, -1}, {[]string{"--yield-cpu", "300us"}, 300 * time.Microsecond}} {
		if cfg := parseConfig(t, tt.args...); cfg.YieldCPU != tt.want {
			t.Errorf("%q: yield-cpu %v, want %v", tt.args, cfg.YieldCPU, tt.want)
		}
	}
}

// parseConfig builds a Config as the edgecdn binary does: DefaultConfig, the command line, then
// the defaults filled in.
func parseConfig(t *testing.T, args ...string) Config {
	t.Helper()
	cfg := DefaultConfig()
	fs := flag.NewFlagSet("lb", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	if err := cfg.setDefaults(); err != nil {
		t.Fatal(err)
	}
	return cfg
}
