package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"image/color"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"edgecdn/edge"
	"edgecdn/internal/catalog"
	"edgecdn/internal/cluster"
	"edgecdn/internal/harness"
	"edgecdn/internal/steerapi"
	"edgecdn/origin/packager"
	"edgecdn/player-sim/player"
)

// runFailover kills one edge with SIGKILL under a fleet of players and measures how the rest of
// the CDN and the players get over it: failure detection in the survivors' gossip, the balancer
// and steering; the players' switch to another edge; stalls, failures and corrupt segments.
// Everything but the players runs as real edgecdn processes.
func runFailover(ctx context.Context, args []string) (string, error) {
	fs := newFlags("failover")
	runs := fs.Int("runs", 3, "repetitions (fresh edges, balancer and steering each time); the median is reported")
	players := fs.Int("players", 30, "players in the fleet")
	entry := fs.String("entry", "both", "how players find edges: steering (ranked edges, the player fails over), lb (the zone balancer's URL, the balancer fails over), or both (half each)")
	secondZone := fs.Bool("second-zone", false, "3 more edges (and a balancer) in a second zone; players spread over both zones, the victim is in the first")
	media := fs.Duration("media", 90*time.Second, "media each player plays")
	link := fs.Float64("link-mbps", 10, "every player's own link, Mbit/s (the top rendition is 4.3)")
	threshold := fs.Duration("buffer", 8*time.Second, "kill once every player has at least this much buffer")
	killWait := fs.Duration("kill-wait", 60*time.Second, "kill after this long even if some players have less buffer (said in the report)")
	titles := fs.Int("titles", 6, "titles in the catalog (Zipf 1.0)")
	seed := fs.Uint64("seed", 1, "seed of the fleet (arrivals, titles); run r uses seed+r")
	if err := parseFlags(fs, args); err != nil {
		return "", err
	}
	if *entry != "both" && *entry != "steering" && *entry != "lb" {
		return "", fmt.Errorf("--entry %q: want steering, lb or both", *entry)
	}
	if *runs < 1 || *players < 1 {
		return "", errors.New("--runs and --players must be at least 1")
	}
	out, err := resultsDir()
	if err != nil {
		return "", err
	}
	work, bin, err := workWithBinary(ctx, "failover")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(work)
	content := filepath.Join(work, "content")
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	dur := time.Duration(math.Ceil(media.Seconds()/4)) * 4 * time.Second
	cat, err := packager.Package(ctx, packager.Config{Out: content, Titles: *titles, Duration: dur, Logger: quiet})
	if err != nil {
		return "", err
	}
	origin, err := startEdgecdn(ctx, bin, "origin", "origin", "--content", content, "--name", "origin")
	if err != nil {
		return "", err
	}
	defer origin.stop()

	zones := []string{"zone-a"}
	if *secondZone {
		zones = append(zones, "zone-b")
	}
	cfg := foConfig{bin: bin, origin: "http://" + origin.addr, zones: zones, perZone: 3, cat: cat, players: *players, entry: *entry,
		media: *media, linkMbps: *link, threshold: *threshold, killWait: *killWait, out: out, load: loadNote()}
	var results []*foRun
	for r := 0; r < *runs; r++ {
		cfg.seed, cfg.run = *seed+uint64(r), r+1
		fmt.Fprintf(os.Stderr, "failover: run %d of %d\n", r+1, *runs)
		res, err := foOnce(ctx, cfg)
		if err != nil {
			return "", fmt.Errorf("run %d: %w", r+1, err)
		}
		results = append(results, res)
	}
	return foReport(cfg, results, strings.Join(args, " ")), nil
}

type foConfig struct {
	bin, origin string
	zones       []string
	perZone     int
	cat         *catalog.Catalog
	players     int
	entry       string
	media       time.Duration
	linkMbps    float64
	threshold   time.Duration
	killWait    time.Duration
	out         string
	seed        uint64
	run         int
	load        string // loadNote at the start
}

// foEdge is one edge process of a run.
type foEdge struct {
	name, zone string
	p          *proc
}

// foRec is one segment a player accepted, with the wall time it arrived.
type foRec struct {
	at time.Time
	c  player.Chunk
}

// foKind is the outcome for the players of one entry kind (steering or lb) in one run.
type foKind struct {
	players, affected, switched int
	switchP50, switchMax        float64 // seconds from the kill to the first segment from another edge (its last byte)
	firstByteP50, firstByteMax  float64 // the same to that segment's first byte
	buffered, stalls            int     // players with the threshold at the kill; their stalls after it
	stallS, rebufRatio          float64 // their stall seconds after the kill; their sessions' rebuffer ratio
	failed, errors, edgeSwitch  int
	corruptAccepted, corrupt    int
}

// foRun is one run's outcome.
type foRun struct {
	run                  int
	victim               string
	killAfter            float64 // seconds from the fleet's start
	buffered, started    int     // players with the threshold at the kill, players started
	waitExpired          bool
	detectFirst, detect  float64 // survivors' /cluster: the first, and all of them; -1 if never
	victimState          string  // the state the survivors gave it
	lbOut, steerOut      float64 // -1 if never (or not run)
	kinds                map[string]*foKind
	png                  string
	wall                 float64
	affectedNoSwitch     int
	failReasons          []string
	servedByVictimBefore int // segments the victim served before the kill
}

const foToken = "bench-failover-admin"

// foStack is the cluster of one failover run: its edges, each zone's balancer, steering.
type foStack struct {
	edges []*foEdge
	lbs   map[string]*proc
	steer *proc
	procs []*proc // every process still running
}

func (st *foStack) stop() {
	for _, p := range st.procs {
		p.stop()
	}
}

// foStartStack starts the edges of every zone, a balancer per zone and steering, all in one
// gossip cluster, the first edge its seed.
func foStartStack(ctx context.Context, cfg foConfig, token string) (_ *foStack, err error) {
	st := &foStack{lbs: map[string]*proc{}}
	defer func() {
		if err != nil {
			st.stop()
		}
	}()
	nEdges := cfg.perZone * len(cfg.zones)
	ports, err := harness.FreePorts(nEdges + len(cfg.zones) + 1)
	if err != nil {
		return nil, err
	}
	seed := "127.0.0.1:" + strconv.Itoa(ports[0])
	for zi, z := range cfg.zones {
		for k := 0; k < cfg.perZone; k++ {
			i := zi*cfg.perZone + k
			name := fmt.Sprintf("edge-%c%d", 'a'+zi, k+1)
			args := []string{"--name", name, "--zone", z, "--origin", cfg.origin, "--gossip-listen", "127.0.0.1:" + strconv.Itoa(ports[i]),
				"--cache-size", "512MiB", "--admin-token", token}
			if i > 0 {
				args = append(args, "--join", seed)
			}
			p, err := startEdgecdn(ctx, cfg.bin, name, "edge", args...)
			if err != nil {
				return nil, err
			}
			st.procs = append(st.procs, p)
			st.edges = append(st.edges, &foEdge{name: name, zone: z, p: p})
		}
	}
	for zi, z := range cfg.zones {
		name := fmt.Sprintf("lb-%c", 'a'+zi)
		p, err := startEdgecdn(ctx, cfg.bin, name, "lb", "--name", name, "--zone", z, "--gossip-listen", "127.0.0.1:"+strconv.Itoa(ports[nEdges+zi]),
			"--join", seed)
		if err != nil {
			return nil, err
		}
		st.procs = append(st.procs, p)
		st.lbs[z] = p
	}
	st.steer, err = startEdgecdn(ctx, cfg.bin, "steering", "steering", "--name", "steering", "--origin", cfg.origin,
		"--gossip-listen", "127.0.0.1:"+strconv.Itoa(ports[nEdges+len(cfg.zones)]), "--join", seed)
	if err != nil {
		return nil, err
	}
	st.procs = append(st.procs, st.steer)
	return st, nil
}

// foWaitFormed waits until the cluster has formed: every edge sees every edge alive on its
// zone's ring, every balancer its zone's edges, steering all of them healthy.
func foWaitFormed(ctx context.Context, c *http.Client, cfg foConfig, st *foStack, token string) error {
	edges, lbs, nEdges := st.edges, st.lbs, len(st.edges)
	steerURL, title0 := "http://"+st.steer.addr, cfg.cat.Titles[0].Name
	if _, err := harness.Poll(ctx, 45*time.Second, 100*time.Millisecond, func() (bool, string) {
		for _, e := range edges {
			v, err := foCluster(c, e.p.addr, token)
			if err != nil {
				return false, e.name + ": " + err.Error()
			}
			for _, o := range edges {
				if v.State(o.name) != cluster.Alive || !v.InRing(o.zone, o.name) {
					return false, fmt.Sprintf("%s sees %s as %q", e.name, o.name, v.State(o.name))
				}
			}
		}
		for z, lb := range lbs {
			if n, err := foLBHealthy(c, lb.addr); err != nil || n != cfg.perZone {
				return false, fmt.Sprintf("lb of %s: %d healthy edges (%v)", z, n, err)
			}
		}
		s, err := foSteer(c, steerURL, title0, cfg.zones[0])
		if err != nil {
			return false, "steering: " + err.Error()
		}
		healthy := 0
		for _, e := range s {
			if e.Healthy {
				healthy++
			}
		}
		return healthy == nEdges, fmt.Sprintf("steering ranks %d healthy edges", healthy)
	}); err != nil {
		return fmt.Errorf("cluster did not form: %w", err)
	}
	return nil
}

// foOnce is one run in named steps: start the cluster and wait until it has formed, start the
// fleet and wait until the players have their buffer, kill the victim, time its detection,
// wait for the fleet to end, then collect the players' outcome and plot the run.
func foOnce(ctx context.Context, cfg foConfig) (*foRun, error) {
	token := foToken + "-" + foRandHex(6)
	st, err := foStartStack(ctx, cfg, token)
	if err != nil {
		return nil, err
	}
	defer st.stop()
	c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	if err := foWaitFormed(ctx, c, cfg, st, token); err != nil {
		return nil, err
	}
	fctx, cancelFleet := context.WithCancel(ctx)
	defer cancelFleet()
	fl := foStartFleet(fctx, cfg, st)
	res := &foRun{run: cfg.run, kinds: map[string]*foKind{}}
	if res.waitExpired, err = fl.waitBuffered(ctx, cfg); err != nil {
		return nil, err
	}
	victim, killAt, err := foKill(st, fl, cfg, res)
	if err != nil {
		return nil, err
	}
	foWaitDetection(ctx, c, cfg, st, token, victim, killAt, res)
	rep, err := fl.wait(ctx)
	if err != nil {
		return nil, err
	}
	res.wall = time.Since(fl.start).Seconds()
	if err := fl.collect(cfg, rep, victim.name, killAt, res); err != nil {
		return nil, err
	}
	res.png = fmt.Sprintf("failover-run%d.png", cfg.run)
	if err := foPlot(filepath.Join(cfg.out, res.png), res, fl.recs, fl.start, killAt, fl.bufferAt); err != nil {
		return nil, fmt.Errorf("plot: %w", err)
	}
	return res, nil
}

// foFleet is the players of one run and every segment they accepted.
type foFleet struct {
	n     int
	kinds []string // each player's entry: "steering" or "lb"
	start time.Time
	done  chan foFleetOut // the fleet's end

	mu   sync.Mutex
	recs [][]foRec // each player's segments, in arrival order
}

type foFleetOut struct {
	rep *player.Report
	err error
}

// foStartFleet starts cfg.players players: by steering's ranking or through their zone's
// balancer as cfg.entry says, spread over the zones, each on its own link.
func foStartFleet(ctx context.Context, cfg foConfig, st *foStack) *foFleet {
	n := cfg.players
	fl := &foFleet{n: n, kinds: make([]string, n), recs: make([][]foRec, n), done: make(chan foFleetOut, 1)}
	var titles []string
	for _, t := range cfg.cat.Titles {
		titles = append(titles, t.Name)
	}
	nk := 1
	if cfg.entry == "both" {
		nk = 2
	}
	for i := range fl.kinds {
		fl.kinds[i] = "lb"
		if cfg.entry == "steering" || (cfg.entry == "both" && i%2 == 0) {
			fl.kinds[i] = "steering"
		}
	}
	zoneOf := func(i int) string { return cfg.zones[(i/nk)%len(cfg.zones)] }
	fl.start = time.Now()
	go func() {
		rep, err := player.RunFleet(ctx, player.FleetConfig{
			Players: n, Titles: titles, Rate: float64(n) / 3, MaxSeconds: cfg.media.Seconds(), Seed: cfg.seed,
			Links: []player.Link{player.ConstLink(cfg.linkMbps * 1e6)},
			NewEntry: func(i int) player.Entry {
				if fl.kinds[i] == "steering" {
					return &player.SteeringEntry{URL: "http://" + st.steer.addr, Zone: zoneOf(i)}
				}
				return player.URLEntry{Base: "http://" + st.lbs[zoneOf(i)].addr}
			},
			OnChunk: func(i int, ch player.Chunk) {
				fl.mu.Lock()
				fl.recs[i] = append(fl.recs[i], foRec{at: time.Now(), c: ch})
				fl.mu.Unlock()
			},
		})
		fl.done <- foFleetOut{rep, err}
	}()
	return fl
}

// bufferAt is player i's buffer at time t from its last segment before t (0 before its first).
// The caller holds mu while the fleet runs.
func (fl *foFleet) bufferAt(i int, t time.Time) float64 {
	rs := fl.recs[i]
	k := sort.Search(len(rs), func(k int) bool { return rs[k].at.After(t) })
	if k == 0 {
		return 0
	}
	return max(0, rs[k-1].c.BufferS-t.Sub(rs[k-1].at).Seconds())
}

// waitBuffered waits until every player has cfg.threshold of buffer, at most cfg.killWait;
// expired says the wait ran out first. The fleet ending first is an error.
func (fl *foFleet) waitBuffered(ctx context.Context, cfg foConfig) (expired bool, err error) {
	var ended *foFleetOut
	_, err = harness.Poll(ctx, cfg.killWait, 100*time.Millisecond, func() (bool, string) {
		select {
		case f := <-fl.done:
			ended = &f
			return true, "the fleet ended"
		default:
		}
		now, ok := time.Now(), 0
		fl.mu.Lock()
		for i := range fl.recs {
			if fl.bufferAt(i, now) >= cfg.threshold.Seconds() {
				ok++
			}
		}
		fl.mu.Unlock()
		return ok == fl.n, fmt.Sprintf("%d of %d players with %v of buffer", ok, fl.n, cfg.threshold)
	})
	switch {
	case ended != nil:
		return false, fmt.Errorf("the fleet ended before the kill (%v): make --media longer", ended.err)
	case ctx.Err() != nil:
		return false, ctx.Err()
	}
	return err != nil, nil
}

// victim is the edge of zone that served the most players' last segment, with how many
// segments it served so far.
func (fl *foFleet) victim(edges []*foEdge, zone string) (victim *foEdge, served int) {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	last := map[string]int{}
	for _, rs := range fl.recs {
		if len(rs) > 0 {
			last[rs[len(rs)-1].c.EdgeName]++
		}
	}
	for _, e := range edges {
		if e.zone == zone && (victim == nil || last[e.name] > last[victim.name]) {
			victim = e
		}
	}
	for _, rs := range fl.recs {
		for _, r := range rs {
			if r.c.EdgeName == victim.name {
				served++
			}
		}
	}
	return victim, served
}

// foKill kills the victim, the first zone's busiest edge, with SIGKILL and waits for it to
// exit.
func foKill(st *foStack, fl *foFleet, cfg foConfig, res *foRun) (*foEdge, time.Time, error) {
	victim, served := fl.victim(st.edges, cfg.zones[0])
	if err := victim.p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		return nil, time.Time{}, fmt.Errorf("kill %s: %w", victim.name, err)
	}
	killAt := time.Now()
	<-victim.p.done
	st.procs = slices.DeleteFunc(st.procs, func(p *proc) bool { return p == victim.p })
	res.victim, res.killAfter, res.servedByVictimBefore = victim.name, killAt.Sub(fl.start).Seconds(), served
	fmt.Fprintf(os.Stderr, "failover: killed %s %.1f s into the fleet\n", victim.name, res.killAfter)
	return victim, killAt, nil
}

// foWaitDetection times, for at most 30 s after the kill, when the survivors' /cluster (the
// first of them, then all), the victim zone's balancer and steering stop counting the victim.
// What never does stays -1.
func foWaitDetection(ctx context.Context, c *http.Client, cfg foConfig, st *foStack, token string, victim *foEdge, killAt time.Time, res *foRun) {
	res.detectFirst, res.detect, res.lbOut, res.steerOut = -1, -1, -1, -1
	survivors := slices.DeleteFunc(slices.Clone(st.edges), func(e *foEdge) bool { return e == victim })
	_, dropped := harness.Each(len(survivors), killAt, func(i int) (bool, string) {
		v, err := foCluster(c, survivors[i].p.addr, token)
		if err != nil {
			return false, err.Error()
		}
		s := v.State(victim.name)
		if s == cluster.Alive || v.InRing(victim.zone, victim.name) {
			return false, survivors[i].name + " still counts it"
		}
		res.victimState = string(s)
		if res.detectFirst < 0 {
			res.detectFirst = time.Since(killAt).Seconds()
		}
		return true, ""
	})
	harness.Poll(ctx, 30*time.Second, 50*time.Millisecond, func() (bool, string) {
		t := time.Since(killAt).Seconds()
		if ok, _ := dropped(); ok && res.detect < 0 {
			res.detect = t
		}
		if res.lbOut < 0 {
			if h, err := foLBHealthy(c, st.lbs[victim.zone].addr); err == nil && h < cfg.perZone {
				res.lbOut = t
			}
		}
		if res.steerOut < 0 {
			if s, err := foSteer(c, "http://"+st.steer.addr, cfg.cat.Titles[0].Name, victim.zone); err == nil &&
				!slices.ContainsFunc(s, func(e steerapi.Ranked) bool { return e.Name == victim.name && e.Healthy }) {
				res.steerOut = t
			}
		}
		return res.detect >= 0 && res.lbOut >= 0 && res.steerOut >= 0, "the victim still counted"
	})
}

// wait returns the fleet's report once it has ended.
func (fl *foFleet) wait(ctx context.Context) (*player.Report, error) {
	select {
	case fo := <-fl.done:
		if fo.err == nil && len(fo.rep.PerPlayer) != fl.n {
			return nil, fmt.Errorf("fleet reported %d players of %d", len(fo.rep.PerPlayer), fl.n)
		}
		return fo.rep, fo.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// collect fills res, per entry kind, from the fleet's report and segments: who the kill
// affected and how soon they switched, the stalls of the players that had their buffer, the
// failures and the corrupt segments.
func (fl *foFleet) collect(cfg foConfig, rep *player.Report, victim string, killAt time.Time, res *foRun) error {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	sizes := foSegmentSizes(cfg.cat)
	switchTimes, firstBytes := map[string][]float64{}, map[string][]float64{}
	for i := 0; i < fl.n; i++ {
		kind, pr, recs := fl.kinds[i], rep.PerPlayer[i], fl.recs[i]
		k := res.kinds[kind]
		if k == nil {
			k = &foKind{}
			res.kinds[kind] = k
		}
		k.players++
		if len(recs) > 0 {
			res.started++
		}
		k.errors += pr.Errors
		k.corrupt += pr.Corrupt
		k.edgeSwitch += pr.EdgeSwitches
		if pr.Failed {
			k.failed++
			res.failReasons = append(res.failReasons, pr.FailReason)
		}
		// Sizes of every accepted segment against the catalog: a truncated or padded body
		// accepted as a segment counts as corrupt accepted (the player also checks every
		// body's SHA-256).
		for j, r := range recs {
			lv := sizes[pr.Title]
			if r.c.Level >= len(lv) || j >= len(lv[r.c.Level]) || lv[r.c.Level][j] != r.c.Bytes {
				k.corruptAccepted++
			}
		}
		if affected, sw, ok := foSwitch(recs, victim, killAt); affected {
			k.affected++
			if !ok {
				res.affectedNoSwitch++
			} else {
				switchTimes[kind] = append(switchTimes[kind], sw.at.Sub(killAt).Seconds())
				firstBytes[kind] = append(firstBytes[kind], sw.at.Sub(killAt).Seconds()-sw.c.Seconds+sw.c.TTFBms/1000)
			}
		}
		if fl.bufferAt(i, killAt) >= cfg.threshold.Seconds() {
			k.buffered++
			res.buffered++
			for _, r := range recs {
				if r.at.After(killAt) && r.c.RebufferS > 0 {
					k.stalls++
					k.stallS += r.c.RebufferS
				}
			}
		}
	}
	for kind, k := range res.kinds {
		k.rebufRatio = fl.rebufRatio(rep, kind, killAt, cfg.threshold)
		ts, fb := switchTimes[kind], firstBytes[kind]
		k.switched = len(ts)
		if len(ts) > 0 {
			sort.Float64s(ts)
			sort.Float64s(fb)
			k.switchP50, k.switchMax = harness.Median(ts), ts[len(ts)-1]
			k.firstByteP50, k.firstByteMax = harness.Median(fb), fb[len(fb)-1]
		}
	}
	return nil
}

// foSegmentSizes is each title's segment sizes by rendition, lowest bandwidth first (the
// players' levels).
func foSegmentSizes(cat *catalog.Catalog) map[string][][]int64 {
	sizes := map[string][][]int64{}
	for _, t := range cat.Titles {
		rs := slices.Clone(t.Renditions)
		slices.SortFunc(rs, func(a, b catalog.Rendition) int { return int(a.Bandwidth - b.Bandwidth) })
		for _, r := range rs {
			var s []int64
			for _, sg := range r.Segments {
				s = append(s, sg.Size)
			}
			sizes[t.Name] = append(sizes[t.Name], s)
		}
	}
	return sizes
}

// foSwitch says whether a player's last segment before the kill came from the victim
// (affected) and, if so, its first segment from another edge asked for after the kill (ok
// when there is one). A request that left before the kill (the balancer's round robin had
// sent it to another edge) is no switch.
func foSwitch(recs []foRec, victim string, killAt time.Time) (affected bool, sw foRec, ok bool) {
	var last *foRec
	for j := range recs {
		if recs[j].at.Before(killAt) {
			last = &recs[j]
		}
	}
	if last == nil || last.c.EdgeName != victim {
		return false, foRec{}, false
	}
	for _, r := range recs {
		asked := r.at.Add(-time.Duration(r.c.Seconds * float64(time.Second)))
		if asked.After(killAt) && r.c.EdgeName != "" && r.c.EdgeName != victim {
			return true, r, true
		}
	}
	return true, foRec{}, false
}

// rebufRatio is the rebuffer ratio of the kind's players that had threshold of buffer at the
// kill: their stall time over their played and stall time.
func (fl *foFleet) rebufRatio(rep *player.Report, kind string, killAt time.Time, threshold time.Duration) float64 {
	var played, stall float64
	for i := 0; i < fl.n; i++ {
		if fl.kinds[i] == kind && fl.bufferAt(i, killAt) >= threshold.Seconds() {
			played += rep.PerPlayer[i].PlayedS
			stall += rep.PerPlayer[i].RebufferS
		}
	}
	if played+stall == 0 {
		return 0
	}
	return stall / (played + stall)
}

func foRandHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func foGetJSON(c *http.Client, url, token string, v any) error {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(v)
}

func foCluster(c *http.Client, addr, token string) (edge.ClusterInfo, error) {
	var v edge.ClusterInfo
	err := foGetJSON(c, "http://"+addr+"/cluster", token, &v)
	return v, err
}

// foSteer returns steering's ranking of the edges for title and zone.
func foSteer(c *http.Client, base, title, zone string) ([]steerapi.Ranked, error) {
	var r steerapi.Ranking
	err := foGetJSON(c, base+"/steer/"+title+"?zone="+zone, "", &r)
	return r.Edges, err
}

// foLBHealthy reads a balancer's edgecdn_lb_healthy_edges: its zone's edges in service.
func foLBHealthy(c *http.Client, addr string) (int, error) {
	v, err := metricValue(c, addr, "edgecdn_lb_healthy_edges")
	return int(v), err
}

// foPlot writes the run's timeline: each edge's delivered throughput and the players' buffer,
// the kill and the detection marked.
func foPlot(path string, res *foRun, recs [][]foRec, start, killAt time.Time, bufferAt func(int, time.Time) float64) error {
	const bin = 1.0 // seconds
	end := start
	for _, rs := range recs {
		if len(rs) > 0 && rs[len(rs)-1].at.After(end) {
			end = rs[len(rs)-1].at
		}
	}
	nb := int(end.Sub(start).Seconds()/bin) + 1
	perEdge := map[string][]float64{}
	for _, rs := range recs {
		for _, r := range rs {
			name := r.c.EdgeName
			if name == "" {
				name = "?"
			}
			s := perEdge[name]
			if s == nil {
				s = make([]float64, nb)
				perEdge[name] = s
			}
			// Spread the segment's bits over its download.
			t1 := r.at.Sub(start).Seconds()
			t0 := max(0, t1-r.c.Seconds)
			bits := float64(r.c.Bytes) * 8
			for b := int(t0 / bin); b <= int(t1/bin) && b < nb; b++ {
				lo, hi := max(t0, float64(b)*bin), min(t1, float64(b+1)*bin)
				if t1 > t0 && hi > lo {
					s[b] += bits * (hi - lo) / (t1 - t0) / bin / 1e6
				} else if t1 <= t0 {
					s[b] += bits / bin / 1e6
				}
			}
		}
	}
	kill := killAt.Sub(start).Seconds()
	top := plot.New()
	top.Title.Text = fmt.Sprintf("Run %d: %s SIGKILLed at %.1f s (dashed), out of every survivor's ring at +%.1f s (dotted)", res.run, res.victim, kill, res.detect)
	top.Y.Label.Text = "delivered Mbit/s per edge"
	var names []string
	for n := range perEdge {
		names = append(names, n)
	}
	sort.Strings(names)
	var lines []any
	ymax := 1.0
	for _, n := range names {
		pts := make(plotter.XYs, nb)
		for b, v := range perEdge[n] {
			pts[b] = plotter.XY{X: (float64(b) + 0.5) * bin, Y: v}
			ymax = max(ymax, v)
		}
		lines = append(lines, n, pts)
	}
	if err := plotutil.AddLines(top, lines...); err != nil {
		return err
	}
	bottom := plot.New()
	bottom.X.Label.Text = "seconds since the fleet started"
	bottom.Y.Label.Text = "players' buffer, s"
	var mean, lo plotter.XYs
	bmax := 1.0
	for t := 0.0; t <= end.Sub(start).Seconds(); t += 0.25 {
		at := start.Add(time.Duration(t * float64(time.Second)))
		var sum float64
		mn := math.Inf(1)
		k := 0
		for i, rs := range recs {
			if len(rs) == 0 || rs[0].at.After(at) || rs[len(rs)-1].at.Before(at) {
				continue // not started, or done fetching
			}
			b := bufferAt(i, at)
			sum += b
			mn = min(mn, b)
			k++
		}
		if k > 0 {
			mean = append(mean, plotter.XY{X: t, Y: sum / float64(k)})
			lo = append(lo, plotter.XY{X: t, Y: mn})
			bmax = max(bmax, sum/float64(k))
		}
	}
	if err := plotutil.AddLines(bottom, "mean", mean, "min", lo); err != nil {
		return err
	}
	for _, p := range []struct {
		p    *plot.Plot
		ymax float64
	}{{top, ymax}, {bottom, bmax}} {
		mark := func(x float64, dash []vg.Length) error {
			l, err := plotter.NewLine(plotter.XYs{{X: x, Y: 0}, {X: x, Y: p.ymax}})
			if err != nil {
				return err
			}
			l.Color, l.Dashes, l.Width = color.RGBA{R: 200, A: 255}, dash, vg.Points(1.5)
			p.p.Add(l)
			return nil
		}
		if err := mark(kill, []vg.Length{vg.Points(6), vg.Points(3)}); err != nil {
			return err
		}
		if res.detect >= 0 {
			if err := mark(kill+res.detect, []vg.Length{vg.Points(2), vg.Points(2)}); err != nil {
				return err
			}
		}
		p.p.Add(plotter.NewGrid())
		p.p.Legend.Top = true
		p.p.X.Min, p.p.X.Max = 0, end.Sub(start).Seconds()
	}
	img := vgimg.New(vg.Points(900), vg.Points(640))
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 2, Cols: 1, PadTop: vg.Points(4), PadBottom: vg.Points(4), PadLeft: vg.Points(4), PadRight: vg.Points(8), PadY: vg.Points(8)}
	cs := plot.Align([][]*plot.Plot{{top}, {bottom}}, tiles, dc)
	top.Draw(cs[0][0])
	bottom.Draw(cs[1][0])
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func foReport(cfg foConfig, runs []*foRun, args string) string {
	var b strings.Builder
	nEdges := cfg.perZone * len(cfg.zones)
	fmt.Fprintf(&b, "## Failover: an edge SIGKILLed under players\n\n`go run ./bench failover %s` on %d CPUs (%s). Real processes on loopback: one origin, %d edges (%d in each of %s; gossip, admin token set), a zone balancer per zone (`edgecdn lb`) and steering (`edgecdn steering`). A fleet of %d real-time players in the bench process (`player.RunFleet`), arriving over 3 s, each playing %v of one of %d titles (Envivio ladder, Zipf 1.0) over its own %g Mbit/s link, buffer cap 30 s; ",
		args, runtime.NumCPU(), runtime.Version(), nEdges, cfg.perZone, strings.Join(cfg.zones, ", "), cfg.players, cfg.media, len(cfg.cat.Titles), cfg.linkMbps)
	switch cfg.entry {
	case "both":
		b.WriteString("half of them ask steering for ranked edges (`SteeringEntry`: the player fetches from the first edge and fails over to the next itself), half fetch through their zone's balancer (`URLEntry`: the balancer retries on another edge and ejects the dead one).")
	case "steering":
		b.WriteString("every player asks steering for ranked edges (`SteeringEntry`).")
	default:
		b.WriteString("every player fetches through its zone's balancer (`URLEntry`).")
	}
	fmt.Fprintf(&b, " Once every player has at least %v of buffer (or after %v), the %s edge that served the most players' last segment gets SIGKILL. %d runs, fresh edges, balancers and steering each time.%s\n\n", cfg.threshold, cfg.killWait, cfg.zones[0], len(runs), cfg.load)

	b.WriteString("Detection, seconds after the kill: **cluster** = the victim not alive (dead or suspect) and off its zone's ring in a survivor's `GET /cluster` (the first survivor / all of them); **lb** = the victim zone's balancer has one edge fewer in service (`edgecdn_lb_healthy_edges`: a failed probe or request ejects it); **steering** = the victim gone or unhealthy in `GET /steer/<title>` (ranked edges players get).\n\n")
	b.WriteString("| run | victim | killed at s | players with ≥ threshold / started | cluster: first / all survivors | state seen | lb out | steering out |\n|---|---|---:|---|---|---|---:|---:|\n")
	secs := func(v float64) string {
		if v < 0 || math.IsNaN(v) {
			return "—"
		}
		return fmt.Sprintf("%.2f", v)
	}
	for _, r := range runs {
		exp := ""
		if r.waitExpired {
			exp = " (wait expired)"
		}
		fmt.Fprintf(&b, "| %d | %s | %.1f | %d / %d%s | %s / %s | %s | %s | %s |\n", r.run, r.victim, r.killAfter, r.buffered, r.started, exp,
			secs(r.detectFirst), secs(r.detect), r.victimState, secs(r.lbOut), secs(r.steerOut))
	}
	med := func(format string, f func(*foRun) float64) string {
		var v []float64
		for _, r := range runs {
			if x := f(r); x >= 0 && !math.IsNaN(x) {
				v = append(v, x)
			}
		}
		if len(v) == 0 {
			return "—"
		}
		sort.Float64s(v)
		return fmt.Sprintf(format, harness.Median(v))
	}
	fmt.Fprintf(&b, "| **median** | | %s | | %s / %s | | %s | %s |\n\n", med("%.1f", func(r *foRun) float64 { return r.killAfter }),
		med("%.2f", func(r *foRun) float64 { return r.detectFirst }), med("%.2f", func(r *foRun) float64 { return r.detect }),
		med("%.2f", func(r *foRun) float64 { return r.lbOut }), med("%.2f", func(r *foRun) float64 { return r.steerOut }))

	b.WriteString("Players, per entry: **affected** = players whose last segment before the kill came from the victim (in brackets: those that fetched a segment from another edge afterwards); **switch** = kill → the first segment from another edge requested after the kill, to its first byte and to its last (median / max over the affected players; a balancer picks an edge per request, so for its players affected only means their last segment came from the victim); **stalls** and **rebuffer ratio** are those of the players that had at least the threshold of buffer at the kill (stalls after the kill, with their seconds; ratio = stall / (played + stall) over their whole sessions); **corrupt accepted** = accepted segments whose length differs from the catalog's (the player also checks every body's SHA-256 against catalog.json and refetches a bad one: **corrupt rejected**); client errors = failed requests the players retried; edge switches = the players' moves to another base.\n\n")
	b.WriteString("| run | entry | players | affected (switched) | switch, first byte p50 / max s | switch, whole segment p50 / max s | with ≥ threshold | stalls after kill (s) | rebuffer ratio | failed | client errors | edge switches | corrupt accepted | corrupt rejected |\n|---|---|---:|---|---|---|---:|---|---:|---:|---:|---:|---:|---:|\n")
	var kindNames []string
	for _, r := range runs {
		for k := range r.kinds {
			if !slices.Contains(kindNames, k) {
				kindNames = append(kindNames, k)
			}
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(kindNames))) // steering first
	for _, r := range runs {
		for _, kn := range kindNames {
			k := r.kinds[kn]
			if k == nil {
				continue
			}
			fb, sw := "—", "—"
			if k.switched > 0 {
				fb = fmt.Sprintf("%.2f / %.2f", k.firstByteP50, k.firstByteMax)
				sw = fmt.Sprintf("%.2f / %.2f", k.switchP50, k.switchMax)
			}
			fmt.Fprintf(&b, "| %d | %s | %d | %d (%d) | %s | %s | %d | %d (%.2f) | %.4f | %d | %d | %d | %d | %d |\n", r.run, kn, k.players, k.affected, k.switched, fb, sw,
				k.buffered, k.stalls, k.stallS, k.rebufRatio, k.failed, k.errors, k.edgeSwitch, k.corruptAccepted, k.corrupt)
		}
	}
	for _, kn := range kindNames {
		get := func(format string, f func(*foKind) float64) string {
			return med(format, func(r *foRun) float64 {
				if k := r.kinds[kn]; k != nil {
					return f(k)
				}
				return -1
			})
		}
		sw := func(k *foKind, v float64) float64 {
			if k.switched == 0 {
				return -1
			}
			return v
		}
		const n, sec = "%g", "%.2f"
		fmt.Fprintf(&b, "| **median** | %s | %s | %s (%s) | %s / %s | %s / %s | %s | %s (%s) | %s | %s | %s | %s | %s | %s |\n", kn,
			get(n, func(k *foKind) float64 { return float64(k.players) }), get(n, func(k *foKind) float64 { return float64(k.affected) }),
			get(n, func(k *foKind) float64 { return float64(k.switched) }),
			get(sec, func(k *foKind) float64 { return sw(k, k.firstByteP50) }), get(sec, func(k *foKind) float64 { return sw(k, k.firstByteMax) }),
			get(sec, func(k *foKind) float64 { return sw(k, k.switchP50) }), get(sec, func(k *foKind) float64 { return sw(k, k.switchMax) }),
			get(n, func(k *foKind) float64 { return float64(k.buffered) }), get(n, func(k *foKind) float64 { return float64(k.stalls) }),
			get(sec, func(k *foKind) float64 { return k.stallS }), get("%.4f", func(k *foKind) float64 { return k.rebufRatio }),
			get(n, func(k *foKind) float64 { return float64(k.failed) }), get(n, func(k *foKind) float64 { return float64(k.errors) }),
			get(n, func(k *foKind) float64 { return float64(k.edgeSwitch) }), get(n, func(k *foKind) float64 { return float64(k.corruptAccepted) }),
			get(n, func(k *foKind) float64 { return float64(k.corrupt) }))
	}
	b.WriteString("\n")
	var notes []string
	for _, r := range runs {
		if r.affectedNoSwitch > 0 {
			notes = append(notes, fmt.Sprintf("run %d: %d affected players fetched no segment from another edge after the kill (their sessions had ended)", r.run, r.affectedNoSwitch))
		}
		if r.waitExpired {
			notes = append(notes, fmt.Sprintf("run %d: not every player reached %v of buffer within %v; the kill came anyway", r.run, cfg.threshold, cfg.killWait))
		}
		if len(r.failReasons) > 0 {
			notes = append(notes, fmt.Sprintf("run %d: failed players: %s", r.run, strings.Join(r.failReasons, "; ")))
		}
		notes = append(notes, fmt.Sprintf("run %d: the victim had served %d segments before the kill; the fleet played for %.0f s", r.run, r.servedByVictimBefore, r.wall))
	}
	for _, n := range notes {
		fmt.Fprintf(&b, "- %s\n", n)
	}
	b.WriteString("\nTimelines (delivered throughput per edge from the players' segments, and the players' buffer):\n\n")
	for _, r := range runs {
		fmt.Fprintf(&b, "![run %d](%s)\n", r.run, r.png)
	}
	var stalls, failed, accepted, buffered int
	var switches []string
	for _, kn := range kindNames {
		for _, r := range runs {
			if k := r.kinds[kn]; k != nil {
				stalls, failed, accepted, buffered = stalls+k.stalls, failed+k.failed, accepted+k.corruptAccepted, buffered+k.buffered
			}
		}
		switches = append(switches, kn+" "+med("%.2f s", func(r *foRun) float64 {
			if k := r.kinds[kn]; k != nil && k.switched > 0 {
				return k.switchP50
			}
			return -1
		}))
	}
	fmt.Fprintf(&b, "\nSummary: a SIGKILLed edge was out of the survivors' rings after %s s (median of %d runs), out of its balancer's pool after %s s and of steering's answers after %s s; affected players had a whole segment from another edge after %s (p50); %d stalls among %d player sessions with ≥ %v of buffer at the kill, %d failed players, %d corrupt segments accepted.\n",
		med("%.2f", func(r *foRun) float64 { return r.detect }), len(runs), med("%.2f", func(r *foRun) float64 { return r.lbOut }),
		med("%.2f", func(r *foRun) float64 { return r.steerOut }), strings.Join(switches, ", "), stalls, buffered, cfg.threshold, failed, accepted)
	return b.String()
}

// loadNote says how busy the machine was (1-minute load average), as other jobs share it.
func loadNote() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return ""
	}
	return fmt.Sprintf(" 1-minute load average at the start: %s.", f[0])
}
