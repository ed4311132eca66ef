package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"edgecdn/edge"
	"edgecdn/internal/catalog"
	"edgecdn/internal/cluster"
	"edgecdn/internal/harness"
	"edgecdn/player-sim/player"
)

// proc is a server process of the test: `edgecdn origin` or `edgecdn edge`, possibly run
// through a wrapper (`ip netns exec NS`).
type proc = harness.Proc

// startProc runs argv, waits (30 s at most) for its log line with msg want, and registers a
// cleanup that kills its process group and, if the test failed, prints the end of its log.
func startProc(t *testing.T, name, want string, argv ...string) *proc {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	// Its own process group, so that cleanup kills whatever it runs; and killed with the test
	// binary should that die without running cleanups (a test timeout).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	p, err := harness.Start(cmd, name, want, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-p.Cmd.Process.Pid, syscall.SIGKILL)
		select {
		case <-p.Done:
		case <-time.After(10 * time.Second):
			t.Errorf("%s (pid %d) still running 10 s after SIGKILL", name, p.Cmd.Process.Pid)
		}
		if t.Failed() {
			t.Logf("--- %s: last log lines\n%s", name, p.Log)
		}
	})
	return p
}

// freeGossipPorts returns n loopback ports free for both TCP and UDP (memberlist binds both).
func freeGossipPorts(t *testing.T, n int) []int {
	t.Helper()
	ports, err := harness.FreePorts(n)
	if err != nil {
		t.Fatal(err)
	}
	return ports
}

// clusterView is an edge's GET /cluster answer, as the tests read it.
type clusterView struct{ edge.ClusterInfo }

func (v clusterView) state(name string) string      { return string(v.State(name)) }
func (v clusterView) inRing(zone, name string) bool { return v.InRing(zone, name) }

func (v clusterView) alive() int {
	n := 0
	for _, m := range v.Members {
		if m.State == cluster.Alive {
			n++
		}
	}
	return n
}

// summary is a one-line account of the view, for failure messages.
func (v clusterView) summary() string {
	var b strings.Builder
	for _, m := range v.Members {
		fmt.Fprintf(&b, "%s=%s ", m.Name, m.State)
	}
	fmt.Fprintf(&b, "rings=%v", v.Rings)
	return b.String()
}

func getCluster(c *http.Client, httpAddr string) (clusterView, error) {
	var v clusterView
	req, err := http.NewRequest(http.MethodGet, "http://"+httpAddr+"/cluster", nil)
	if err != nil {
		return v, err
	}
	// Edges started with --admin-token want it for /cluster too; the others ignore it.
	req.Header.Set("Authorization", "Bearer "+testAdminToken)
	resp, err := c.Do(req)
	if err != nil {
		return v, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return v, fmt.Errorf("GET /cluster: %s", resp.Status)
	}
	return v, json.NewDecoder(resp.Body).Decode(&v)
}

// pollUntil calls cond every 50 ms until it holds and returns how long that took; after
// timeout it fails the test with cond's last account of what it saw.
func pollUntil(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) time.Duration {
	t.Helper()
	d, err := harness.Poll(context.Background(), timeout, 50*time.Millisecond, cond)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return d
}

// edgeViews is a pollUntil condition that holds once every edge in at has answered GET
// /cluster with a view ok accepts; when[i] is how long after since edge i first did.
func edgeViews(c *http.Client, at []*proc, since time.Time, ok func(i int, v clusterView) bool) (when []time.Duration, all func() (bool, string)) {
	return harness.Each(len(at), since, func(i int) (bool, string) {
		v, err := getCluster(c, at[i].Addr)
		if err != nil {
			return false, fmt.Sprintf("%s: %v", at[i].Name, err)
		}
		return ok(i, v), fmt.Sprintf("%s: %s", at[i].Name, v.summary())
	})
}

// fmtWhen lists when each edge got somewhere, and when the last of them did.
func fmtWhen(at []*proc, when []time.Duration) string {
	var b strings.Builder
	for i, e := range at {
		fmt.Fprintf(&b, "%s %v, ", e.Name, when[i].Round(time.Millisecond))
	}
	return fmt.Sprintf("%sall after %v", b.String(), slices.Max(when).Round(time.Millisecond))
}

// testAdminToken is the admin token of the edges that have one.
const testAdminToken = "partition-test-token"

// segment is one segment URL path of the catalog with its size.
type segment struct {
	path string
	size int64
}

func segmentsOf(t *testing.T, dir string) []segment {
	t.Helper()
	cat, err := catalog.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	var segs []segment
	for p, s := range cat.SegmentPaths() {
		segs = append(segs, segment{"/vod/" + p, s.Size})
	}
	slices.SortFunc(segs, func(a, b segment) int { return strings.Compare(a.path, b.path) })
	if len(segs) == 0 {
		t.Fatal("catalog without segments")
	}
	return segs
}

// getSegment GETs one segment and checks the status and the body's length.
func getSegment(c *http.Client, base string, s segment) error {
	resp, err := c.Get(base + s.path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	cs := resp.Header.Get("Cache-Status")
	switch {
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("GET %s%s: %s (Cache-Status %q)", base, s.path, resp.Status, cs)
	case err != nil:
		return fmt.Errorf("GET %s%s: body cut after %d of %d bytes (Cache-Status %q): %v", base, s.path, n, s.size, cs, err)
	case n != s.size:
		return fmt.Errorf("GET %s%s: %d bytes, want %d (Cache-Status %q)", base, s.path, n, s.size, cs)
	}
	return nil
}

func testClient() *http.Client {
	return &http.Client{
		Timeout:   20 * time.Second,
		Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 16, DisableCompression: true},
	}
}

// load is a bounded load: workers GET every segment in turn, each pass at the next base URL,
// until stopped, maxDur has passed or maxReq requests were made.
type load struct {
	ok, failed, total atomic.Int64
	start             time.Time
	stop              chan struct{}
	wg                sync.WaitGroup

	mu   sync.Mutex
	errs []string
}

func startLoad(c *http.Client, bases []string, segs []segment, workers int, maxDur time.Duration, maxReq int64) *load {
	return startLoadWith(bases, segs, workers, maxDur, maxReq, func(base string, s segment) error { return getSegment(c, base, s) })
}

// startLoadWith runs workers that GET every segment in turn with get, each pass at the next base
// URL, until maxDur or maxReq requests; failures are counted and the first 20 kept.
func startLoadWith(bases []string, segs []segment, workers int, maxDur time.Duration, maxReq int64, get func(base string, s segment) error) *load {
	l := &load{start: time.Now(), stop: make(chan struct{})}
	deadline := l.start.Add(maxDur)
	for w := range workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for n := w * len(segs) / workers; ; n++ {
				select {
				case <-l.stop:
					return
				default:
				}
				if time.Now().After(deadline) || l.total.Add(1) > maxReq {
					return
				}
				base := bases[(n/len(segs)+w)%len(bases)]
				if err := get(base, segs[n%len(segs)]); err != nil {
					l.failed.Add(1)
					l.mu.Lock()
					if len(l.errs) < 20 {
						l.errs = append(l.errs, fmt.Sprintf("at %.2fs: %v", time.Since(l.start).Seconds(), err))
					}
					l.mu.Unlock()
				} else {
					l.ok.Add(1)
				}
			}
		}()
	}
	return l
}

// end stops the load and waits for its workers.
func (l *load) end() time.Duration {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.wg.Wait()
	return time.Since(l.start)
}

func (l *load) errors() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.errs, "\n")
}

// metricSum adds up every sample of a series (harness.Metric).
func metricSum(c *http.Client, httpAddr, series string) (float64, error) {
	return harness.Metric(c, httpAddr, series)
}

// TestEdgeSIGKILLUnderLoad: three edges of one zone gossip; while a load runs at two of them,
// the third is killed with SIGKILL. The survivors must not fail one request (they fill from the
// origin when the dead owner does not answer), and must mark it dead and drop it from their
// ring within 15 s.
func TestEdgeSIGKILLUnderLoad(t *testing.T) {
	dir := t.TempDir()
	if _, errOut, code := run(t, nil, "package", "--out", dir, "--titles", "1", "--ladder", "small", "--duration", "40s", "--log-level", "warn"); code != 0 {
		t.Fatalf("package: exit %d: %s", code, errOut)
	}
	segs := segmentsOf(t, dir)
	_, originURL := startOrigin(t, dir)

	const zone = "zone-k"
	ports := freeGossipPorts(t, 3)
	names := []string{"edge-1", "edge-2", "edge-3"}
	edges := make([]*proc, 3)
	for i, name := range names {
		args := []string{bin, "edge", "--name", name, "--zone", zone, "--origin", originURL,
			"--listen", "127.0.0.1:0", "--gossip-listen", "127.0.0.1:" + strconv.Itoa(ports[i]),
			"--cache-size", "256MiB", "--log-format", "json",
			// Non-owners never keep copies: every request for a key the victim owns goes
			// through the victim until the survivors drop it from their ring.
			"--hot-threshold", "-1"}
		if i > 0 {
			args = append(args, "--join", "127.0.0.1:"+strconv.Itoa(ports[0]))
		}
		edges[i] = startProc(t, name, "edge listening", args...)
	}
	c := testClient()
	pollUntil(t, 30*time.Second, "3 alive members at every edge", func() (bool, string) {
		for _, e := range edges {
			v, err := getCluster(c, e.Addr)
			if err != nil {
				return false, fmt.Sprintf("%s: %v", e.Name, err)
			}
			if v.alive() != 3 || len(v.Rings[zone]) != 3 {
				return false, fmt.Sprintf("%s: %s", e.Name, v.summary())
			}
		}
		return true, ""
	})

	survivors, victim := edges[:2], edges[2]
	bases := []string{"http://" + survivors[0].Addr, "http://" + survivors[1].Addr}
	l := startLoad(c, bases, segs, 4, 15*time.Second, 100_000)
	defer l.end()
	// Mid-load: two passes over the title at each survivor, so every key the victim owns has
	// been asked of it.
	pollUntil(t, 10*time.Second, "load warm-up", func() (bool, string) {
		return l.ok.Load()+l.failed.Load() >= int64(4*len(segs)), fmt.Sprintf("%d requests", l.ok.Load()+l.failed.Load())
	})
	victimServed, err := metricSum(c, victim.Addr, "edgecdn_edge_requests_total")
	if err != nil {
		t.Fatal(err)
	}
	if victimServed == 0 {
		t.Fatal("the victim answered no peer request before the kill: the test would not exercise its loss")
	}

	if err := victim.Cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	atKill := l.ok.Load() + l.failed.Load()
	seen, dropped := edgeViews(c, survivors, killed, func(i int, v clusterView) bool {
		st := v.state(victim.Name)
		if st == "alive" || st == "" || v.inRing(zone, victim.Name) {
			return false
		}
		if st != "dead" {
			t.Errorf("%s sees the SIGKILLed %s as %q, want dead (a failure, not a departure)", survivors[i].Name, victim.Name, st)
		}
		return true
	})
	detect := pollUntil(t, 15*time.Second, "both survivors mark "+victim.Name+" not alive and drop it from the ring", dropped)
	// Keep the load on after detection: two more passes, served with the shrunken ring (or
	// until the load's own end, 15 s after its start).
	afterDetect := l.ok.Load() + l.failed.Load()
	harness.Poll(context.Background(), 15*time.Second-time.Since(l.start), 20*time.Millisecond, func() (bool, string) {
		return l.ok.Load()+l.failed.Load() >= afterDetect+int64(2*len(segs)), "two passes after detection"
	})
	dur := l.end()

	var peerFetches, peerErrors float64
	for _, s := range survivors {
		f, _ := metricSum(c, s.Addr, "edgecdn_edge_peer_fetches_total")
		e, _ := metricSum(c, s.Addr, "edgecdn_edge_peer_errors_total")
		peerFetches, peerErrors = peerFetches+f, peerErrors+e
	}
	t.Logf("SIGKILL detection (victim not alive and out of the ring): %s after %v, %s after %v, both after %v",
		survivors[0].Name, seen[0].Round(time.Millisecond), survivors[1].Name, seen[1].Round(time.Millisecond), detect.Round(time.Millisecond))
	t.Logf("load: %d requests in %v (%d before the kill, %d until detection, %d after), %d failed; victim answered %.0f peer requests before the kill; survivors' peer fetches %.0f, peer errors %.0f",
		l.ok.Load()+l.failed.Load(), dur.Round(time.Millisecond), atKill, afterDetect-atKill, l.ok.Load()+l.failed.Load()-afterDetect, l.failed.Load(), victimServed, peerFetches, peerErrors)
	if n := l.failed.Load(); n != 0 {
		t.Errorf("%d failed requests at the surviving edges:\n%s", n, l.errors())
	}
	if detect > 15*time.Second {
		t.Errorf("detection took %v, want at most 15 s", detect)
	}
}

// zoneStack is one zone as processes: three edges, the zone's balancer and steering, in one
// gossip cluster whose seed is the first edge.
type zoneStack struct {
	zone      string
	names     []string
	edges     map[string]*proc
	lb, steer *proc
}

// startZoneStack starts a zone's three edges (with edgeArgs), its balancer and steering on
// origin; tag ends the balancer's and steering's member names.
func startZoneStack(t *testing.T, zone, origin, tag string, edgeArgs ...string) *zoneStack {
	t.Helper()
	gp := freeGossipPorts(t, 5)
	seed := "127.0.0.1:" + strconv.Itoa(gp[0])
	z := &zoneStack{zone: zone, names: []string{"edge-1", "edge-2", "edge-3"}, edges: map[string]*proc{}}
	for i, name := range z.names {
		args := []string{bin, "edge", "--name", name, "--zone", zone, "--origin", origin, "--listen", "127.0.0.1:0",
			"--gossip-listen", "127.0.0.1:" + strconv.Itoa(gp[i]), "--cache-size", "256MiB", "--log-format", "json"}
		if i > 0 {
			args = append(args, "--join", seed)
		}
		z.edges[name] = startProc(t, name, "edge listening", append(args, edgeArgs...)...)
	}
	z.lb = startProc(t, "lb", "lb listening", bin, "lb", "--name", "lb-"+tag, "--zone", zone, "--listen", "127.0.0.1:0",
		"--gossip-listen", "127.0.0.1:"+strconv.Itoa(gp[3]), "--join", seed, "--log-format", "json")
	z.steer = startProc(t, "steering", "steering listening", bin, "steering", "--name", "steering-"+tag, "--origin", origin,
		"--listen", "127.0.0.1:0", "--gossip-listen", "127.0.0.1:"+strconv.Itoa(gp[4]), "--join", seed, "--log-format", "json")
	return z
}

// waitFormed waits until every edge has the three on its ring, the balancer has them in service
// and steering ranks them healthy for title.
func (z *zoneStack) waitFormed(t *testing.T, c *http.Client, title string) {
	t.Helper()
	pollUntil(t, 30*time.Second, "3 edges in every ring, in the balancer and at steering", func() (bool, string) {
		for _, name := range z.names {
			v, err := getCluster(c, z.edges[name].Addr)
			if err != nil {
				return false, fmt.Sprintf("%s: %v", name, err)
			}
			if len(v.Rings[z.zone]) != 3 {
				return false, fmt.Sprintf("%s: %s", name, v.summary())
			}
		}
		if n, err := metricSum(c, z.lb.Addr, "edgecdn_lb_healthy_edges"); err != nil || n != 3 {
			return false, fmt.Sprintf("lb: %v healthy edges (%v)", n, err)
		}
		if v, err := getSteer(c, z.steer.Addr, title, z.zone); err != nil {
			return false, err.Error()
		} else if n, _ := v.healthyIn(""); n != 3 {
			return false, fmt.Sprintf("steering: %d healthy edges", n)
		}
		return true, ""
	})
}

// zoneFleet is a fleet of real-time players (player.RunFleet) on a zoneStack: got holds each
// player's segments as they come, under mu; done gets the report.
type zoneFleet struct {
	mu   sync.Mutex
	got  [][]chunkAt
	done chan *player.Report
}

// startFleet starts players players of title, those viaSteering reports through steering, the
// others through the balancer, for 80 s at the most (the test's end stops them sooner).
func (z *zoneStack) startFleet(t *testing.T, title string, players int, seed uint64, viaSteering func(int) bool) *zoneFleet {
	f := &zoneFleet{got: make([][]chunkAt, players), done: make(chan *player.Report, 1)}
	ctx, cancel := context.WithTimeout(context.Background(), 80*time.Second)
	t.Cleanup(cancel)
	go func() {
		rep, err := player.RunFleet(ctx, player.FleetConfig{
			Players: players, Titles: []string{title}, BufferCap: 14 * time.Second, Seed: seed,
			NewEntry: func(i int) player.Entry {
				if viaSteering(i) {
					return &player.SteeringEntry{URL: "http://" + z.steer.Addr, Zone: z.zone}
				}
				return player.URLEntry{Base: "http://" + z.lb.Addr}
			},
			OnChunk: func(i int, ch player.Chunk) {
				f.mu.Lock()
				defer f.mu.Unlock()
				f.got[i] = append(f.got[i], chunkAt{at: time.Now(), c: ch, buf: ch.BufferS})
			},
		})
		if err != nil {
			t.Error(err)
		}
		f.done <- rep
	}()
	return f
}

// waitDropped waits, up to d, until victim is in state at every survivor and off its ring, out
// of the balancer's rotation and not healthy at steering. It returns how long after since each
// of the three saw it (the survivors: the last of them).
func (z *zoneStack) waitDropped(t *testing.T, c *http.Client, title, victim, state string, survivors []*proc, since time.Time, d time.Duration) (ringAt, lbAt, steerAt time.Duration) {
	t.Helper()
	_, dropped := edgeViews(c, survivors, since, func(_ int, v clusterView) bool {
		return v.state(victim) == state && !v.inRing(z.zone, victim)
	})
	pollUntil(t, d, victim+" "+state+" at both survivors and off their rings, out of the balancer's rotation and unhealthy at steering", func() (bool, string) {
		var status []string
		if ok, st := dropped(); !ok {
			status = append(status, st)
		} else if ringAt == 0 {
			ringAt = time.Since(since)
		}
		if lbAt == 0 {
			if n, err := metricSum(c, z.lb.Addr, "edgecdn_lb_healthy_edges"); err == nil && n == float64(len(survivors)) {
				lbAt = time.Since(since)
			} else {
				status = append(status, fmt.Sprintf("lb: %v healthy edges (%v)", n, err))
			}
		}
		if steerAt == 0 {
			if v, err := getSteer(c, z.steer.Addr, title, z.zone); err == nil {
				if n, in := v.healthyIn(victim); n == len(survivors) && !in {
					steerAt = time.Since(since)
				} else {
					status = append(status, fmt.Sprintf("steering: %d healthy", n))
				}
			}
		}
		return ringAt != 0 && lbAt != 0 && steerAt != 0, strings.Join(status, "; ")
	})
	return ringAt, lbAt, steerAt
}

// waitBuffer waits until every player holds secs of buffer or more (its buffer after its last
// segment, less the time played since) and returns the least.
func (f *zoneFleet) waitBuffer(t *testing.T, secs float64) (least float64) {
	t.Helper()
	pollUntil(t, 30*time.Second, fmt.Sprintf("every player with %.1f s of buffer", secs), func() (bool, string) {
		f.mu.Lock()
		defer f.mu.Unlock()
		least = 1e9
		for i := range f.got {
			if len(f.got[i]) == 0 {
				return false, fmt.Sprintf("player %d has no segment yet", i)
			}
			last := f.got[i][len(f.got[i])-1]
			least = min(least, last.buf-time.Since(last.at).Seconds())
		}
		return least >= secs, fmt.Sprintf("least buffer %.1f s", least)
	})
	return least
}

// lastEdges counts the players that which picks by the edge of their last segment.
func (f *zoneFleet) lastEdges(which func(int) bool) map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	on := map[string]int{}
	for i := range f.got {
		if which(i) && len(f.got[i]) > 0 {
			on[f.got[i][len(f.got[i])-1].c.EdgeName]++
		}
	}
	return on
}

// signal sends sig to the edge called name and returns it and the other edges.
func (z *zoneStack) signal(t *testing.T, name string, sig syscall.Signal) (victim *proc, survivors []*proc) {
	t.Helper()
	for _, n := range z.names {
		if n != name {
			survivors = append(survivors, z.edges[n])
		}
	}
	victim = z.edges[name]
	if err := victim.Cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	return victim, survivors
}
