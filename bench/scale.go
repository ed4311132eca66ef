package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"edgecdn/demo"
	"edgecdn/origin/packager"
	"edgecdn/player-sim/player"
)

// runScale grows a fleet of real-time players against the whole CDN in this process until the
// CDN, not the players' links, makes them stall; it reports QoE and memory per player at each size.
func runScale(ctx context.Context, args []string) (string, error) {
	fs := newFlags("scale")
	sizes := fs.String("players", "100,250,500,1000", "fleet sizes")
	media := fs.Duration("media", 24*time.Second, "media each player plays")
	link := fs.Float64("link-mbps", 12, "every player's own link, Mbit/s: above the top rendition, so stalls are the CDN's")
	fs.Parse(args)
	ns, err := splitInts(*sizes)
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "edgecdn-bench-scale-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	cat, err := packager.Package(ctx, packager.Config{Out: dir, Titles: 10, Duration: 48 * time.Second, Logger: quiet})
	if err != nil {
		return "", err
	}
	var titles []string
	for _, t := range cat.Titles {
		titles = append(titles, t.Name)
	}
	st, err := demo.Start(ctx, demo.StackConfig{Content: dir, CacheBytes: 1 << 30})
	if err != nil {
		return "", err
	}
	defer st.Stop(context.Background())

	var b strings.Builder
	fmt.Fprintf(&b, "## Scale: players on one machine\n\n`go run ./bench scale --players %s --media %v --link-mbps %g` on %d CPUs: the whole CDN (2 origins, 6 edges, 3 balancers, DNS, steering) and the players in one process; players arrive over 5 s, ask steering, play %v of a Zipf(1.0)-chosen title on the Envivio ladder (top 4.3 Mbit/s) over their own %g Mbit/s links, so a stall is the CDN's (or the machine's) doing.\n\n",
		*sizes, *media, *link, runtime.NumCPU(), *media, *link)
	fmt.Fprintf(&b, "| players | failed | rebuffer ratio | stalls | startup p50 / p95 ms | bitrate kbps | QoE_lin mean | errors | served Gbit/s | peak heap MB | heap per player KB | goroutines per player |\n|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|\n")
	zones := []string{"zone-a", "zone-b", "zone-c"}
	for _, n := range ns {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		base := ms.HeapInuse
		baseG := runtime.NumGoroutine()
		var peak atomic.Uint64
		var peakG atomic.Int64
		stop := make(chan struct{})
		go func() {
			t := time.NewTicker(250 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-stop:
					return
				case <-t.C:
					var m runtime.MemStats
					runtime.ReadMemStats(&m)
					if m.HeapInuse > peak.Load() {
						peak.Store(m.HeapInuse)
					}
					if g := int64(runtime.NumGoroutine()); g > peakG.Load() {
						peakG.Store(g)
					}
				}
			}
		}()
		rep, err := player.RunFleet(ctx, player.FleetConfig{
			Players: n, Titles: titles, Rate: float64(n) / 5, MaxSeconds: media.Seconds(), Seed: uint64(n),
			Links: []player.Link{player.ConstLink(*link * 1e6)},
			NewEntry: func(i int) player.Entry {
				return &player.SteeringEntry{URL: st.Steering, Zone: zones[i%len(zones)]}
			},
		})
		close(stop)
		if err != nil {
			return "", err
		}
		heap := float64(peak.Load()) - float64(base)
		fmt.Fprintf(&b, "| %d | %d | %.4f | %d | %.0f / %.0f | %.0f | %.2f | %d | %.2f | %.0f | %.0f | %.1f |\n",
			n, rep.Failed, rep.RebufferRatio, rep.RebufferCount, rep.StartupMSP50, rep.StartupMSP95, rep.BitrateKbps, rep.QoELinMean,
			rep.Errors, float64(rep.Bytes)*8/rep.WallS/1e9, float64(peak.Load())/1e6, heap/float64(n)/1e3, float64(peakG.Load()-int64(baseG))/float64(n))
		fmt.Fprintf(os.Stderr, "scale %d players: rebuffer ratio %.4f, %d failed\n", n, rep.RebufferRatio, rep.Failed)
	}
	fmt.Fprintf(&b, "\nHeap per player is the peak heap during the run above the heap before it, over the players (the CDN's own growth included); goroutines likewise.\n")
	return b.String(), nil
}
