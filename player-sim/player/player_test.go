package player_test

import (
	"context"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"edgecdn/demo"
	"edgecdn/origin/packager"
	"edgecdn/player-sim/player"
)

// TestFleetThroughTheStack: players entering by URL, by DNS, by steering's ranked edges and by
// HLS Content Steering all play to the end
// through the whole CDN, with every segment checked.
func TestFleetThroughTheStack(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	if _, err := packager.Package(ctx, packager.Config{Out: dir, Titles: 2, Duration: 16 * time.Second}); err != nil {
		t.Fatal(err)
	}
	st, err := demo.Start(ctx, demo.StackConfig{Content: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Stop(ctx)
	_, lbPort, _ := net.SplitHostPort(st.LBs["zone-a"])
	port, _ := strconv.Atoi(lbPort)
	entries := []func() player.Entry{
		func() player.Entry { return player.URLEntry{Base: st.Edges[0].URL} },
		func() player.Entry { return &player.DNSEntry{Server: st.DNS, Domain: st.Domain, Port: port} },
		func() player.Entry { return &player.SteeringEntry{URL: st.Steering, Zone: "zone-b"} },
		func() player.Entry { return &player.ContentSteeringEntry{URL: st.Steering, Zone: "zone-c"} },
	}
	rep, err := player.RunFleet(ctx, player.FleetConfig{
		Players: 8, Titles: []string{"title-000", "title-001"}, NewEntry: func(i int) player.Entry { return entries[i%4]() },
		Links: []player.Link{player.ConstLink(20e6)}, BufferCap: 8 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Players != 8 || rep.Failed != 0 || rep.Corrupt != 0 || rep.Errors != 0 || rep.Segments != 8*4 {
		t.Fatalf("report: %+v", rep)
	}
	for _, p := range rep.PerPlayer {
		if p.StartupMS <= 0 || p.BitrateKbps < 300 || len(p.Chunks) != 4 || p.Chunks[0].EdgeName == "" {
			t.Errorf("player %+v", p)
		}
	}
	if rep.RebufferRatio != 0 {
		t.Errorf("stalls on a 20 Mbit/s link through an idle CDN: %+v", rep)
	}
	t.Logf("startup p50 %.0f ms, bitrate %.0f kbps, QoE %.2f", rep.StartupMSP50, rep.BitrateKbps, rep.QoELinMean)
}

// TestCorruptSegmentsCounted: a segment whose bytes do not match the origin's hash is counted
// as corrupt and never accepted as good.
func TestCorruptSegmentsCounted(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	cat, err := packager.Package(ctx, packager.Config{Out: dir, Titles: 1, Duration: 8 * time.Second, Ladder: "small"})
	if err != nil {
		t.Fatal(err)
	}
	srv := corruptingServer(t, dir, cat.Titles[0].Name)
	r, err := player.Play(ctx, player.Config{Title: cat.Titles[0].Name, Entry: player.URLEntry{Base: srv}, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if r.Corrupt == 0 || !r.Failed {
		t.Errorf("a server that always corrupts: %d corrupt, failed %v; want corrupt segments and a failed session", r.Corrupt, r.Failed)
	}
	for _, c := range r.Chunks {
		t.Errorf("chunk accepted from a corrupting server: %+v", c)
	}
}

// TestEdgeDiesMidPlayback: the edge players stream from dies while they hold 8 s or more of
// buffer; they move to the next edge steering ranked, and none stalls.
func TestEdgeDiesMidPlayback(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	if _, err := packager.Package(ctx, packager.Config{Out: dir, Titles: 1, Duration: 32 * time.Second}); err != nil {
		t.Fatal(err)
	}
	st, err := demo.Start(ctx, demo.StackConfig{Content: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Stop(ctx)
	const players = 6
	var mu sync.Mutex
	chunks := make([]int, players)
	var edges []string
	ready := make(chan struct{})
	var once sync.Once
	done := make(chan *player.Report, 1)
	go func() {
		rep, err := player.RunFleet(ctx, player.FleetConfig{
			Players: players, Titles: []string{"title-000"}, BufferCap: 30 * time.Second,
			Links:    []player.Link{player.ConstLink(40e6)},
			NewEntry: func(int) player.Entry { return &player.SteeringEntry{URL: st.Steering, Zone: "zone-a"} },
			OnChunk: func(i int, c player.Chunk) {
				mu.Lock()
				defer mu.Unlock()
				chunks[i]++
				if chunks[i] == 1 {
					edges = append(edges, c.EdgeName)
				}
				for _, n := range chunks {
					if n < 3 { // three 4 s segments: at least 8 s of buffer left
						return
					}
				}
				once.Do(func() { close(ready) })
			},
		})
		if err != nil {
			t.Error(err)
		}
		done <- rep
	}()
	select {
	case <-ready:
	case <-time.After(60 * time.Second):
		t.Fatal("players did not buffer 3 segments within 60 s")
	}
	// Kill the edge the players started on (steering ranks zone-a's first for all of them).
	mu.Lock()
	victim := edges[0]
	mu.Unlock()
	for _, e := range st.Edges {
		if e.Name == victim {
			dead, cancel := context.WithCancel(ctx)
			cancel() // no grace: connections are cut
			e.Server.Shutdown(dead)
		}
	}
	rep := <-done
	if rep == nil {
		t.Fatal("no report")
	}
	if rep.Failed != 0 || rep.RebufferCount != 0 || rep.Corrupt != 0 {
		t.Errorf("after %s died: %d failed, %d stalls, %d corrupt; want none", victim, rep.Failed, rep.RebufferCount, rep.Corrupt)
	}
	if rep.EdgeSwitches == 0 {
		t.Errorf("no player switched edges after %s died", victim)
	}
	t.Logf("killed %s mid-playback: %d edge switches, %d errors retried, %d stalls", victim, rep.EdgeSwitches, rep.Errors, rep.RebufferCount)
}
