package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"

	"edgecdn/edge"
	"edgecdn/internal/cluster"
	"edgecdn/internal/purge"
	"edgecdn/internal/ring"
)

func init() {
	scenarios["scale200"] = scenario{"200 edges in 20 zones in one process on loopback gossip: failure and join times in every ring, gossip bytes and CPU per member, ring rebuilds, keys moved, purge convergence", "go run ./bench scale200 --edges 50 --zones 5 --kills 2 --transport udp", runScale200}
}

// countingTransport is memberlist's own UDP/TCP transport, counting the bytes it sends.
type countingTransport struct {
	*memberlist.NetTransport
	sent *atomic.Int64
}

func (t countingTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	t.sent.Add(int64(len(b)))
	return t.NetTransport.WriteTo(b, addr)
}

func (t countingTransport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	t.sent.Add(int64(len(b)))
	return t.NetTransport.WriteToAddress(b, a)
}

func (t countingTransport) DialTimeout(addr string, d time.Duration) (net.Conn, error) {
	c, err := t.NetTransport.DialTimeout(addr, d)
	if err != nil {
		return nil, err
	}
	return countingConn{c, t.sent}, nil
}

func (t countingTransport) DialAddressTimeout(a memberlist.Address, d time.Duration) (net.Conn, error) {
	c, err := t.NetTransport.DialAddressTimeout(a, d)
	if err != nil {
		return nil, err
	}
	return countingConn{c, t.sent}, nil
}

// countingConn counts what the dialing side writes; the answers on accepted streams (push/pull
// replies) are not counted, so stream bytes are about half of what crosses the wire.
type countingConn struct {
	net.Conn
	sent *atomic.Int64
}

func (c countingConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.sent.Add(int64(n))
	return n, err
}

// simEdge is one edge of the simulated cluster: a real edge.Server (placement, purge) on a
// real cluster member; its HTTP address is never served.
type simEdge struct {
	name, zone string
	s          *edge.Server
	cl         *cluster.Cluster
	dead       bool
}

func runScale200(ctx context.Context, args []string) (string, error) {
	fs := newFlags("scale200")
	nEdges := fs.Int("edges", 200, "edges")
	nZones := fs.Int("zones", 20, "zones (edges are spread evenly)")
	kills := fs.Int("kills", 5, "edges killed one after the other (no goodbye), each replaced by a new one")
	purges := fs.Int("purges", 20, "cluster-wide purges timed")
	quiet := fs.Duration("quiet", 20*time.Second, "steady interval over which gossip bytes and CPU are measured")
	transport := fs.String("transport", "udp", "udp: memberlist's own UDP and TCP transport on 127.0.0.1, a port per member; mem: an in-memory network in the process (no sockets)")
	if err := parseFlags(fs, args); err != nil {
		return "", err
	}
	if *transport != "udp" && *transport != "mem" {
		return "", fmt.Errorf("--transport %q: udp or mem", *transport)
	}
	logger := slog.New(slog.DiscardHandler)
	key := []byte("scale200 admin token")

	var sent atomic.Int64
	mem := newMemNet(&sent)
	var mu sync.Mutex
	applied := map[string]map[string]time.Time{} // purge ID -> edge -> when it applied
	var edges []*simEdge
	seq := 0
	startEdge := func(zone string, join []string) (*simEdge, error) {
		seq++
		name := fmt.Sprintf("e%03d-%s", seq, zone)
		s, err := edge.New(edge.Config{Name: name, Zone: zone, Origins: []string{"http://127.0.0.1:9"}, CacheBytes: 1 << 20,
			ProbeInterval: -1, Clustered: true, Logger: logger})
		if err != nil {
			return nil, err
		}
		var tr memberlist.Transport
		if *transport == "mem" {
			tr = mem.newTransport()
		} else {
			nt, err := memberlist.NewNetTransport(&memberlist.NetTransportConfig{BindAddrs: []string{"127.0.0.1"}, BindPort: 0,
				Logger: log.New(io.Discard, "", 0)})
			if err != nil {
				return nil, err
			}
			tr = countingTransport{nt, &sent}
		}
		onEvent := func(ev cluster.Event) []byte {
			ans := s.ClusterEvent(ev)
			if ev.Kind == purge.Kind {
				mu.Lock()
				if applied[ev.ID] == nil {
					applied[ev.ID] = map[string]time.Time{}
				}
				applied[ev.ID][name] = time.Now()
				mu.Unlock()
			}
			return ans
		}
		cl, err := cluster.Start(cluster.Config{Name: name, Meta: cluster.Meta{Role: cluster.RoleEdge, Zone: zone, HTTP: fmt.Sprintf("127.0.0.1:%d", 20000+seq)},
			GossipListen: "127.0.0.1:0", Join: join, LoadFunc: s.Load, Logger: logger, EventKey: key, OnEvent: onEvent,
			Transport: tr})
		if err != nil {
			return nil, err
		}
		s.AttachCluster(cl)
		return &simEdge{name: name, zone: zone, s: s, cl: cl}, nil
	}
	defer func() {
		for _, e := range edges {
			if !e.dead {
				e.cl.Shutdown()
			}
			e.s.Close()
		}
	}()
	zoneName := func(i int) string { return fmt.Sprintf("z%02d", i%*nZones) }
	alive := func() []*simEdge {
		return slices.DeleteFunc(slices.Clone(edges), func(e *simEdge) bool { return e.dead })
	}
	// waitRings polls every live edge until cond holds at each, recording when it first did.
	waitRings := func(timeout time.Duration, cond func(e *simEdge) bool) (map[string]time.Duration, error) {
		start := time.Now()
		seen := map[string]time.Duration{}
		live := alive()
		for len(seen) < len(live) {
			for _, e := range live {
				if _, ok := seen[e.name]; !ok && cond(e) {
					seen[e.name] = time.Since(start)
				}
			}
			if time.Since(start) > timeout {
				return seen, fmt.Errorf("%d of %d edges after %v", len(seen), len(live), timeout)
			}
			time.Sleep(20 * time.Millisecond)
		}
		return seen, nil
	}

	// Ring rebuilds and key movement at this size, before the cluster runs (a benchmark in a
	// process busy with 200 members measures the machine's load, not the ring).
	names := map[string][]string{}
	var all []string
	for i := 0; i < *nEdges; i++ {
		n := fmt.Sprintf("e%03d-%s", i+1, zoneName(i))
		names[zoneName(i)] = append(names[zoneName(i)], n)
		all = append(all, n)
	}
	perZone := testing.Benchmark(func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, ns := range names {
				ring.New(ns, 0)
			}
		}
	})
	oneZone := testing.Benchmark(func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			ring.New(names[zoneName(0)], 0)
		}
	})
	one := testing.Benchmark(func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			ring.New(all, 0)
		}
	})
	// Keys moved by a leave and a join in one zone, over 100,000 keys placed on every zone.
	keys := make([]uint64, 100_000)
	for i := range keys {
		keys[i] = ring.HashString(fmt.Sprintf("/vod/title-%03d/1280x720/%05d.m4s", i%500, i/500))
	}
	zone := zoneName(0)
	before := ring.New(names[zone], 0)
	leave := ring.New(names[zone][1:], 0)
	join := ring.New(append(slices.Clone(names[zone]), "new-edge"), 0)
	moved := func(a, b *ring.Ring) float64 {
		n := 0
		for _, h := range keys {
			if a.OwnerName(h) != b.OwnerName(h) {
				n++
			}
		}
		return float64(n) / float64(len(keys))
	}
	leaveMoved, joinMoved := moved(before, leave), moved(before, join)
	fmt.Fprintf(os.Stderr, "scale200: ring of a zone %v, every zone %v\n", time.Duration(oneZone.NsPerOp()), time.Duration(perZone.NsPerOp()))

	t0 := time.Now()
	cpu0 := selfCPU()
	for i := 0; i < *nEdges; i++ {
		// Every edge joins the first three, as every pod joins a headless Service's addresses.
		var join []string
		for j := 0; j < min(i, 3); j++ {
			join = append(join, edges[j].cl.GossipAddr())
		}
		e, err := startEdge(zoneName(i), join)
		if err != nil {
			return "", err
		}
		edges = append(edges, e)
	}
	stopProgress := make(chan struct{})
	go func() {
		t := time.NewTicker(10 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-stopProgress:
				return
			case <-t.C:
				lo, hi := *nEdges, 0
				for _, e := range edges {
					n := e.s.ClusterSize()
					lo, hi = min(lo, n), max(hi, n)
				}
				var m runtime.MemStats
				runtime.ReadMemStats(&m)
				fmt.Fprintf(os.Stderr, "scale200: forming: rings hold %d to %d edges; %d goroutines, heap %d MB, %.0f CPU s\n",
					lo, hi, runtime.NumGoroutine(), m.HeapInuse>>20, selfCPU()-cpu0)
			}
		}
	}()
	// Formed: every edge holds at least 99% of the edges on its rings (on a loaded machine a
	// member or two is always suspected somewhere, which takes it off the rings for a while).
	_, err := waitRings(10*time.Minute, func(e *simEdge) bool { return e.s.ClusterSize()*100 >= *nEdges*99 })
	close(stopProgress)
	if err != nil {
		return "", fmt.Errorf("forming the cluster: %w", err)
	}
	formed := time.Since(t0)
	formCPU := selfCPU() - cpu0
	fmt.Fprintf(os.Stderr, "scale200: %d edges in every ring after %v\n", *nEdges, formed.Round(time.Millisecond))

	// Steady state: gossip bytes and CPU.
	runtime.GC()
	b0, c0, w0 := sent.Load(), selfCPU(), time.Now()
	// Meanwhile, how many edges each edge's rings miss (suspected, or not yet known).
	var missSum, missN, missMax int
	for time.Since(w0) < *quiet {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		for _, e := range edges {
			m := *nEdges - e.s.ClusterSize()
			missSum, missN, missMax = missSum+m, missN+1, max(missMax, m)
		}
		time.Sleep(500 * time.Millisecond)
	}
	wall := time.Since(w0).Seconds()
	// How many of its zone's other edges' load reports (fresh: under 5 s old) each edge holds:
	// bounded-load placement uses them.
	var loadsSeen, loadsWanted int
	for _, e := range edges {
		for _, m := range e.cl.Members() {
			if m.Role == cluster.RoleEdge && m.Zone == e.zone && m.Name != e.name && m.Healthy() {
				loadsWanted++
				if m.Load != nil {
					loadsSeen++
				}
			}
		}
	}
	bytesPerMember := float64(sent.Load()-b0) / wall / float64(*nEdges)
	coresAll := (selfCPU() - c0) / wall
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Fprintf(os.Stderr, "scale200: steady %.0f B/s per member, %.3f cores in all\n", bytesPerMember, coresAll)

	// Kills and joins.
	var outOfEvery, perEdge, inEvery, joinPerEdge []time.Duration
	var killErrs []string
	for k := 0; k < *kills; k++ {
		live := alive()
		victim := live[3+rand.IntN(len(live)-3)] // not one of the three every edge joins
		victim.cl.Shutdown()                     // as SIGKILL: no goodbye
		victim.dead = true
		seen, err := waitRings(60*time.Second, func(e *simEdge) bool { return !e.s.RingHas(victim.name) })
		if err != nil {
			killErrs = append(killErrs, err.Error())
		}
		var worst time.Duration
		for _, d := range seen {
			perEdge = append(perEdge, d)
			worst = max(worst, d)
		}
		outOfEvery = append(outOfEvery, worst)
		fmt.Fprintf(os.Stderr, "scale200: kill %d: out of every ring after %v\n", k+1, worst.Round(time.Millisecond))
		// A new edge in the victim's zone.
		ne, err := startEdge(victim.zone, []string{edges[0].cl.GossipAddr(), edges[1].cl.GossipAddr(), edges[2].cl.GossipAddr()})
		if err != nil {
			return "", err
		}
		edges = append(edges, ne)
		seen, err = waitRings(60*time.Second, func(e *simEdge) bool { return e.s.RingHas(ne.name) })
		if err != nil {
			killErrs = append(killErrs, "join: "+err.Error())
		}
		worst = 0
		for _, d := range seen {
			joinPerEdge = append(joinPerEdge, d)
			worst = max(worst, d)
		}
		inEvery = append(inEvery, worst)
		fmt.Fprintf(os.Stderr, "scale200: join %d: in every ring after %v\n", k+1, worst.Round(time.Millisecond))
	}

	// Purges: published from a random edge, timed to every live edge's ack.
	var purgeAll, purgeApply []time.Duration
	var purgeIncomplete int
	for i := 0; i < *purges; i++ {
		live := alive()
		from := live[rand.IntN(len(live))]
		start := time.Now()
		res, err := purge.All(ctx, from.cl, purge.Request{Prefix: fmt.Sprintf("/vod/title-%03d/", i)}, 10*time.Second)
		fmt.Fprintf(os.Stderr, "scale200: purge %d: %d of %d edges confirmed in %v\n", i+1, len(res.Confirmed), res.Edges, time.Since(start).Round(time.Millisecond))
		if err != nil {
			return "", err
		}
		purgeAll = append(purgeAll, time.Since(start))
		if !res.Complete {
			purgeIncomplete++
		}
		mu.Lock()
		for _, at := range applied[res.ID] {
			purgeApply = append(purgeApply, at.Sub(start))
		}
		mu.Unlock()
	}

	var b strings.Builder
	fmt.Fprintf(&b, "## %d edges in %d zones, measured (%s transport)\n\n", *nEdges, *nZones, *transport)
	fmt.Fprintf(&b, "`go run ./bench scale200 --transport %s --edges %d --zones %d --kills %d --purges %d --quiet %v` on %d CPUs (GOMAXPROCS %d), shared. Every edge is a real `edge.Server` (placement rings, purge, load sampling) on a real `cluster.Cluster`: hashicorp/memberlist %s, with the LAN timings edgecdn runs with (probe 1 s, timeout 500 ms, suspicion x4, gossip every 100 ms, push/pull every 15 s) and load reports every second. All %d members are in this one process: the CPU figures are the process's user+system time divided among them, and scheduling delays on 2 shared cores are part of what the failure detector sees. The edges' HTTP is not served: this measures the control plane (membership, rings, events), not content.\n\n",
		*transport, *nEdges, *nZones, *kills, *purges, *quiet, runtime.NumCPU(), runtime.GOMAXPROCS(0), transportDesc[*transport], *nEdges)
	fmt.Fprintf(&b, "| what | figure |\n|---|---|\n")
	fmt.Fprintf(&b, "| cluster formed (every edge has at least 99%% of the %d on its rings), members started one after the other | %v (%.1f CPU s) |\n", *nEdges, formed.Round(time.Millisecond), formCPU)
	fmt.Fprintf(&b, "| edges missing from an edge's rings while nothing fails (suspected under the machine's load), mean / max over %d samples | %.2f / %d |\n", missN, float64(missSum)/float64(max(missN, 1)), missMax)
	fmt.Fprintf(&b, "| killed edge out of every ring (no goodbye; the last of %d edges to drop it), median / p99 over %d kills | %v / %v |\n", len(alive())-1, len(outOfEvery), pct(outOfEvery, 50), pct(outOfEvery, 99))
	fmt.Fprintf(&b, "| killed edge out of one edge's ring, median / p99 over %d edge x kill | %v / %v |\n", len(perEdge), pct(perEdge, 50), pct(perEdge, 99))
	fmt.Fprintf(&b, "| joined edge in every ring, median / p99 over %d joins | %v / %v |\n", len(inEvery), pct(inEvery, 50), pct(inEvery, 99))
	fmt.Fprintf(&b, "| joined edge in one edge's ring, median / p99 | %v / %v |\n", pct(joinPerEdge, 50), pct(joinPerEdge, 99))
	fmt.Fprintf(&b, "| gossip sent per member (UDP packets and the dialing side of TCP streams) | %.0f B/s = %.1f kbit/s |\n", bytesPerMember, bytesPerMember*8/1000)
	fmt.Fprintf(&b, "| CPU per member, steady (gossip, failure detection, load reports, 1 s ring refresh) | %.4f cores (%.2f cores for all %d) |\n", coresAll/float64(*nEdges), coresAll, *nEdges)
	fmt.Fprintf(&b, "| zone peers' load reports an edge holds fresh (under 5 s old), steady | %.2f (%d of %d) |\n", float64(loadsSeen)/float64(max(loadsWanted, 1)), loadsSeen, loadsWanted)
	fmt.Fprintf(&b, "| process heap in use with %d members | %.0f MB |\n", *nEdges, float64(ms.HeapInuse)/1e6)
	fmt.Fprintf(&b, "| ring rebuild at each edge on a membership change: the changed zone's ring (%d edges x 256 virtual nodes) | %v, %d allocs, %d KB |\n",
		len(names[zoneName(0)]), time.Duration(oneZone.NsPerOp()).Round(time.Microsecond), oneZone.AllocsPerOp(), oneZone.AllocedBytesPerOp()/1024)
	fmt.Fprintf(&b, "| every zone's ring (%d rings), what each edge rebuilt on any change before rings were kept per zone | %v, %d allocs, %d KB |\n",
		len(names), time.Duration(perZone.NsPerOp()).Round(time.Microsecond), perZone.AllocsPerOp(), perZone.AllocedBytesPerOp()/1024)
	fmt.Fprintf(&b, "| one ring of all %d edges (for comparison) | %v, %d allocs, %d KB |\n", len(all), time.Duration(one.NsPerOp()).Round(time.Microsecond), one.AllocsPerOp(), one.AllocedBytesPerOp()/1024)
	fmt.Fprintf(&b, "| keys moved in the zone by a leave / a join (%d edges, 100,000 keys; ideal %.3f / %.3f) | %.3f / %.3f; other zones 0 |\n", len(names[zone]), 1/float64(len(names[zone])), 1/float64(len(names[zone])+1), leaveMoved, joinMoved)
	fmt.Fprintf(&b, "| cluster-wide purge, call to every live edge's ack, p50 / p99 over %d | %v / %v (%d incomplete at 10 s) |\n", len(purgeAll), pct(purgeAll, 50), pct(purgeAll, 99), purgeIncomplete)
	fmt.Fprintf(&b, "| purge applied at one edge after the call, p50 / p99 over %d edge x purge | %v / %v |\n", len(purgeApply), pct(purgeApply, 50), pct(purgeApply, 99))
	if len(killErrs) > 0 {
		fmt.Fprintf(&b, "\nNot converged: %s\n", strings.Join(killErrs, "; "))
	}
	return b.String(), nil
}

var transportDesc = map[string]string{
	"udp": "over its own UDP and TCP transport on 127.0.0.1, one port per member (the kernel's loopback networking is in the CPU figures)",
	"mem": "over an in-memory network in the process (bench/memnet.go: packets and streams between the members' transports without sockets; a stopped member loses what is sent to it and refuses streams, as a dead host does; the kernel's networking is not in the CPU figures, and no packet is lost but to a full receive buffer)",
}

// pct is the p-th percentile (nearest rank) of ds, rounded for a table.
func pct(ds []time.Duration, p int) time.Duration {
	return percentile(ds, p).Round(time.Millisecond)
}
