package loadbalancer

import (
	"flag"
	"testing"
)

// TestProbeIntervalZero: --probe-interval 0 turns the active probe off, with no translation by
// the caller; without the flag the probe runs every DefaultProbeInterval.
func TestProbeIntervalZero(t *testing.T) {
	for _, tt := range []struct {
		args  []string
		probe bool
	}{{nil, true}, {[]string{"--probe-interval", "0"}, false}, {[]string{"--probe-interval", "-1s"}, false}, {[]string{"--probe-interval", "3s"}, true}} {
		cfg := DefaultConfig()
		fs := flag.NewFlagSet("lb", flag.ContinueOnError)
		cfg.RegisterFlags(fs)
		if err := fs.Parse(tt.args); err != nil {
			t.Fatal(err)
		}
		if err := cfg.setDefaults(); err != nil {
			t.Fatal(err)
		}
		if got := cfg.ProbeInterval > 0; got != tt.probe {
			t.Errorf("%q: probe interval %v; want probing %v", tt.args, cfg.ProbeInterval, tt.probe)
		}
	}
}
