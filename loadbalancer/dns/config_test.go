package dns

import (
	"flag"
	"testing"
	"time"
)

// TestFlags: every Config field the README lists as a flag is one, bound to the field.
func TestFlags(t *testing.T) {
	cfg := DefaultConfig()
	fs := flag.NewFlagSet("dns", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	err := fs.Parse([]string{"--domain", "cdn.example", "--negative-ttl", "1m", "--max-udp-size", "1400", "--ns", "ns.cdn.example",
		"--hostmaster", "root.cdn.example", "--ns-addr", "127.0.0.53", "--zone-map", "10.1.0.0/16=zone-a", "--ttl", "7s", "--max-answers", "3"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Domain != "cdn.example" || cfg.NegativeTTL != time.Minute || cfg.MaxUDPSize != 1400 || cfg.NS != "ns.cdn.example" ||
		cfg.Hostmaster != "root.cdn.example" || cfg.NSAddr.String() != "127.0.0.53" || len(cfg.ZoneMap) != 1 || cfg.TTL != 7*time.Second || cfg.MaxAnswers != 3 {
		t.Errorf("parsed %+v", cfg)
	}
	if err := fs.Parse([]string{"--ns-addr", "not-an-address"}); err == nil {
		t.Error("a bad --ns-addr was accepted")
	}
}
