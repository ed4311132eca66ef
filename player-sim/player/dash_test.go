package player_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"edgecdn/demo"
	"edgecdn/internal/catalog"
	"edgecdn/origin/packager"
	"edgecdn/player-sim/abr"
	"edgecdn/player-sim/player"
)

// TestDASHFleetThroughTheStack: DASH players fetching straight from an edge and DASH players on
// content steering (/play/<title>/manifest.mpd, steering manifests with _DASH_pathway) play
// CMAF titles to the end through the whole CDN, every init and media segment checked, while
// HLS players keep playing an MPEG-TS title beside them.
func TestDASHFleetThroughTheStack(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	if _, err := packager.Package(ctx, packager.Config{Out: dir, Titles: 2, Duration: 16 * time.Second}); err != nil {
		t.Fatal(err)
	}
	if _, err := packager.Package(ctx, packager.Config{Out: dir, Titles: 1, Prefix: "ts", Format: catalog.FormatTS, Duration: 16 * time.Second}); err != nil {
		t.Fatal(err)
	}
	st, err := demo.Start(ctx, demo.StackConfig{Content: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Stop(ctx)
	for _, tc := range []struct {
		name     string
		protocol string
		titles   []string
		entry    func(i int) player.Entry
	}{
		{"dash direct", player.ProtocolDASH, []string{"title-000", "title-001"}, func(i int) player.Entry { return player.URLEntry{Base: st.Edges[i%len(st.Edges)].URL} }},
		{"dash content steering", player.ProtocolDASH, []string{"title-000", "title-001"}, func(i int) player.Entry {
			return &player.ContentSteeringEntry{URL: st.Steering, Zone: []string{"zone-a", "zone-b", "zone-c"}[i%3], Protocol: player.ProtocolDASH}
		}},
		{"hls ts", player.ProtocolHLS, []string{"ts-000"}, func(i int) player.Entry { return &player.ContentSteeringEntry{URL: st.Steering, Zone: "zone-b"} }},
	} {
		rep, err := player.RunFleet(ctx, player.FleetConfig{
			Players: 6, Titles: tc.titles, Protocol: tc.protocol, NewEntry: tc.entry,
			Links: []player.Link{player.ConstLink(20e6)}, BufferCap: 8 * time.Second,
		})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Players != 6 || rep.Failed != 0 || rep.Corrupt != 0 || rep.Errors != 0 || rep.Unverified != 0 || rep.Segments != 6*4 {
			for _, p := range rep.PerPlayer {
				t.Logf("%s: %+v", tc.name, p)
			}
			t.Fatalf("%s: report %+v", tc.name, rep)
		}
		for _, p := range rep.PerPlayer {
			inits := p.InitSegments
			if tc.protocol == player.ProtocolHLS {
				if inits != 0 {
					t.Errorf("%s: an MPEG-TS player fetched %d init segments", tc.name, inits)
				}
				continue
			}
			// One init segment per rendition played in a row: the first, then one per switch.
			if inits != p.Switches+1 {
				t.Errorf("%s: %d init segments for %d switches", tc.name, inits, p.Switches)
			}
			if p.StartupMS <= 0 || p.Chunks[0].EdgeName == "" {
				t.Errorf("%s: player %+v", tc.name, p)
			}
		}
		t.Logf("%s: %d players, 0 failed, 0 corrupt, startup p50 %.0f ms, %.0f kbps", tc.name, rep.Players, rep.StartupMSP50, rep.BitrateKbps)
	}
}

// fixed plays one level throughout, so two players fetch the same segments.
type fixed int

func (f fixed) Choose(*abr.State) int { return int(f) }

// TestHLSAndDASHShareTheCache: an HLS player then a DASH player of the same CMAF title through
// one edge. The DASH player's init and media segments are the HLS player's objects: every one
// is a hit, and the origin sees only the DASH manifest.
func TestHLSAndDASHShareTheCache(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	if _, err := packager.Package(ctx, packager.Config{Out: dir, Titles: 1, Duration: 48 * time.Second}); err != nil {
		t.Fatal(err)
	}
	st, err := demo.Start(ctx, demo.StackConfig{Content: dir, Origins: 1, Zones: []string{"zone-a"}, EdgesPerZone: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Stop(ctx)
	e := st.Edges[0]
	var out strings.Builder
	fmt.Fprintf(&out, "%-6s %9s %13s %12s %5s %7s %14s %12s\n", "player", "segments", "segment bytes", "edge served", "hits", "misses", "origin fetches", "origin bytes")
	var first *player.Result
	for _, proto := range []string{player.ProtocolHLS, player.ProtocolDASH} {
		before := e.Server.Stats()
		r, err := player.Play(ctx, player.Config{Title: "title-000", Protocol: proto, Entry: player.URLEntry{Base: e.URL}, ABR: fixed(3), BufferCap: 60 * time.Second})
		if err != nil || r.Failed || r.Corrupt != 0 || len(r.Chunks) != 12 || r.InitSegments != r.Switches+1 {
			t.Fatalf("%s: %v %+v", proto, err, r)
		}
		after := e.Server.Stats()
		var bytes int64
		for _, c := range r.Chunks {
			bytes += c.Bytes
		}
		fmt.Fprintf(&out, "%-6s %9d %13d %12d %5d %7d %14d %12d\n", proto, len(r.Chunks), bytes, after.ServedBytes-before.ServedBytes, after.Hits-before.Hits, after.Misses-before.Misses,
			after.OriginFetches-before.OriginFetches, after.OriginBytes-before.OriginBytes)
		if proto == player.ProtocolHLS {
			first = r
			continue
		}
		for i, c := range r.Chunks {
			if !strings.HasSuffix(c.CacheState, "; hit") || c.Bytes != first.Chunks[i].Bytes {
				t.Errorf("DASH segment %d: %q, %d bytes; HLS fetched %d bytes: want a hit on the same object", i, c.CacheState, c.Bytes, first.Chunks[i].Bytes)
			}
		}
		// The DASH player's only miss is its manifest; init and media segments and catalog.json hit.
		if got := after.OriginFetches - before.OriginFetches; got != 1 {
			t.Errorf("DASH player: %d origin fetches, want 1 (manifest.mpd)", got)
		}
		if hits, want := after.Hits-before.Hits, int64(12+r.InitSegments+1); hits != want {
			t.Errorf("DASH player: %d hits, want %d (12 segments, %d init segments, catalog.json)", hits, want, r.InitSegments)
		}
	}
	t.Logf("one edge, title-000 (48 s, Envivio ladder, first segment at 750 kbps then 1850 kbps), an HLS player then a DASH player:\n%s", out.String())
}
