package main

import (
	"compress/gzip"
	"context"
	"fmt"
	"image/color"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"edgecdn/demo"
	"edgecdn/edge/cache"
	"edgecdn/internal/catalog"
	"edgecdn/internal/envivio"
	"edgecdn/origin/packager"
	"edgecdn/player-sim/player"
)

// runCachePolicy compares edgecdn's cache policy (S3-FIFO, edge/cache) with LRU and with the
// offline farthest-next-use rule (Belady) on two request streams: Zipf over a catalog of Envivio
// segments, and the segment requests a real player fleet made of the CDN in this process.
func runCachePolicy(ctx context.Context, args []string) (string, error) {
	fs := newFlags("cache-policy")
	requests := fs.Int("requests", 300_000, "requests in each Zipf stream")
	titles := fs.Int("titles", 20, "titles in the Zipf stream's catalog (6 renditions x 49 Envivio chunks each)")
	skews := numbersFlag[float64](fs, "zipf", "0.8,1.0,1.2", "Zipf exponents of the Zipf streams")
	sizes := numbersFlag[int](fs, "sizes", "1,2,5,10,20,40", "cache sizes, % of the stream's catalog bytes")
	players := fs.Int("players", 400, "players in the recorded fleet (0: no fleet stream)")
	rate := fs.Float64("rate", 20, "player arrivals per second")
	media := fs.Duration("media", 48*time.Second, "media each player plays")
	fleetTitles := fs.Int("fleet-titles", 30, "titles the fleet chooses from")
	fleetZipf := fs.Float64("fleet-zipf", 1.0, "Zipf exponent of the fleet's title popularity")
	links := numbersFlag[float64](fs, "links-mbps", "1.5,3,6,12", "players' own links, Mbit/s, one drawn per player")
	budget := fs.Duration("fleet-budget", 100*time.Second, "the fleet is stopped after this long (a loaded machine slows it); the log keeps what completed")
	if err := parseFlags(fs, args); err != nil {
		return "", err
	}
	pcts, ss, linkMbps := []int(*sizes), []float64(*skews), []float64(*links)
	dir, err := resultsDir()
	if err != nil {
		return "", err
	}
	start := time.Now()

	var b strings.Builder
	fmt.Fprintf(&b, "## Cache policy: hit ratio vs cache size\n\n`go run ./bench cache-policy --requests %d --titles %d --zipf %s --sizes %s --players %d --rate %g --media %v --fleet-titles %d --fleet-zipf %g --links-mbps %s --fleet-budget %v` on %d CPUs, load average %s at the start (the hit ratios do not depend on the machine's load; the fleet's recording only slightly, through the order in which segments complete).\n\n",
		*requests, *titles, skews, sizes, *players, *rate, *media, *fleetTitles, *fleetZipf, links, *budget, runtime.NumCPU(), loadAvg())
	fmt.Fprintf(&b, "Policies, each replaying the same stream into one cache: **S3-FIFO** is edgecdn's policy (`cache.Simulate`, the edge's own code); **LRU** and **Belady** are the bench's reference implementations. ")
	fmt.Fprintf(&b, "Belady is the offline farthest-next-use rule (on a miss, admit the object, then evict whatever is requested again farthest in the future — possibly the new object itself, i.e. bypass — until it fits). For objects of different sizes this is the usual Belady-size heuristic, an upper-bound reference, not exact OPT (which is NP-hard for variable sizes, and optimizing bytes and objects are different problems), so an online policy could in principle beat it on one of the two ratios. ")
	fmt.Fprintf(&b, "All three use the edge cache's cost model: each object is charged its size + %d bytes, and an object charged more than 1/8 of the cache is never admitted. ", cache.EntryOverhead)
	fmt.Fprintf(&b, "Cells are byte hit ratio (object hit ratio); *gap closed* is (S3-FIFO − LRU) / (Belady − LRU) on byte hit ratio.\n\n")

	// (a) Zipf over an Envivio catalog.
	objects := *titles * len(envivio.Kbps) * envivio.Chunks
	size := envivioCatalog(objects, 1)
	catBytes := cache.CatalogBytes(objects, size)
	fmt.Fprintf(&b, "### (a) Zipf over a catalog of Envivio segments\n\n%d titles x 6 renditions x 49 chunks = %d objects (the Envivio test video's real chunk sizes, %.0f KB to %.2f MB, %.0f MB in all); each object is a random (title, rendition, chunk), so size does not follow popularity; %d requests drawn Zipf(s) over the objects.\n\n",
		*titles, objects, float64(minSize(objects, size))/1e3, float64(maxSize(objects, size))/1e6, float64(catBytes)/1e6, *requests)
	var lruCheck float64 // largest difference between the bench's LRU and edge/cache's
	var sum []string     // the summary: byte hit ratios at 5% of the bytes (or the nearest size run)
	quoted := pcts[0]
	for _, p := range pcts {
		if abs(p-5) < abs(quoted-5) {
			quoted = p
		}
	}
	at5 := func(rows []hitRow) hitRow {
		for _, r := range rows {
			if r.pct == quoted {
				return r
			}
		}
		return rows[0]
	}
	for _, s := range ss {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		trace := cache.ZipfTrace(*requests, objects, s, 1, size)
		rows, diff := comparePolicies(trace, catBytes, pcts)
		lruCheck = max(lruCheck, diff)
		ceiling := ceilingOf(trace)
		name := fmt.Sprintf("cache-policy-zipf-%.1f.png", s)
		if err := plotHitRatios(filepath.Join(dir, name), fmt.Sprintf("Zipf s=%.1f, %d Envivio segments, %d requests", s, objects, *requests),
			"cache size, % of catalog bytes", ceiling, rows); err != nil {
			return "", err
		}
		r5 := at5(rows)
		sum = append(sum, fmt.Sprintf("Zipf %.1f %.3f / %.3f / %.3f", s, r5.s3.byteHR, r5.lru.byteHR, r5.belady.byteHR))
		fmt.Fprintf(&b, "**s = %.1f** (ceiling, with every object's first request a miss: %.3f (%.3f))\n\n", s, ceiling.byteHR, ceiling.objectHR)
		writeHitRatioTable(&b, rows)
		fmt.Fprintf(&b, "\n![hit ratio vs cache size, Zipf s=%.1f](%s)\n\n", s, name)
		fmt.Fprintf(os.Stderr, "cache-policy: zipf s=%.1f done (%.1f s)\n", s, time.Since(start).Seconds())
	}

	// (b) a fleet's real request log.
	if *players > 0 {
		fl, err := recordFleet(ctx, fleetRecording{players: *players, rate: *rate, media: *media, titles: *fleetTitles, zipf: *fleetZipf, linkMbps: linkMbps, budget: *budget})
		if err != nil {
			return "", err
		}
		fmt.Fprintf(os.Stderr, "cache-policy: fleet recorded, %d requests (%.1f s)\n", len(fl.trace), time.Since(start).Seconds())
		footprint := map[string]int64{}
		for _, r := range fl.trace {
			footprint[r.Key] = r.Size
		}
		var fpBytes int64
		for _, sz := range footprint {
			fpBytes += sz
		}
		rows, diff := comparePolicies(fl.trace, fpBytes, pcts)
		lruCheck = max(lruCheck, diff)
		r5 := at5(rows)
		sum = append(sum, fmt.Sprintf("fleet log %.3f / %.3f / %.3f", r5.s3.byteHR, r5.lru.byteHR, r5.belady.byteHR))
		ceiling := ceilingOf(fl.trace)
		name := "cache-policy-fleet.png"
		if err := plotHitRatios(filepath.Join(dir, name), fmt.Sprintf("Fleet log: %d players, %d segment requests", *players, len(fl.trace)),
			"cache size, % of the log's footprint bytes", ceiling, rows); err != nil {
			return "", err
		}
		rep := fl.report
		fmt.Fprintf(&b, "### (b) A fleet's real request log\n\n")
		fmt.Fprintf(&b, "The whole CDN in this process (`demo.Start`: 2 origins, 6 edges in 3 zones, balancers, steering) serving %d packaged titles of %v on the Envivio ladder (%.0f MB); %d real-time players (`player.RunFleet`) arrive at %g/s, each asks steering, picks a title Zipf(%g) and plays %v of it from the start with the default ABR over its own link (one of %s Mbit/s). ",
			*fleetTitles, *media, float64(fl.catalogBytes)/1e6, *players, *rate, *fleetZipf, *media, links)
		fmt.Fprintf(&b, "The fleet's `OnChunk` hook records each segment as it completes (player, level, bytes); the key is the path the player fetched (`/vod/<title>/<rendition>/segNNNNN.ts`, the title and segment index from the player's result), and every recorded size was checked against the packaged catalog (%d mismatches). Playlists are left out. ", fl.mismatches)
		fmt.Fprintf(&b, "The log is in completion order, which on loopback is nearly the request order.\n\n")
		if fl.cut {
			cutShort := 0
			for _, r := range rep.PerPlayer {
				if r.Failed && strings.Contains(r.FailReason, "context") {
					cutShort++
				}
			}
			fmt.Fprintf(&b, "**The fleet ran into its budget** (`--fleet-budget %v`, the machine being loaded): %d of the %d players had started, %d sessions were cut short (counted as failed below); the log holds the segments completed by then.\n\n",
				*budget, rep.Players, *players, cutShort)
		}
		fmt.Fprintf(&b, "Fleet: %d players, %d failed, %d errors, %d stalls, %.0f kbps mean bitrate, %.1f s wall. Log: %d segment requests, %d distinct objects, %.0f MB requested; cache sizes below are a share of the **footprint**, the bytes of the distinct objects requested (%.0f MB), not of the whole catalog. The log is short next to its footprint: with every object's first request a miss, no policy can exceed %.3f (%.3f).\n\n",
			rep.Players, rep.Failed, rep.Errors, rep.RebufferCount, rep.BitrateKbps, rep.WallS, len(fl.trace), len(footprint), float64(fl.requestedBytes)/1e6, float64(fpBytes)/1e6, ceiling.byteHR, ceiling.objectHR)
		writeHitRatioTable(&b, rows)
		fmt.Fprintf(&b, "\n![hit ratio vs cache size, fleet log](%s)\n\n", name)
		if logName, n, err := writeFleetLog(dir, fl); err != nil {
			return "", err
		} else if logName != "" {
			fmt.Fprintf(&b, "The recorded log: [%s](%s) (%d bytes; CSV: ms since the fleet started, player, key, bytes, edge).\n\n", logName, logName, n)
		} else {
			fmt.Fprintf(&b, "The recorded log (%d bytes compressed) is over 2 MB and was not kept.\n\n", n)
		}
	}
	if lruCheck == 0 {
		fmt.Fprintf(&b, "Check: the bench's LRU and edge/cache's own `lru` policy (`cache.Simulate`) give identical ratios in every cell above.\n")
	} else {
		fmt.Fprintf(&b, "Check: the bench's LRU and edge/cache's own `lru` policy (`cache.Simulate`) differ by up to %.2g in the cells above.\n", lruCheck)
	}
	fmt.Fprintf(os.Stderr, "cache-policy: %.1f s\n", time.Since(start).Seconds())
	fmt.Fprintf(&b, "\nSummary: byte hit ratio S3-FIFO / LRU / Belady with a cache of %d%% of the bytes: %s.\n", quoted, strings.Join(sum, "; "))
	return b.String(), nil
}

func abs(x int) int { return max(x, -x) }

// envivioCatalog returns the size of object i of a catalog of objects Envivio segments: object
// i is (title, rendition, chunk) number perm[i] of the catalog, so that sizes are spread over
// popularity ranks independently of rank. Objects past the catalog (a scan's) repeat its sizes.
func envivioCatalog(objects int, seed uint64) func(i int) int64 {
	perm := rand.New(rand.NewPCG(seed, 0xe1)).Perm(objects)
	return func(i int) int64 {
		j := perm[i%objects]
		return envivio.Size((j/envivio.Chunks)%len(envivio.Kbps), j%envivio.Chunks)
	}
}

func minSize(objects int, size func(int) int64) int64 {
	m := int64(math.MaxInt64)
	for i := range objects {
		m = min(m, size(i))
	}
	return m
}

func maxSize(objects int, size func(int) int64) int64 {
	var m int64
	for i := range objects {
		m = max(m, size(i))
	}
	return m
}

// hitRow is one cache size's results.
type hitRow struct {
	pct      int
	capacity int64
	s3, lru  simResult
	belady   simResult
}

type simResult struct{ objectHR, byteHR float64 }

// comparePolicies replays trace through the three policies at each cache size (a percentage of
// catalogBytes). It also runs edge/cache's own LRU and returns the largest difference from the
// bench's, a check of both.
func comparePolicies(trace []cache.Request, catalogBytes int64, pcts []int) ([]hitRow, float64) {
	t := internTrace(trace)
	var rows []hitRow
	var diff float64
	for _, pct := range pcts {
		capacity := catalogBytes * int64(pct) / 100
		r := hitRow{pct: pct, capacity: capacity}
		r.s3.objectHR, r.s3.byteHR = cache.Simulate(cache.PolicyS3FIFO, capacity, trace)
		cost := edgeCost(capacity)
		r.lru = simulateLRU(t, cost)
		r.belady = simulateBelady(t, cost)
		o, by := cache.Simulate(cache.PolicyLRU, capacity, trace)
		diff = max(diff, math.Abs(o-r.lru.objectHR), math.Abs(by-r.lru.byteHR))
		rows = append(rows, r)
	}
	return rows, diff
}

// ceilingOf is the best any policy can do on trace: every object's first request misses.
func ceilingOf(trace []cache.Request) simResult {
	seen := map[string]bool{}
	var firstBytes, all int64
	for _, r := range trace {
		all += r.Size
		if !seen[r.Key] {
			seen[r.Key] = true
			firstBytes += r.Size
		}
	}
	if len(trace) == 0 || all == 0 {
		return simResult{}
	}
	return simResult{objectHR: 1 - float64(len(seen))/float64(len(trace)), byteHR: 1 - float64(firstBytes)/float64(all)}
}

func writeHitRatioTable(b *strings.Builder, rows []hitRow) {
	fmt.Fprintf(b, "| cache | MB | S3-FIFO (edgecdn) | LRU | Belady | S3-FIFO / Belady | gap closed |\n|---:|---:|---|---|---|---:|---:|\n")
	for _, r := range rows {
		gap := "–"
		if d := r.belady.byteHR - r.lru.byteHR; d > 1e-9 {
			gap = fmt.Sprintf("%.2f", (r.s3.byteHR-r.lru.byteHR)/d)
		}
		fmt.Fprintf(b, "| %d%% | %.0f | %.3f (%.3f) | %.3f (%.3f) | %.3f (%.3f) | %.2f | %s |\n", r.pct, float64(r.capacity)/1e6,
			r.s3.byteHR, r.s3.objectHR, r.lru.byteHR, r.lru.objectHR, r.belady.byteHR, r.belady.objectHR, r.s3.byteHR/r.belady.byteHR, gap)
	}
}

// plotHitRatios draws hit ratio against cache size: byte hit ratio solid, object hit ratio
// dashed, one colour per policy.
func plotHitRatios(path, title, xLabel string, ceiling simResult, rows []hitRow) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xLabel + " (log scale)"
	p.Y.Label.Text = "hit ratio"
	p.X.Scale = plot.LogScale{}
	var ticks []plot.Tick
	for _, r := range rows {
		ticks = append(ticks, plot.Tick{Value: float64(r.pct), Label: strconv.Itoa(r.pct)})
	}
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	p.Y.Min, p.Y.Max = 0, 1
	p.Legend.Top, p.Legend.Left = false, false
	p.Legend.XOffs, p.Legend.YOffs = -vg.Points(4), vg.Points(4)
	p.Add(plotter.NewGrid())
	// The ceiling: every object's first request misses whatever the policy.
	lo, hi := float64(rows[0].pct), float64(rows[len(rows)-1].pct)
	ceil, err := plotter.NewLine(plotter.XYs{{X: lo, Y: ceiling.byteHR}, {X: hi, Y: ceiling.byteHR}})
	if err != nil {
		return err
	}
	ceil.Color = color.Gray{Y: 110}
	ceil.Dashes = []vg.Length{vg.Points(1), vg.Points(2)}
	p.Add(ceil)
	p.Legend.Add("ceiling: first requests miss, bytes", ceil)
	policies := []struct {
		name  string
		col   color.Color
		shape draw.GlyphDrawer
		get   func(hitRow) simResult
	}{
		{"S3-FIFO (edgecdn)", color.RGBA{R: 214, G: 39, B: 40, A: 255}, draw.CircleGlyph{}, func(r hitRow) simResult { return r.s3 }},
		{"LRU", color.RGBA{R: 31, G: 119, B: 180, A: 255}, draw.SquareGlyph{}, func(r hitRow) simResult { return r.lru }},
		{"Belady (farthest next use)", color.RGBA{R: 44, G: 160, B: 44, A: 255}, draw.TriangleGlyph{}, func(r hitRow) simResult { return r.belady }},
	}
	for _, byteRatio := range []bool{true, false} {
		for _, pol := range policies {
			pts := make(plotter.XYs, len(rows))
			for i, r := range rows {
				res := pol.get(r)
				pts[i].X, pts[i].Y = float64(r.pct), res.objectHR
				if byteRatio {
					pts[i].Y = res.byteHR
				}
			}
			l, s, err := plotter.NewLinePoints(pts)
			if err != nil {
				return err
			}
			l.Color, s.Color, s.Shape = pol.col, pol.col, pol.shape
			l.Width = vg.Points(1.5)
			label := pol.name + ", bytes"
			if !byteRatio {
				l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
				l.Width = vg.Points(1)
				label = pol.name + ", objects"
			}
			p.Add(l, s)
			p.Legend.Add(label, l, s)
		}
	}
	return p.Save(7*vg.Inch, 4.5*vg.Inch, path)
}

// --- the fleet's request log ---

type fleetRecording struct {
	players  int
	rate     float64
	media    time.Duration
	titles   int
	zipf     float64
	linkMbps []float64
	budget   time.Duration
}

type fleetLog struct {
	trace          []cache.Request
	entries        []fleetEntry
	report         *player.Report
	cut            bool // the budget stopped the fleet
	catalogBytes   int64
	requestedBytes int64
	mismatches     int
}

type fleetEntry struct {
	ms     int64
	player int32
	edge   string
}

// recordFleet runs a player fleet against the CDN in this process and returns the segment
// requests the players made, in the order they completed.
func recordFleet(ctx context.Context, cfg fleetRecording) (*fleetLog, error) {
	dir, err := os.MkdirTemp("", "edgecdn-bench-cachepolicy-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	quiet := slog.New(slog.DiscardHandler)
	cat, err := packager.Package(ctx, packager.Config{Out: dir, Titles: cfg.titles, Duration: cfg.media, Logger: quiet})
	if err != nil {
		return nil, err
	}
	byName := map[string]*catalog.Title{}
	var titles []string
	fl := &fleetLog{}
	for i := range cat.Titles {
		t := &cat.Titles[i]
		byName[t.Name] = t
		titles = append(titles, t.Name)
		for _, r := range t.Renditions {
			for _, s := range r.Segments {
				fl.catalogBytes += s.Size
			}
		}
	}
	st, err := demo.Start(ctx, demo.StackConfig{Content: dir, CacheBytes: 1 << 30})
	if err != nil {
		return nil, err
	}
	defer st.Stop(context.Background())

	type rec struct {
		player, seg int32
		level       int
		bytes       int64
		ms          int64
		edge        string
	}
	var (
		mu   sync.Mutex
		recs []rec
		seen = make([]int32, cfg.players)
	)
	var links []player.Link
	for _, m := range cfg.linkMbps {
		links = append(links, player.ConstLink(m*1e6))
	}
	zones := []string{"zone-a", "zone-b", "zone-c"}
	t0 := time.Now()
	fctx, cancel := context.WithTimeout(ctx, cfg.budget)
	defer cancel()
	rep, err := player.RunFleet(fctx, player.FleetConfig{
		Players: cfg.players, Titles: titles, ZipfS: cfg.zipf, Rate: cfg.rate, MaxSeconds: cfg.media.Seconds(), Seed: 11,
		Links: links,
		NewEntry: func(i int) player.Entry {
			return &player.SteeringEntry{URL: st.Steering, Zone: zones[i%len(zones)]}
		},
		OnChunk: func(i int, c player.Chunk) {
			mu.Lock()
			recs = append(recs, rec{player: int32(i), seg: seen[i], level: c.Level, bytes: c.Bytes, ms: time.Since(t0).Milliseconds(), edge: c.EdgeName})
			seen[i]++
			mu.Unlock()
		},
	})
	if err != nil {
		return nil, err
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	// RunFleet's results are in player order; the hook counted each player's segments, which
	// are played from the first in order.
	fl.cut = fctx.Err() != nil
	if len(rep.PerPlayer) > cfg.players || (!fl.cut && len(rep.PerPlayer) != cfg.players) {
		return nil, fmt.Errorf("fleet: %d results for %d players", len(rep.PerPlayer), cfg.players)
	}
	for _, r := range recs {
		if int(r.player) >= len(rep.PerPlayer) {
			return nil, fmt.Errorf("fleet: a segment of player %d, who has no result", r.player)
		}
	}
	for i, r := range rep.PerPlayer {
		if len(r.Chunks) != int(seen[i]) {
			return nil, fmt.Errorf("fleet: player %d has %d chunks, the hook saw %d", i, len(r.Chunks), seen[i])
		}
	}
	fl.report = rep
	for _, r := range recs {
		res := rep.PerPlayer[r.player]
		c := res.Chunks[r.seg]
		if c.Level != r.level || c.Bytes != r.bytes {
			return nil, fmt.Errorf("fleet: player %d segment %d: hook and result disagree", r.player, r.seg)
		}
		t := byName[res.Title]
		if t == nil {
			return nil, fmt.Errorf("fleet: unknown title %q", res.Title)
		}
		rend := renditionFor(t, r.level, int(r.seg), r.bytes)
		if rend < 0 {
			fl.mismatches++
			rend = r.level
		}
		key := fmt.Sprintf("/vod/%s/%s/seg%05d.ts", t.Name, t.Renditions[min(rend, len(t.Renditions)-1)].Name, r.seg)
		fl.trace = append(fl.trace, cache.Request{Key: key, Size: r.bytes})
		fl.entries = append(fl.entries, fleetEntry{ms: r.ms, player: r.player, edge: r.edge})
		fl.requestedBytes += r.bytes
	}
	return fl, nil
}

// renditionFor returns the rendition of t whose segment seg is size bytes, trying the player's
// level first (levels and renditions are both ordered by bitrate), or -1.
func renditionFor(t *catalog.Title, level, seg int, size int64) int {
	ok := func(r int) bool {
		return r >= 0 && r < len(t.Renditions) && seg < len(t.Renditions[r].Segments) && t.Renditions[r].Segments[seg].Size == size
	}
	if ok(level) {
		return level
	}
	for r := range t.Renditions {
		if ok(r) {
			return r
		}
	}
	return -1
}

// writeFleetLog writes the log as gzipped CSV into dir if it comes to under 2 MB, and returns its
// name ("" if not kept) and compressed size.
func writeFleetLog(dir string, fl *fleetLog) (string, int, error) {
	var raw strings.Builder
	raw.WriteString("ms,player,key,bytes,edge\n")
	for i, r := range fl.trace {
		e := fl.entries[i]
		fmt.Fprintf(&raw, "%d,%d,%s,%d,%s\n", e.ms, e.player, r.Key, r.Size, e.edge)
	}
	var gz strings.Builder
	zw := gzip.NewWriter(&gz)
	if _, err := io.WriteString(zw, raw.String()); err != nil {
		return "", 0, err
	}
	if err := zw.Close(); err != nil {
		return "", 0, err
	}
	if gz.Len() >= 2<<20 {
		return "", gz.Len(), nil
	}
	name := "cache-policy-fleet-log.csv.gz"
	return name, gz.Len(), os.WriteFile(filepath.Join(dir, name), []byte(gz.String()), 0o644)
}

// --- reference policies ---

// simCost is the cost model shared with edge/cache: capacity in charged bytes, overhead charged
// per object on top of its size, and the largest charge admitted.
type simCost struct {
	capacity, overhead, admitMax int64
}

// edgeCost is edge/cache's model for a cache of capacity bytes.
func edgeCost(capacity int64) simCost {
	return simCost{capacity: capacity, overhead: cache.EntryOverhead, admitMax: capacity / 8}
}

// idTrace is a trace with its keys numbered 0..objects-1.
type idTrace struct {
	ids     []int32
	sizes   []int64
	objects int
}

func internTrace(trace []cache.Request) idTrace {
	ids := map[string]int32{}
	t := idTrace{ids: make([]int32, len(trace)), sizes: make([]int64, len(trace))}
	for i, r := range trace {
		id, ok := ids[r.Key]
		if !ok {
			id = int32(len(ids))
			ids[r.Key] = id
		}
		t.ids[i], t.sizes[i] = id, r.Size
	}
	t.objects = len(ids)
	return t
}

func (t idTrace) result(hits, hitBytes int64) simResult {
	var all int64
	for _, s := range t.sizes {
		all += s
	}
	if len(t.ids) == 0 || all == 0 {
		return simResult{}
	}
	return simResult{objectHR: float64(hits) / float64(len(t.ids)), byteHR: float64(hitBytes) / float64(all)}
}

// simulateLRU replays t through least-recently-used: a miss is stored (if admitted) after
// evicting from the least recently used end until it fits.
func simulateLRU(t idTrace, c simCost) simResult {
	const none = -1
	prev := make([]int32, t.objects)
	next := make([]int32, t.objects)
	charge := make([]int64, t.objects) // 0: not cached
	head, tail := int32(none), int32(none)
	unlink := func(x int32) {
		if prev[x] != none {
			next[prev[x]] = next[x]
		} else {
			head = next[x]
		}
		if next[x] != none {
			prev[next[x]] = prev[x]
		} else {
			tail = prev[x]
		}
	}
	pushFront := func(x int32) {
		prev[x], next[x] = none, head
		if head != none {
			prev[head] = x
		} else {
			tail = x
		}
		head = x
	}
	var bytes, hits, hitBytes int64
	for i, x := range t.ids {
		if charge[x] > 0 {
			hits++
			hitBytes += t.sizes[i]
			if head != x {
				unlink(x)
				pushFront(x)
			}
			continue
		}
		ch := t.sizes[i] + c.overhead
		if t.sizes[i] < 0 || ch > c.admitMax || ch <= 0 {
			continue
		}
		for bytes+ch > c.capacity && tail != none {
			v := tail
			unlink(v)
			bytes -= charge[v]
			charge[v] = 0
		}
		pushFront(x)
		charge[x] = ch
		bytes += ch
	}
	return t.result(hits, hitBytes)
}

// simulateBelady replays t through the offline farthest-next-use rule: a miss is admitted (if
// its charge is admitted at all) and then the cached objects requested again farthest in the
// future are evicted until the cache fits, which may be the new object itself (a bypass). For
// objects of one size this is Belady's optimal MIN (object hit ratio); for variable sizes it is
// the usual heuristic, not exact OPT.
func simulateBelady(t idTrace, c simCost) simResult {
	n := len(t.ids)
	never := int32(math.MaxInt32)
	nextUse := make([]int32, n)
	last := make([]int32, t.objects)
	for i := range last {
		last[i] = never
	}
	for i := n - 1; i >= 0; i-- {
		x := t.ids[i]
		nextUse[i] = last[x]
		last[x] = int32(i)
	}
	h := newNextUseHeap(t.objects)
	charge := make([]int64, t.objects)
	var bytes, hits, hitBytes int64
	for i, x := range t.ids {
		if h.pos[x] >= 0 {
			hits++
			hitBytes += t.sizes[i]
			h.update(x, nextUse[i])
			continue
		}
		ch := t.sizes[i] + c.overhead
		if t.sizes[i] < 0 || ch > c.admitMax || ch <= 0 || nextUse[i] == never {
			continue // not admitted, or never requested again: storing it cannot hit
		}
		h.push(x, nextUse[i])
		charge[x] = ch
		bytes += ch
		for bytes > c.capacity {
			v := h.pop()
			bytes -= charge[v]
		}
	}
	return t.result(hits, hitBytes)
}

// nextUseHeap is a max-heap of cached objects by the index of their next request.
type nextUseHeap struct {
	items []int32 // object ids
	key   []int32 // key[id]: next request index
	pos   []int32 // pos[id]: index in items, -1 if not cached
}

func newNextUseHeap(objects int) *nextUseHeap {
	h := &nextUseHeap{key: make([]int32, objects), pos: make([]int32, objects)}
	for i := range h.pos {
		h.pos[i] = -1
	}
	return h
}

func (h *nextUseHeap) less(i, j int) bool { return h.key[h.items[i]] > h.key[h.items[j]] }

func (h *nextUseHeap) swap(i, j int) {
	h.items[i], h.items[j] = h.items[j], h.items[i]
	h.pos[h.items[i]], h.pos[h.items[j]] = int32(i), int32(j)
}

func (h *nextUseHeap) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !h.less(i, p) {
			return
		}
		h.swap(i, p)
		i = p
	}
}

func (h *nextUseHeap) down(i int) {
	n := len(h.items)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && h.less(r, l) {
			m = r
		}
		if !h.less(m, i) {
			return
		}
		h.swap(i, m)
		i = m
	}
}

func (h *nextUseHeap) push(x, next int32) {
	h.key[x] = next
	h.pos[x] = int32(len(h.items))
	h.items = append(h.items, x)
	h.up(len(h.items) - 1)
}

func (h *nextUseHeap) update(x, next int32) {
	h.key[x] = next
	i := int(h.pos[x])
	h.up(i)
	h.down(int(h.pos[x]))
}

// pop removes and returns the object requested farthest in the future.
func (h *nextUseHeap) pop() int32 {
	x := h.items[0]
	last := len(h.items) - 1
	h.swap(0, last)
	h.items = h.items[:last]
	h.pos[x] = -1
	if last > 0 {
		h.down(0)
	}
	return x
}
