package edge

import (
	"flag"
	"io"
	"strings"
	"testing"
	"time"

	"edgecdn/internal/cli"
	"edgecdn/internal/harness"
)

// parseFlags builds a Config as the edgecdn binary does: DefaultConfig, then the command line.
func parseFlags(t *testing.T, args ...string) Config {
	t.Helper()
	cfg := DefaultConfig()
	fs := flag.NewFlagSet("edge", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestFlagZeroMeansZero: 0 on the command line turns a feature off; it never falls back to the
// default.
func TestFlagZeroMeansZero(t *testing.T) {
	cfg := parseFlags(t, "--stale-if-error", "0", "--hot-threshold", "0", "--probe-interval", "0", "--notsent-lowat", "0", "--yield-cpu", "0")
	if err := cfg.setDefaults(); err != nil {
		t.Fatal(err)
	}
	if cfg.StaleIfError > 0 || cfg.HotThreshold > 0 || cfg.ProbeInterval > 0 || cfg.NotsentLowat > 0 || cfg.YieldCPU > 0 {
		t.Errorf("after 0 on the command line: stale-if-error %v, hot-threshold %d, probe-interval %v, notsent-lowat %d, yield-cpu %v; want all off",
			cfg.StaleIfError, cfg.HotThreshold, cfg.ProbeInterval, cfg.NotsentLowat, cfg.YieldCPU)
	}
	def := parseFlags(t)
	if def.StaleIfError != DefaultStaleIfError || def.HotThreshold != DefaultHotThreshold || def.ProbeInterval != DefaultProbeInterval || def.NotsentLowat != 16<<10 || def.YieldCPU != 20*time.Microsecond {
		t.Errorf("without flags: %v, %d, %v, %d, %v; want the defaults", def.StaleIfError, def.HotThreshold, def.ProbeInterval, def.NotsentLowat, def.YieldCPU)
	}
	set := parseFlags(t, "--stale-if-error", "1m", "--hot-threshold", "2", "--origin", "http://a:1, http://b:2", "--cache-size", "2GiB", "--notsent-lowat", "64KiB", "--yield-cpu", "1ms")
	if set.StaleIfError != time.Minute || set.HotThreshold != 2 || strings.Join(set.Origins, " ") != "http://a:1 http://b:2" || set.CacheBytes != 2<<30 || set.NotsentLowat != 64<<10 || set.YieldCPU != time.Millisecond {
		t.Errorf("set: %v, %d, %q, %d, %d, %v", set.StaleIfError, set.HotThreshold, set.Origins, set.CacheBytes, set.NotsentLowat, set.YieldCPU)
	}
	fs := flag.NewFlagSet("edge", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	bad := DefaultConfig()
	bad.RegisterFlags(fs)
	if err := fs.Parse([]string{"--notsent-lowat", "lots"}); err == nil {
		t.Error("--notsent-lowat lots: accepted")
	}
	if err := fs.Parse([]string{"--yield-cpu", "200"}); err == nil {
		t.Error("--yield-cpu 200 (no unit): accepted")
	}
}

// TestStaleIfErrorOff: with --stale-if-error 0 an expired copy is not served when the origins
// fail (it was served for the default 10 minutes).
func TestStaleIfErrorOff(t *testing.T) {
	o := newFakeOrigin(t)
	o.put("/vod/t/r/index.m3u8", &fakeObject{body: []byte("#EXTM3U\n"), cacheControl: "max-age=1"})
	cfg := parseFlags(t, "--stale-if-error", "0", "--probe-interval", "0", "--origin", o.url())
	_, base := startEdge(t, cfg)
	if r := get(t, base+"/vod/t/r/index.m3u8"); r.code != 200 {
		t.Fatalf("first: %d", r.code)
	}
	o.down.Store(true)
	harness.Eventually(t, 5*time.Second, "502 once expired with the origin down", func() bool {
		r := get(t, base+"/vod/t/r/index.m3u8")
		if strings.Contains(r.header.Get("Cache-Status"), "stale-if-error") {
			t.Fatalf("served stale with --stale-if-error 0: %s", r.header.Get("Cache-Status"))
		}
		return r.code == 502
	})
}

// TestHotThresholdOff: with --hot-threshold 0 a non-owner never keeps a copy however often it
// misses a key.
func TestHotThresholdOff(t *testing.T) {
	cfg := parseFlags(t, "--hot-threshold", "0")
	if err := cfg.setDefaults(); err != nil {
		t.Fatal(err)
	}
	h := hotTracker{window: time.Minute, threshold: cfg.HotThreshold}
	now := time.Now()
	for i := range 100 {
		if h.hit("/vod/t/r/1.ts", now) {
			t.Fatalf("kept a copy after %d misses with --hot-threshold 0", i+1)
		}
	}
	if cli.Off > 0 {
		t.Fatal("cli.Off must not be a positive value")
	}
}
