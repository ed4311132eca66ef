package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"edgecdn/player-sim/player"
)

// scaleStep is one fleet size's outcome.
type scaleStep struct {
	players               int
	rep                   *player.Report
	gbps, lbGbps          float64 // served to the players; the part through a balancer
	cores                 map[string]float64
	rssMB                 map[string]float64
	playerCores           float64 // the players' process
	machineCores          float64 // every process and the kernel (softirq: loopback TCP)
	playerHeapKB, goPerPl float64
}

// runScale grows a fleet of real-time players against the whole CDN, run as separate processes,
// until the CDN (or the machine) makes them stall; it reports QoE, CPU and memory per player and
// per Gbit/s for the CDN's roles and for the players, and projects, from those figures, what a
// 3-zone kind cluster and a 100-edge cluster would need.
func runScale(ctx context.Context, args []string) (string, error) {
	fs := newFlags("scale")
	sizes := numbersFlag[int](fs, "players", "100,250,500,1000,1500,2000", "fleet sizes, in order: the run goes on to the largest even after stalls begin")
	media := fs.Duration("media", 24*time.Second, "media each player plays")
	link := fs.Float64("link-mbps", 12, "every player's own link, Mbit/s: above the top rendition, so stalls are the CDN's")
	if err := parseFlags(fs, args); err != nil {
		return "", err
	}
	ns := []int(*sizes)
	st, titles, done, err := packagedStack(ctx, "scale", 10, 48*time.Second, "512MiB")
	if err != nil {
		return "", err
	}
	defer done()
	lbs := map[string]bool{}
	for _, lb := range st.LBs {
		lbs["http://"+lb.addr] = true
	}

	var steps []scaleStep
	for _, n := range ns {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		baseHeap, baseG := ms.HeapInuse, runtime.NumGoroutine()
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
		cpu0 := st.cpuByRole()
		self0, busy0 := selfCPU(), machineBusy()
		var lbBytes atomic.Int64
		t0 := time.Now()
		rep, err := player.RunFleet(ctx, player.FleetConfig{
			Players: n, Titles: titles, Rate: float64(n) / 5, MaxSeconds: media.Seconds(), Seed: uint64(n),
			Links: []player.Link{player.ConstLink(*link * 1e6)},
			NewEntry: func(i int) player.Entry {
				z := st.Zones[i%len(st.Zones)]
				if i%2 == 0 {
					return &player.SteeringEntry{URL: "http://" + st.Steering.addr, Zone: z}
				}
				return player.URLEntry{Base: "http://" + st.LBs[z].addr}
			},
			OnChunk: func(_ int, c player.Chunk) {
				if lbs[c.Base] {
					lbBytes.Add(c.Bytes)
				}
			},
		})
		close(stop)
		if err != nil {
			return "", err
		}
		wall := time.Since(t0).Seconds()
		cpu1 := st.cpuByRole()
		s := scaleStep{players: n, rep: rep, cores: map[string]float64{}, rssMB: st.rssByRole(),
			playerCores: (selfCPU() - self0) / wall, machineCores: (machineBusy() - busy0) / wall}
		for r, v := range cpu1 {
			s.cores[r] = (v - cpu0[r]) / wall
		}
		s.gbps = float64(rep.Bytes) * 8 / wall / 1e9
		s.lbGbps = float64(lbBytes.Load()) * 8 / wall / 1e9
		s.playerHeapKB = (float64(peak.Load()) - float64(baseHeap)) / float64(n) / 1e3
		s.goPerPl = float64(peakG.Load()-int64(baseG)) / float64(n)
		steps = append(steps, s)
		fmt.Fprintf(os.Stderr, "scale %d players: rebuffer ratio %.4f, %d failed, %.2f Gbit/s\n", n, rep.RebufferRatio, rep.Failed, s.gbps)
	}

	var b strings.Builder
	fmt.Fprintf(&b, "## Scale: players on one machine\n\n`go run ./bench scale --players %s --media %v --link-mbps %g` on %d CPUs: the whole CDN as separate processes (2 origins, 6 edges with 512 MiB caches in 3 zones, 3 zone balancers, DNS, steering; Go's default GC) and the players in the bench process; players arrive over 5 s, half ask steering for ranked edges and go straight to them, half go through their zone's balancer; each plays %v of a Zipf(1.0)-chosen title of 10 on the Envivio ladder (top 4.3 Mbit/s) over its own %g Mbit/s link, so a stall is the CDN's (or the machine's) doing. CPU is each process's user+system time over the run's wall time (cores busy); the machine's busy cores (from /proc/stat: everything but idle and I/O wait) add the kernel's own work, chiefly loopback TCP in softirq, which no process is charged for, and anything else running.\n\n",
		sizes, *media, *link, runtime.NumCPU(), *media, *link)
	fmt.Fprintf(&b, "| players | failed | rebuffer ratio | stalls | startup p50 / p95 ms | bitrate kbps | QoE_lin mean | errors | corrupt | served Gbit/s | edge cores | balancer cores | all CDN cores | players' cores | machine busy cores | edge MB (RSS + memfds) | players' heap KB per player | goroutines per player |\n|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, s := range steps {
		r := s.rep
		all := 0.0
		for _, v := range s.cores {
			all += v
		}
		fmt.Fprintf(&b, "| %d | %d | %.4f | %d | %.0f / %.0f | %.0f | %.2f | %d | %d | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.0f | %.0f | %.1f |\n",
			s.players, r.Failed, r.RebufferRatio, r.RebufferCount, r.StartupMSP50, r.StartupMSP95, r.BitrateKbps, r.QoELinMean, r.Errors, r.Corrupt,
			s.gbps, s.cores["edges"], s.cores["balancers"], all, s.playerCores, s.machineCores, s.rssMB["edges"], s.playerHeapKB, s.goPerPl)
	}
	// Per-unit costs from the largest fleet that did not stall (else the largest).
	best := steps[len(steps)-1]
	for _, s := range steps {
		if s.rep.RebufferCount == 0 && s.rep.Failed == 0 {
			best = s
		}
	}
	edgeCoresPerGbps := best.cores["edges"] / best.gbps
	lbCoresPerGbps := best.cores["balancers"] / max(best.lbGbps, 1e-9)
	playerCoresPer1000 := best.playerCores / float64(best.players) * 1000
	edgeRSSMB := best.rssMB["edges"] / float64(len(st.Edges))
	bitrate := best.rep.BitrateKbps / 1e6 // Gbit/s per player
	fmt.Fprintf(&b, "\nPer unit, from the largest fleet without a stall (%d players, %.2f Gbit/s, %.2f through balancers):\n\n", best.players, best.gbps, best.lbGbps)
	fmt.Fprintf(&b, "- edges: %.2f cores per Gbit/s served (%.3f cores per 1,000 players at %.0f kbit/s)\n", edgeCoresPerGbps, edgeCoresPerGbps*bitrate*1000, best.rep.BitrateKbps)
	fmt.Fprintf(&b, "- balancers: %.2f cores per Gbit/s proxied\n", lbCoresPerGbps)
	fmt.Fprintf(&b, "- players (the simulator): %.2f cores and %.0f MB of heap per 1,000 players\n", playerCoresPer1000, best.playerHeapKB)
	fmt.Fprintf(&b, "- edge memory: %.0f MB per edge with a 512 MiB cache, resident plus its memfds (the cache in use, segments in memfds and the rest in the heap, + about 15 MB of process + Go's GC headroom, up to the live heap again under the default GOGC=100)\n", edgeRSSMB)
	sat := "no fleet size stalled: the machine did not saturate in this run"
	for _, s := range steps {
		if s.rep.RebufferCount > 0 || s.rep.Failed > 0 {
			sat = fmt.Sprintf("stalls begin at %d players, with the machine %.2f of %d cores busy (the CDN's processes %.2f, the players %.2f, the rest the kernel's loopback networking and anything else running)",
				s.players, s.machineCores, runtime.NumCPU(), s.cores["edges"]+s.cores["balancers"]+s.cores["origins"]+s.cores["dns"]+s.cores["steering"], s.playerCores)
			break
		}
	}
	fmt.Fprintf(&b, "\nSaturation: %s.\n", sat)

	// The projection: arithmetic on the figures above, written out so it can be checked.
	fmt.Fprintf(&b, "\n### Projection, on paper\n\nAssumptions: the per-Gbit/s costs above hold (they were measured on loopback, so they leave out NIC interrupts and TLS; real NICs add roughly a third, TLS roughly doubles the edge's cost); players watch at %.1f Mbit/s on average (the mean bitrate above); half the traffic goes through a balancer as in this run.\n\n", best.rep.BitrateKbps/1000)
	for _, c := range []struct {
		name    string
		players int
		edges   int
		cache   float64 // GiB per edge
	}{
		{"3-zone kind cluster on one 8-core laptop (k8s/overlays/kind: 6 edges)", 2000, 6, 0.5},
		{"100-edge cluster (34 zones x 3 edges, 10 Gbit/s NICs)", 200000, 100, 64},
	} {
		gbps := float64(c.players) * bitrate
		edgeCores := gbps * edgeCoresPerGbps
		lbCores := gbps / 2 * lbCoresPerGbps
		perEdgeGbps := gbps / float64(c.edges)
		fmt.Fprintf(&b, "- **%s**, %d players = %.1f Gbit/s: edges %.1f cores in all (%.2f per edge, %.2f Gbit/s each), balancers %.1f cores, memory per edge %.1f GiB cache x 2 for GC headroom + 15 MB = %.1f GiB",
			c.name, c.players, gbps, edgeCores, edgeCores/float64(c.edges), perEdgeGbps, lbCores, c.cache, c.cache*2+0.015)
		if c.edges >= 100 {
			// memberlist: each member probes one other per second and gossips to 3 every 100 ms;
			// load reports are broadcast each second by every edge and relayed.
			// The control plane at this size is measured, not projected: `go run ./bench scale200`.
			fmt.Fprintf(&b, "; gossip, failure detection, ring rebuilds and purges at 200 edges in 20 zones are measured by `go run ./bench scale200` (bench/README.md), not projected here")
			fmt.Fprintf(&b, "; the players' simulator for 200,000 players needs %.0f cores and %.0f GB (at the rates above), i.e. a fleet of load-generator machines, not one\n", playerCoresPer1000*200, best.playerHeapKB*200000/1e6)
		} else {
			fmt.Fprintf(&b, "; with the player simulator (%.1f cores, %.1f GB) on the same laptop, %.1f cores in all; 8 cores serve about %d players\n",
				playerCoresPer1000*float64(c.players)/1000, best.playerHeapKB*float64(c.players)/1e6,
				edgeCores+lbCores+playerCoresPer1000*float64(c.players)/1000,
				int(8/((edgeCoresPerGbps+lbCoresPerGbps/2)*bitrate+playerCoresPer1000/1000)))
		}
	}
	fmt.Fprintf(&b, "\nSummary: %d players at %.2f Gbit/s without a stall on %d cores; edges %.2f cores per Gbit/s, balancers %.2f, the player simulator %.2f cores per 1,000 players.\n",
		best.players, best.gbps, runtime.NumCPU(), edgeCoresPerGbps, lbCoresPerGbps, playerCoresPer1000)
	return b.String(), nil
}

// machineBusy is the CPU seconds the whole machine has spent not idle (/proc/stat).
func machineBusy() float64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	f := strings.Fields(strings.SplitN(string(b), "\n", 2)[0]) // cpu user nice system idle iowait irq softirq steal ...
	busy := 0.0
	for i, v := range f[1:] {
		if i == 3 || i == 4 || i >= 8 { // idle, iowait; guest time is inside user already
			continue
		}
		var x float64
		fmt.Sscan(v, &x)
		busy += x
	}
	return busy / 100 // USER_HZ
}

// selfCPU is this process's user+system CPU seconds.
func selfCPU() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}
