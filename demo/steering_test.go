package demo

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"edgecdn/origin/packager"
	"edgecdn/player-sim/player"
)

// TestLonePlayerStays measures how often content steering moves one player between zones on
// an idle CDN: three healthy zones, nothing else playing, so no move can help it, and every
// pathway change is a needless one (a cold cache in another zone, a new connection). The
// steering manifest's TTL is 1 s, ten times the default rate of reloads, so that a short run
// sees many decisions. It logs the figure:
//
//	go test -run TestLonePlayerStays -v ./demo
//
// EDGECDN_LONE_SECONDS sets the length of the run (default 20 s of media).
func TestLonePlayerStays(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the whole CDN and plays in real time")
	}
	seconds := 20
	if s := os.Getenv("EDGECDN_LONE_SECONDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 5 || n > 600 {
			t.Fatalf("EDGECDN_LONE_SECONDS=%q: want 5 to 600", s)
		}
		seconds = n
	}
	dir := t.TempDir()
	ctx := context.Background()
	if _, err := packager.Package(ctx, packager.Config{Out: dir, Titles: 1, Duration: time.Duration(seconds+2) * time.Second,
		Segment: time.Second, Ladder: "small"}); err != nil {
		t.Fatal(err)
	}
	st, err := Start(ctx, StackConfig{Content: dir, EdgesPerZone: 1, Origins: 1, SteeringTTL: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Stop(ctx)
	entry := &player.ContentSteeringEntry{URL: st.Steering, Zone: "zone-a"}
	var bases []string
	pctx, cancel := context.WithTimeout(ctx, time.Duration(seconds)*time.Second+time.Minute)
	defer cancel()
	start := time.Now()
	r, err := player.Play(pctx, player.Config{Title: "title-000", Entry: entry, BufferCap: 3 * time.Second,
		MaxSeconds: float64(seconds), OnChunk: func(c player.Chunk) { bases = append(bases, c.Base) }})
	if err != nil || r.Failed {
		t.Fatalf("play: %v %s", err, r.FailReason)
	}
	elapsed := time.Since(start)
	changes := 0
	for i := 1; i < len(bases); i++ {
		if bases[i] != bases[i-1] {
			changes++
		}
	}
	perMin := float64(changes) / elapsed.Minutes()
	t.Logf("lone player on an idle CDN, steering TTL 1 s: %d pathway changes in %d segments over %.1f s: %.1f per minute (first pathway %s)",
		changes, len(bases), elapsed.Seconds(), perMin, bases[0])
	if r.Errors > 0 {
		t.Errorf("%d errors", r.Errors)
	}
	if changes > 0 {
		t.Errorf("a lone player on an idle CDN was moved %d times; want it kept on its pathway", changes)
	}
}
