package player_test

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"edgecdn/demo"
	"edgecdn/internal/signing"
	"edgecdn/origin/packager"
	"edgecdn/player-sim/player"
)

// TestSignedFleetThroughTheStack: with URL signing on the edges and steering, players entering
// by HLS and DASH content steering and by steering's ranked edges follow the tokens steering issues and
// play to the end, every segment checked against its hash though catalog.json is out of the
// tokens' reach; the edges refuse requests without a token, with an expired one, and with one
// issued for another title.
func TestSignedFleetThroughTheStack(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	if _, err := packager.Package(ctx, packager.Config{Out: dir, Titles: 2, Duration: 16 * time.Second}); err != nil {
		t.Fatal(err)
	}
	key := []byte("a test key of thirty-two bytes!!")
	st, err := demo.Start(ctx, demo.StackConfig{Content: dir, SigningKeys: [][]byte{key}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Stop(ctx)
	zones := []string{"zone-a", "zone-b", "zone-c"}
	rep, err := player.RunFleet(ctx, player.FleetConfig{
		Players: 8, Titles: []string{"title-000", "title-001"},
		NewEntry: func(i int) player.Entry {
			switch i % 4 {
			case 3:
				return &player.SteeringEntry{URL: st.Steering, Zone: zones[i%3]}
			case 2:
				return &player.ContentSteeringEntry{URL: st.Steering, Zone: zones[i%3], Protocol: player.ProtocolDASH}
			}
			return &player.ContentSteeringEntry{URL: st.Steering, Zone: zones[i%3]}
		},
		NewProtocol: func(i int) string {
			if i%4 == 2 {
				return player.ProtocolDASH // DASH content steering: the token rides in every BaseURL
			}
			return player.ProtocolHLS
		},
		Links: []player.Link{player.ConstLink(20e6)}, BufferCap: 8 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Players != 8 || rep.Failed != 0 || rep.Corrupt != 0 || rep.Unverified != 0 || rep.Errors != 0 || rep.Segments != 8*4 {
		for _, p := range rep.PerPlayer {
			if p.Failed {
				t.Logf("failed: %s %v", p.FailReason, p.ErrorSamples)
			}
		}
		t.Fatalf("report: %d players, %d failed, %d corrupt, %d unverified, %d errors, %d segments; want 8 playing 32 checked segments without error",
			rep.Players, rep.Failed, rep.Corrupt, rep.Unverified, rep.Errors, rep.Segments)
	}
	for _, p := range rep.PerPlayer {
		for _, c := range p.Chunks {
			if !strings.Contains(c.Base, "/t/") || c.EdgeName == "" {
				t.Errorf("%s: segment from %q (edge %q): not a signed base", p.Title, c.Base, c.EdgeName)
			}
		}
	}
	t.Logf("signed: startup p50 %.0f ms, bitrate %.0f kbps, %d segments, %d edge switches", rep.StartupMSP50, rep.BitrateKbps, rep.Segments, rep.EdgeSwitches)

	// The token a session gets, and what the edges make of it and of others.
	resp, err := http.Get(st.Steering + "/play/title-000/master.m3u8?zone=zone-a")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`http://[^/\s]+/t/([^/\s]+)/vod/title-000/`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("playback manifest without signed URIs:\n%s", b)
	}
	tok := string(m[1])
	expired := signing.Sign(key, signing.Claims{Prefix: "/vod/title-000/", Expires: time.Now().Add(-time.Minute)})
	edge := st.Edges[0].URL
	for _, c := range []struct {
		name, path string
		want       int
	}{
		{"the session's token", "/t/" + tok + "/vod/title-000/master.m3u8", 200},
		{"no token", "/vod/title-000/master.m3u8", 403},
		{"an expired token", "/t/" + expired + "/vod/title-000/master.m3u8", 403},
		{"title-000's token on title-001", "/t/" + tok + "/vod/title-001/master.m3u8", 403},
		{"the token on the catalog", "/t/" + tok + "/catalog.json", 403},
	} {
		resp, err := http.Get(edge + c.path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("%s: GET %s: %d, want %d", c.name, c.path, resp.StatusCode, c.want)
		}
	}
}

// TestSignedBaseWithoutCatalog: behind a signed base, catalog.json answers 403; the player
// takes that as final (no error, no edge switch), checks every segment against its SHA-256
// ETag instead, and never accepts a corrupt one.
func TestSignedBaseWithoutCatalog(t *testing.T) {
	dir := t.TempDir()
	if _, err := packager.Package(context.Background(), packager.Config{Out: dir, Titles: 1, Duration: 8 * time.Second, Ladder: "small"}); err != nil {
		t.Fatal(err)
	}
	const tok = "v1~1~L3ZvZC8~~AAAA"
	for _, corrupt := range []bool{false, true} {
		f := newSteeringFake(t, dir)
		f.token, f.corrupt = tok, corrupt
		r, err := player.Play(context.Background(), player.Config{Title: "title-000", Entry: player.URLEntry{Base: f.url + "/t/" + tok}, Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		f.mu.Lock()
		catalogAsked := strings.Count(strings.Join(f.content, " "), "catalog.json")
		f.mu.Unlock()
		if catalogAsked != 1 {
			t.Errorf("corrupt %v: catalog.json asked %d times, want once", corrupt, catalogAsked)
		}
		if !corrupt {
			if r.Failed || r.Errors != 0 || r.EdgeSwitches != 0 || r.Unverified != 0 || r.Corrupt != 0 || len(r.Chunks) != 2 {
				t.Errorf("good segments: %+v", r)
			}
			continue
		}
		if !r.Failed || r.Corrupt == 0 || len(r.Chunks) != 0 {
			t.Errorf("corrupt segments: failed %v, %d corrupt, %d accepted; want a failed session that accepted none", r.Failed, r.Corrupt, len(r.Chunks))
		}
	}
}
