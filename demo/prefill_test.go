package demo

import (
	"bytes"
	"context"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// The demo's --prefill hands every edge a plan before the players come, and the plan fetches.
func TestDemoPrefill(t *testing.T) {
	if testing.Short() {
		t.Skip("the demo takes about 20 s")
	}
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := Run(ctx, Config{Titles: 2, Duration: 16 * time.Second, Players: 4, Rate: 20, Prefill: 2, Out: &out}); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	m := regexp.MustCompile(`planned (\d+) objects, fetched (\d+), skipped (\d+)`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no fill plan in the output:\n%s", out.String())
	}
	planned, _ := strconv.Atoi(m[1])
	fetched, _ := strconv.Atoi(m[2])
	if planned == 0 || fetched != planned {
		t.Errorf("plan: %d planned, %d fetched; want all of them fetched into empty caches", planned, fetched)
	}
}
