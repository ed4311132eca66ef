package steering

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"edgecdn/internal/cluster"
	"edgecdn/internal/harness"
	"edgecdn/internal/hls"
	"edgecdn/player-sim/player"
)

func TestDecidePathway(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	zones := []string{"zone-a", "zone-b", "zone-c"}
	base := pathwayInput{zones: zones, edges: map[string]int{"zone-a": 2, "zone-b": 2, "zone-c": 2}, client: "zone-a",
		current: "zone-a", since: t0, now: t0.Add(time.Minute), minBW: 400_000, factor: 1.25, minDwell: 30 * time.Second, margin: 2}
	with := func(f func(*pathwayInput)) pathwayInput { in := base; f(&in); return in }
	loads := func(a, b, c float64) func(*pathwayInput) {
		return func(in *pathwayInput) { in.load = map[string]float64{"zone-a": a, "zone-b": b, "zone-c": c} }
	}
	tests := []struct {
		name      string
		in        pathwayInput
		want, why string
	}{
		{"idle CDN", with(loads(0, 0, 0)), "zone-a", reasonStay},
		{"lone player: its own load is all there is", with(func(in *pathwayInput) {
			loads(1, 0, 0)(in)
			in.own = ownLoad(4, 0, 400_000, false)
		}), "zone-a", reasonStay},
		{"lone player filling its buffer, own load underestimated", with(func(in *pathwayInput) {
			loads(2.4, 0, 0)(in)
			in.own = 1
		}), "zone-a", reasonStay}, // over the bound, but not by the margin
		{"over the bound by the margin", with(func(in *pathwayInput) {
			loads(3, 0, 0)(in)
			in.own = 1
		}), "zone-b", reasonOverloaded},
		{"default estimate before any segment: no evidence", with(func(in *pathwayInput) {
			loads(0, 0, 0)(in)
			in.throughput, in.evidence = 1000, false
		}), "zone-a", reasonStay},
		{"measured low throughput", with(func(in *pathwayInput) {
			loads(0, 0, 1)(in)
			in.throughput, in.evidence = 1000, true
		}), "zone-b", reasonLowThroughput},
		{"measured low throughput, but too soon", with(func(in *pathwayInput) {
			loads(0, 0, 0)(in)
			in.throughput, in.evidence, in.now = 1000, true, t0.Add(10*time.Second)
		}), "zone-a", reasonDwell},
		{"good throughput", with(func(in *pathwayInput) {
			loads(0, 0, 0)(in)
			in.throughput, in.evidence = 5_000_000, true
		}), "zone-a", reasonStay},
		{"zone really overloaded", with(loads(30, 5, 8)), "zone-b", reasonOverloaded},
		{"zone overloaded, too soon", with(func(in *pathwayInput) {
			loads(30, 5, 8)(in)
			in.now = t0.Add(5 * time.Second)
		}), "zone-a", reasonDwell},
		{"zone overloaded, no dwell owed (since unknown)", with(func(in *pathwayInput) {
			loads(30, 5, 8)(in)
			in.since, in.now = time.Time{}, t0
		}), "zone-b", reasonOverloaded},
		{"zone loaded by this session mostly", with(func(in *pathwayInput) {
			loads(30, 5, 8)(in)
			in.own = 2 * 26 // its requests spread over 2 edges
		}), "zone-a", reasonStay},
		{"pathway unhealthy: at once", with(func(in *pathwayInput) {
			loads(0, 0, 0)(in)
			in.zones, in.now = []string{"zone-b", "zone-c"}, t0.Add(time.Second)
		}), "zone-b", reasonUnhealthy},
		{"pathway unknown", with(func(in *pathwayInput) {
			loads(0, 0, 0)(in)
			in.current = ""
		}), "zone-a", reasonNoCurrent},
		{"away from home, home fine again", with(func(in *pathwayInput) {
			loads(4, 4, 4)(in)
			in.current = "zone-b"
		}), "zone-a", reasonHome},
		{"away from home, home still overloaded", with(func(in *pathwayInput) {
			loads(30, 4, 4)(in)
			in.current = "zone-b"
		}), "zone-b", reasonStay},
		{"on another zone than the client's best, no gain", with(func(in *pathwayInput) {
			loads(0, 0, 0)(in)
			in.client, in.current = "zone-c", "zone-b"
			in.now = t0.Add(5 * time.Second)
		}), "zone-b", reasonDwell},
		{"no healthy zone", with(func(in *pathwayInput) { in.zones = nil }), "", reasonUnhealthy},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, why := decidePathway(tt.in)
			if got != tt.want || why != tt.why {
				t.Errorf("decidePathway = %q (%s), want %q (%s)", got, why, tt.want, tt.why)
			}
		})
	}
}

// TestLonePlayerManifests replays a lone player's steering reloads against a view where its
// own zone carries all the load, as a lone player's does: hls.js's default estimate first, then
// measured throughput; the session never leaves its pathway.
func TestLonePlayerManifests(t *testing.T) {
	s, err := New(Config{Origins: []string{"http://127.0.0.1:1"}, TTL: time.Second, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	v := view{zones: []string{"zone-a", "zone-b", "zone-c"}, count: map[string]int{"zone-a": 1, "zone-b": 1, "zone-c": 1},
		lbs: map[string]cluster.Member{"zone-a": {Meta: cluster.Meta{Public: "127.0.0.11:8000"}}, "zone-b": {Meta: cluster.Meta{Public: "127.0.0.12:8000"}}, "zone-c": {Meta: cluster.Meta{Public: "127.0.0.13:8000"}}}}
	now := time.Unix(1_700_000_000, 0)
	ss := session{Zone: "zone-a", Pathways: v.zones, MinBW: 400_000, Title: "title-000", Host: "127.0.0.11:8000", SegSec: 1, Cur: "zone-a", Since: now.Unix()}
	ctx := new(fasthttp.RequestCtx)
	changes := 0
	for i := range 600 { // ten minutes of 1 s reloads
		// The player's own requests: a burst while it fills its buffer, then one a second.
		rps := 1.0
		if i < 5 {
			rps = 6
		}
		v.zoneLoad = map[string]float64{"zone-a": rps, "zone-b": 0, "zone-c": 0}
		thr := int64(20_000_000)
		if i == 0 {
			thr = 500_000 // hls.js's abrEwmaDefaultEstimate
		}
		m, next := s.manifest(ctx, v, ss, ss.Cur, thr, now)
		if m.PathwayPriority[0] != ss.Cur {
			changes++
		}
		ss, now = next, now.Add(time.Second)
	}
	if changes != 0 {
		t.Errorf("a lone player was moved %d times in 600 reloads", changes)
	}
}

// TestCloneHostOrURIs: a clone to a balancer on the first pathway's port replaces the host name
// only (HOST, never HOST:PORT); on another port it gives whole URIs by STABLE-VARIANT-ID.
func TestCloneHostOrURIs(t *testing.T) {
	s, err := New(Config{Origins: []string{"http://127.0.0.1:1"}, TTL: time.Second, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ctx := new(fasthttp.RequestCtx)
	v := view{lbs: map[string]cluster.Member{"same": {Meta: cluster.Meta{Public: "127.0.0.13:8000"}}, "v6": {Meta: cluster.Meta{Public: "[::1]:8000"}}}}
	ss := session{Pathways: []string{"zone-a"}, Host: "127.0.0.11:8000", Title: "title-000"}
	for zone, want := range map[string]string{"same": "127.0.0.13", "v6": "[::1]"} {
		c, ok := s.clone(ctx, v, ss, zone)
		if !ok || c.URIReplacement.Host != want || c.URIReplacement.PerVariantURIs != nil || c.BaseID != "zone-a" || c.ID != zone {
			t.Errorf("clone to %s: %+v %v; want HOST %q", zone, c, ok, want)
		}
	}
	// Another port needs the title's playlist; here the origin is unreachable: no clone rather
	// than a HOST:PORT that clients cannot apply.
	v.lbs["other"] = cluster.Member{Meta: cluster.Meta{Public: "127.0.0.14:9000"}}
	if c, ok := s.clone(ctx, v, ss, "other"); ok {
		t.Errorf("clone to another port without the playlist: %+v", c)
	}
}

// TestCloneCarriesOnWhenPathwaysDie: a content-steering player (player-sim's, which clones as
// hls.js does) starts with zones a and b; zone c arrives, its balancer on another port, then
// every edge of a and b dies. The next steering manifest clones c by PER-VARIANT-URIS, and the
// player plays from c's balancer.
func TestCloneCarriesOnWhenPathwaysDie(t *testing.T) {
	st := newStack(t, "zone-a", "zone-b")
	entry := &player.ContentSteeringEntry{URL: st.base, Zone: "zone-a"}
	ctx := context.Background()
	bases, err := entry.Bases(ctx, "title-000")
	if err != nil || len(bases) != 2 || bases[0] != "http://"+st.lbAddr["zone-a"] {
		t.Fatalf("bases %v, %v; want zone-a's balancer first of 2", bases, err)
	}
	st.addZone(t, "zone-c")
	st.waitZones(t, "zone-a", "zone-b", "zone-c")
	st.edges["zone-a"].Shutdown()
	st.edges["zone-b"].Shutdown()
	want := "http://" + st.lbAddr["zone-c"]
	// Two edges shut down are found dead by the gossip and the balancers' probes; under -race on
	// a loaded 2-core machine that took longer than 15 s once (CI, 2026-12-02).
	harness.Eventually(t, 45*time.Second, "the player's first pathway is zone-c's balancer", func() bool {
		bases, err = entry.Refresh(ctx, "title-000")
		return err == nil && bases[0] == want
	})
	code, b := getBody(t, bases[0]+"/vod/title-000/400k/index.m3u8")
	if code != 200 {
		t.Fatalf("media playlist through the clone: %d %s", code, b)
	}
	media, err := hls.ParseMedia(bytes.NewReader(b))
	if err != nil || len(media.Segments) == 0 {
		t.Fatalf("media playlist: %v", err)
	}
	if code, _ := getBody(t, bases[0]+"/vod/title-000/400k/"+media.Segments[0].URI); code != 200 {
		t.Errorf("segment through the clone: %d", code)
	}
}
