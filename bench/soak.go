package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"

	"edgecdn/player-sim/player"
)

// soakSample is one look at every process of the stack.
type soakSample struct {
	at         float64            // seconds since the fleet started
	rss        map[string]float64 // role -> MB, summed over its processes
	goroutines map[string]float64 // role -> goroutines, summed
	sessions   int64              // sessions finished so far
}

var soakRoles = []string{"origins", "edges", "balancers", "dns", "steering"}

// soakGoroutineSlack is the growth in goroutines a role may show after the warm-up and still be
// flat, whatever its percentage.
const soakGoroutineSlack = 2

// soakGrowth is the growth a role showed after the warm-up: the larger of its RSS's and its
// goroutines' (r0, g0 after the warm-up; r1, g1 at the end), as a fraction. One goroutine more
// of 18 is 5.6%: a count that small grows by whole goroutines (a connection being served as the
// window closed), so goroutine growth by fewer than soakGoroutineSlack is not counted.
func soakGrowth(r0, r1, g0, g1 float64) float64 {
	g := 0.0
	if g1-g0 >= soakGoroutineSlack {
		g = g1/g0 - 1
	}
	return max(r1/r0-1, g)
}

// runSoak keeps a steady fleet of players on the whole CDN (separate processes, as deployed)
// for --duration, sampling every process's resident memory and goroutines, and reports whether
// they stayed flat after the warm-up, with the players' errors and QoE.
func runSoak(ctx context.Context, args []string) (string, error) {
	fs := newFlags("soak")
	duration := fs.Duration("duration", 10*time.Minute, "how long the fleet plays")
	players := fs.Int("players", 60, "players playing at any moment (each ends a session and starts another)")
	session := fs.Duration("session", 40*time.Second, "media each session plays")
	warmup := fs.Duration("warmup", 0, "samples before this are warm-up (default a fifth of --duration)")
	every := fs.Duration("every", 5*time.Second, "sampling interval")
	cacheSize := fs.String("cache-size", "64MiB", "each edge's memory cache: small enough to fill during the warm-up")
	traces := fs.String("trace-dir", "", "players' links replay these throughput traces (default: constant --link-mbps links, so any error is the CDN's)")
	linkMbps := fs.Float64("link-mbps", 8, "every player's link when no --trace-dir, Mbit/s (the top rendition is 4.3)")
	if err := parseFlags(fs, args); err != nil {
		return "", err
	}
	if *duration <= 0 || *players <= 0 || *session <= 0 || *every <= 0 {
		return "", errors.New("soak: --duration, --players, --session and --every must be positive")
	}
	if *warmup == 0 {
		*warmup = *duration / 5
	}
	st, titles, done, err := packagedStack(ctx, "soak", 10, 60*time.Second, *cacheSize)
	if err != nil {
		return "", err
	}
	defer done()

	var links []player.Link
	linkNote := fmt.Sprintf("constant %g Mbit/s links (above the top rendition: a stall or an error is the CDN's)", *linkMbps)
	if *traces != "" {
		ls, _, err := player.LoadTraces(*traces)
		if err != nil {
			return "", fmt.Errorf("soak: --trace-dir: %w", err)
		}
		for _, l := range ls {
			links = append(links, l)
		}
		linkNote = fmt.Sprintf("links replaying the %d traces of %s from random offsets", len(ls), *traces)
	}
	if len(links) == 0 {
		links = []player.Link{player.ConstLink(*linkMbps * 1e6)}
	}

	runCtx, cancel := context.WithTimeout(ctx, *duration)
	defer cancel()
	var (
		mu       sync.Mutex
		sessions atomic.Int64
		agg      struct {
			failed, errs, corrupt, rebuffers, segments int
			rebufferS, playedS, qoe                    float64
			bytes                                      int64
			failReasons                                map[string]int
		}
	)
	agg.failReasons = map[string]int{}
	entries := func(i int) player.Entry {
		z := st.Zones[i%len(st.Zones)]
		switch i % 3 {
		case 0:
			return &player.SteeringEntry{URL: "http://" + st.Steering.addr, Zone: z}
		case 1:
			return &player.DNSEntry{Server: st.DNS.addr, Domain: st.Domain, Port: st.LBPort}
		default:
			return player.URLEntry{Base: "http://" + st.LBs[z].addr}
		}
	}
	start := time.Now()
	var wg sync.WaitGroup
	for w := range *players {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			zipf := rand.NewZipf(rng, 1.1, 1, uint64(len(titles)-1))
			// Arrivals spread over the first 10 s, then each player starts a new session when
			// its last one ends: a steady population.
			select {
			case <-runCtx.Done():
				return
			case <-time.After(time.Duration(rng.Int64N(int64(10 * time.Second)))):
			}
			for n := 0; runCtx.Err() == nil; n++ {
				link := links[rng.IntN(len(links))]
				if tl, ok := link.(*player.TraceLink); ok {
					link = tl.WithOffset(rng)
				}
				res, err := player.Play(runCtx, player.Config{
					Title: titles[zipf.Uint64()], Entry: entries(w + n), Link: link,
					MaxSeconds: session.Seconds(), SessionID: fmt.Sprintf("soak-%d-%d", w, n),
				})
				if runCtx.Err() != nil {
					return // cut by the end of the run: not counted
				}
				mu.Lock()
				switch {
				case err != nil:
					agg.failed++
					agg.failReasons[err.Error()]++
				case res.Failed:
					agg.failed++
					agg.failReasons[res.FailReason]++
				}
				if res != nil {
					agg.errs += res.Errors
					agg.corrupt += res.Corrupt
					agg.rebuffers += res.Rebuffers
					agg.rebufferS += res.RebufferS
					agg.playedS += res.PlayedS
					agg.qoe += res.QoELin
					agg.segments += len(res.Chunks)
					for _, c := range res.Chunks {
						agg.bytes += c.Bytes
					}
				}
				mu.Unlock()
				sessions.Add(1)
			}
		}()
	}

	// Sample every process until the run ends.
	client := &http.Client{Timeout: 3 * time.Second}
	var samples []soakSample
	var sampleErrs int
	take := func() {
		s := soakSample{at: time.Since(start).Seconds(), rss: map[string]float64{}, goroutines: map[string]float64{}, sessions: sessions.Load()}
		for _, p := range st.all() {
			rss, err := memBytes(p.p.cmd.Process.Pid)
			g, err2 := metricValue(client, p.metrics, "go_goroutines")
			if err != nil || err2 != nil {
				sampleErrs++
				continue
			}
			s.rss[p.role] += float64(rss) / 1e6
			s.goroutines[p.role] += g
		}
		samples = append(samples, s)
		fmt.Fprintf(os.Stderr, "\rsoak %4.0fs: %d sessions, edges %.0f MB %0.f goroutines   ", s.at, s.sessions, s.rss["edges"], s.goroutines["edges"])
	}
	tick := time.NewTicker(*every)
	take()
loop:
	for {
		select {
		case <-runCtx.Done():
			break loop
		case <-tick.C:
			take()
		}
	}
	tick.Stop()
	wg.Wait()
	// After the fleet: the servers' goroutines must fall back once connections close.
	// Wait (30 s at most) until they are back within 10% of the count before the fleet.
	base := 0.0
	for _, v := range samples[0].goroutines {
		base += v
	}
	idle := time.Now().Add(30 * time.Second)
	for {
		take()
		now := 0.0
		for _, v := range samples[len(samples)-1].goroutines {
			now += v
		}
		if now <= base*1.1 || time.Now().After(idle) {
			break
		}
		samples = samples[:len(samples)-1]
		time.Sleep(time.Second) // polling interval
	}
	after := samples[len(samples)-1]
	samples = samples[:len(samples)-1]
	fmt.Fprintln(os.Stderr)
	if ctx.Err() != nil {
		return "", ctx.Err()
	}

	// Growth: the mean of the last tenth of the run against the mean of the first tenth after warm-up.
	win := max(duration.Seconds()/10, 2*every.Seconds())
	mean := func(from, to float64, v func(soakSample) float64) (float64, int) {
		sum, n := 0.0, 0
		for _, s := range samples {
			if s.at >= from && s.at < to {
				sum += v(s)
				n++
			}
		}
		if n == 0 {
			return math.NaN(), 0
		}
		return sum / float64(n), n
	}
	end := samples[len(samples)-1].at + 0.001
	w0, w1 := warmup.Seconds(), warmup.Seconds()+win
	total := func(m map[string]float64) float64 {
		t := 0.0
		for _, v := range m {
			t += v
		}
		return t
	}

	var b strings.Builder
	fmt.Fprintf(&b, "## Soak: the whole CDN under a steady fleet\n\n`go run ./bench soak --duration %v --players %d --session %v --cache-size %s` on %d CPUs: 2 origins, 6 edges in 3 zones, 3 zone balancers, the DNS server and steering, each its own process gossiping with an encryption key, edges with a %s memory cache; %d players always playing (a third through steering's ranked edges, a third through DNS and the balancers, a third straight at a zone's balancer), each session %v of a Zipf(1.1)-chosen title of 10 (Envivio ladder) over %s, then the next session. Every process's memory (resident, VmRSS, plus the memfds it holds: an edge keeps segments in memfds) and goroutines (go_goroutines) sampled every %v; growth compares the mean of the last %.0f s with the mean of the %.0f s after a %v warm-up.\n\n",
		*duration, *players, *session, *cacheSize, runtime.NumCPU(), *cacheSize, *players, *session, linkNote, *every, win, win, *warmup)
	fmt.Fprintf(&b, "| role | RSS MB after warm-up | RSS MB at the end | RSS growth | goroutines after warm-up | goroutines at the end | goroutine growth | goroutines idle after the fleet |\n|---|---:|---:|---:|---:|---:|---:|---:|\n")
	worst := 0.0
	for _, role := range append(append([]string(nil), soakRoles...), "total") {
		get := func(m func(soakSample) map[string]float64) func(soakSample) float64 {
			return func(s soakSample) float64 {
				if role == "total" {
					return total(m(s))
				}
				return m(s)[role]
			}
		}
		rss := get(func(s soakSample) map[string]float64 { return s.rss })
		gr := get(func(s soakSample) map[string]float64 { return s.goroutines })
		r0, _ := mean(w0, w1, rss)
		r1, _ := mean(end-win, end, rss)
		g0, _ := mean(w0, w1, gr)
		g1, _ := mean(end-win, end, gr)
		idleG := after.goroutines[role]
		if role == "total" {
			idleG = total(after.goroutines)
		}
		fmt.Fprintf(&b, "| %s | %.1f | %.1f | %+.1f%% | %.0f | %.0f | %+.1f%% | %.0f |\n", role, r0, r1, 100*(r1/r0-1), g0, g1, 100*(g1/g0-1), idleG)
		worst = max(worst, soakGrowth(r0, r1, g0, g1))
	}
	mu.Lock()
	defer mu.Unlock()
	n := sessions.Load()
	fmt.Fprintf(&b, "\nPlayers: %d sessions finished, %d failed, %d errors (requests that failed and were retried on another edge), %d corrupt segments detected (none accepted: each is hashed against catalog.json or the ETag), %d segments, %.2f GB served, rebuffer ratio %.4f (%d stalls), mean QoE_lin %.2f. Sampling errors: %d.\n",
		n, agg.failed, agg.errs, agg.corrupt, agg.segments, float64(agg.bytes)/1e9, agg.rebufferS/math.Max(agg.playedS+agg.rebufferS, 1), agg.rebuffers, agg.qoe/math.Max(float64(n), 1), sampleErrs)
	for r, c := range agg.failReasons {
		fmt.Fprintf(&b, "- failed %d times: %s\n", c, r)
	}
	verdict := fmt.Sprintf("flat: every role's RSS and goroutines grew less than 5%% after warm-up (goroutines: or by fewer than %d)", soakGoroutineSlack)
	if worst >= 0.05 {
		verdict = fmt.Sprintf("NOT flat: the largest growth after warm-up was %.1f%%", 100*worst)
	}
	if agg.failed+agg.errs > 0 {
		verdict += "; the fleet saw errors"
	} else {
		verdict += "; zero errors"
	}
	fmt.Fprintf(&b, "\nSummary: %s.\n", verdict)
	if dir, err := resultsDir(); err == nil {
		if err := soakPlots(dir, samples); err != nil {
			fmt.Fprintf(&b, "\n(plots not written: %v)\n", err)
		} else {
			fmt.Fprintf(&b, "\n![RSS over time](soak-rss.png)\n![goroutines over time](soak-goroutines.png)\n")
		}
		var csv strings.Builder
		fmt.Fprintf(&csv, "t_s,sessions")
		for _, r := range soakRoles {
			fmt.Fprintf(&csv, ",%s_rss_mb,%s_goroutines", r, r)
		}
		csv.WriteString("\n")
		for _, s := range samples {
			fmt.Fprintf(&csv, "%.1f,%d", s.at, s.sessions)
			for _, r := range soakRoles {
				fmt.Fprintf(&csv, ",%.1f,%.0f", s.rss[r], s.goroutines[r])
			}
			csv.WriteString("\n")
		}
		os.WriteFile(filepath.Join(dir, "soak.csv"), []byte(csv.String()), 0o644)
		fmt.Fprintf(&b, "\nThe samples: [soak.csv](soak.csv).\n")
	}
	return b.String(), nil
}

func soakPlots(dir string, samples []soakSample) error {
	for _, kind := range []struct {
		file, title, y string
		v              func(soakSample) map[string]float64
	}{
		{"soak-rss.png", "Resident memory per role (sum of its processes)", "RSS (MB)", func(s soakSample) map[string]float64 { return s.rss }},
		{"soak-goroutines.png", "Goroutines per role (sum of its processes)", "goroutines", func(s soakSample) map[string]float64 { return s.goroutines }},
	} {
		p := plot.New()
		p.Title.Text, p.X.Label.Text, p.Y.Label.Text = kind.title, "time (s)", kind.y
		var lines []any
		for _, role := range soakRoles {
			pts := make(plotter.XYs, len(samples))
			for i, s := range samples {
				pts[i].X, pts[i].Y = s.at, kind.v(s)[role]
			}
			lines = append(lines, role, pts)
		}
		if err := plotutil.AddLines(p, lines...); err != nil {
			return err
		}
		p.Legend.Top = true
		if err := p.Save(8*vg.Inch, 4*vg.Inch, filepath.Join(dir, kind.file)); err != nil {
			return err
		}
	}
	return nil
}
