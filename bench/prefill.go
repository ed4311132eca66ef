package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"edgecdn/demo"
	"edgecdn/edge"
	"edgecdn/origin/packager"
	"edgecdn/player-sim/player"
)

func init() {
	scenarios["prefill"] = scenario{"proactive fill: the same fleet with and without a fill plan for the most popular titles: first viewers' startup, hit ratio, origin bytes", "go run ./bench prefill --titles 8 --top 3 --players 20", runPrefill}
}

// prefillRun is one fleet's outcome.
type prefillRun struct {
	rep                    *player.Report
	planBytes, fleetOrigin int64 // origin bytes of the plan, and during the fleet
	planTook               time.Duration
	planned                edge.PrefillStats
}

func runPrefill(ctx context.Context, args []string) (string, error) {
	fs := newFlags("prefill")
	nTitles := fs.Int("titles", 8, "titles packaged (Envivio ladder)")
	top := fs.Int("top", 3, "the plan fills the most popular titles")
	segments := fs.Int("segments", 0, "leading segments per rendition the plan fills (0: whole titles)")
	players := fs.Int("players", 30, "players, arriving at --rate")
	rate := fs.Float64("rate", 3, "player arrivals per second")
	media := fs.Duration("media", 16*time.Second, "media each player plays (and each title's length)")
	link := fs.Float64("link-mbps", 12, "every player's link, Mbit/s")
	if err := parseFlags(fs, args); err != nil {
		return "", err
	}
	quiet := slog.New(slog.DiscardHandler)
	dir, err := os.MkdirTemp("", "edgecdn-bench-prefill-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	cat, err := packager.Package(ctx, packager.Config{Out: dir, Titles: *nTitles, Duration: *media, Logger: quiet})
	if err != nil {
		return "", err
	}
	var titles []string
	for _, t := range cat.Titles {
		titles = append(titles, t.Name)
	}
	planned := titles[:min(*top, len(titles))] // the fleet's Zipf ranks titles in this order

	run := func(plan bool) (prefillRun, error) {
		var r prefillRun
		st, err := demo.Start(ctx, demo.StackConfig{Content: dir, CacheBytes: 1 << 30, Logger: quiet})
		if err != nil {
			return r, err
		}
		defer st.Stop(context.Background())
		// The edges see each other first (the demo waits for it too).
		deadline := time.Now().Add(30 * time.Second)
		for _, e := range st.Edges {
			for e.Server.ClusterSize() < len(st.Edges) && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
			}
		}
		if plan {
			t0 := time.Now()
			if _, err := st.Edges[0].Server.Prefill(ctx, edge.Plan{Titles: planned, Segments: *segments, RateBps: 2e9}); err != nil {
				return r, err
			}
			for _, e := range st.Edges {
				for !e.Server.PrefillIdle() && time.Now().Before(t0.Add(2*time.Minute)) {
					time.Sleep(50 * time.Millisecond)
				}
			}
			r.planTook = time.Since(t0)
			for _, e := range st.Edges {
				s := e.Server.PrefillStats()
				r.planned.Planned += s.Planned
				r.planned.Fetched += s.Fetched
				r.planned.Skipped += s.Skipped
				r.planned.Bytes += s.Bytes
			}
			r.planBytes = r.planned.Bytes
		}
		var origin0 int64
		for _, e := range st.Edges {
			origin0 += e.Server.Stats().OriginBytes
		}
		zones := sortedZones(st)
		r.rep, err = player.RunFleet(ctx, player.FleetConfig{
			Players: *players, Titles: titles, Rate: *rate, MaxSeconds: media.Seconds(), Seed: 7,
			Links: []player.Link{player.ConstLink(*link * 1e6)},
			NewEntry: func(i int) player.Entry {
				return &player.SteeringEntry{URL: st.Steering, Zone: zones[i%len(zones)]}
			},
		})
		if err != nil {
			return r, err
		}
		for _, e := range st.Edges {
			r.fleetOrigin += e.Server.Stats().OriginBytes
		}
		r.fleetOrigin -= origin0
		return r, nil
	}
	off, err := run(false)
	if err != nil {
		return "", err
	}
	on, err := run(true)
	if err != nil {
		return "", err
	}

	isPlanned := func(t string) bool { return slices.Contains(planned, t) }
	type agg struct {
		first, all    []float64 // startup ms: each planned title's first viewer in each zone; every viewer
		hits, chunks  int
		other, otherN int
	}
	measure := func(r prefillRun) agg {
		var a agg
		seen := map[string]bool{}
		for i, p := range r.rep.PerPlayer {
			if p == nil || p.Failed {
				continue
			}
			if !isPlanned(p.Title) {
				continue
			}
			a.all = append(a.all, p.StartupMS)
			k := fmt.Sprintf("%s/%d", p.Title, i%3) // the fleet's zones in turn
			if !seen[k] {
				seen[k] = true
				a.first = append(a.first, p.StartupMS)
			}
			for _, c := range p.Chunks {
				a.chunks++
				if strings.Contains(c.CacheState, "; hit") {
					a.hits++
				}
			}
		}
		return a
	}
	ao, an := measure(off), measure(on)
	mean := func(xs []float64) float64 {
		s := 0.0
		for _, x := range xs {
			s += x
		}
		return s / float64(max(len(xs), 1))
	}
	med := func(xs []float64) float64 {
		if len(xs) == 0 {
			return 0
		}
		s := slices.Clone(xs)
		slices.Sort(s)
		return s[len(s)/2]
	}
	ratio := func(a agg) float64 { return float64(a.hits) / float64(max(a.chunks, 1)) }

	var b strings.Builder
	what := "whole"
	if *segments > 0 {
		what = fmt.Sprintf("the first %d segments of every rendition", *segments)
	}
	fmt.Fprintf(&b, "## Proactive fill\n\n`go run ./bench prefill --titles %d --top %d --segments %d --players %d --rate %g --media %v --link-mbps %g`: the whole CDN in this process (`demo.Start`: 2 origins, 6 edges with 1 GiB caches in 3 zones, balancers, DNS, steering), %d titles of %v on the Envivio ladder; the same fleet twice on a fresh stack, seed 7: %d real-time players arriving at %g/s, Zipf(1.0) over the titles, each asking steering for its zone (the 3 zones in turn) and playing %v over a %g Mbit/s link. The second time, before the players, a fill plan for the %d most popular titles (%s), %s, goes to one edge (`Server.Prefill`, as `POST /admin/prefill` does) and every edge fills the objects it owns. A first viewer is the first player of a planned title in a zone.\n\n",
		*nTitles, *top, *segments, *players, *rate, *media, *link, *nTitles, *media, *players, *rate, *media, *link, *top, strings.Join(planned, ", "), what)
	fmt.Fprintf(&b, "| | without a plan | with the plan |\n|---|---:|---:|\n")
	fmt.Fprintf(&b, "| planned titles: first viewers' startup, mean / median ms (%d / %d viewers) | %.0f / %.0f | %.0f / %.0f |\n", len(ao.first), len(an.first), mean(ao.first), med(ao.first), mean(an.first), med(an.first))
	fmt.Fprintf(&b, "| planned titles: every viewer's startup, median ms (%d / %d) | %.0f | %.0f |\n", len(ao.all), len(an.all), med(ao.all), med(an.all))
	fmt.Fprintf(&b, "| planned titles: segments that were a hit at the edge that served them | %.3f (%d of %d) | %.3f (%d of %d) |\n", ratio(ao), ao.hits, ao.chunks, ratio(an), an.hits, an.chunks)
	fmt.Fprintf(&b, "| all players: startup p50 / p95 ms | %.0f / %.0f | %.0f / %.0f |\n", off.rep.StartupMSP50, off.rep.StartupMSP95, on.rep.StartupMSP50, on.rep.StartupMSP95)
	fmt.Fprintf(&b, "| all players: stalls, failed | %d, %d | %d, %d |\n", off.rep.RebufferCount, off.rep.Failed, on.rep.RebufferCount, on.rep.Failed)
	fmt.Fprintf(&b, "| origin bytes while the players played | %.1f MB | %.1f MB |\n", float64(off.fleetOrigin)/1e6, float64(on.fleetOrigin)/1e6)
	fmt.Fprintf(&b, "| origin bytes of the plan, before the players | | %.1f MB (%d objects planned, %d fetched, %d skipped, %v) |\n", float64(on.planBytes)/1e6, on.planned.Planned, on.planned.Fetched, on.planned.Skipped, on.planTook.Round(time.Millisecond))
	fmt.Fprintf(&b, "\nOrigin bytes saved while the players played: %.1f MB, for %.1f MB spent by the plan beforehand (%.2f MB saved per MB spent). The plan fills every rendition of the planned titles once per zone; the players touch only the renditions their ABR picks, so a plan of whole ladders spends more than the peak saves unless the titles are watched across the ladder, or many times over (a cache keeps what it fills).\n",
		float64(off.fleetOrigin-on.fleetOrigin)/1e6, float64(on.planBytes)/1e6, float64(off.fleetOrigin-on.fleetOrigin)/float64(max(on.planBytes, 1)))
	return b.String(), nil
}

func sortedZones(st *demo.Stack) []string {
	var zs []string
	for z := range st.LBs {
		zs = append(zs, z)
	}
	slices.Sort(zs)
	return zs
}
