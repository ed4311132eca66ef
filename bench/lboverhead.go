package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"edgecdn/internal/evloop"
)

// runLBOverhead measures what the zone balancer costs: the same objects through the balancer
// and straight from the edge, beside HAProxy and nginx as reverse proxies in front of the same
// edge, under the same wrk, interleaved in one run; with the CPU each process used.
func runLBOverhead(ctx context.Context, args []string) (string, error) {
	fs := newFlags("lb-overhead")
	pin := addPinFlag(fs)
	segments := fs.Int("segments", 10, "segments each virtual player fetches per session in the tier-2 designs table")
	lbLoops := fs.Int("lb-loops", 0, "also measure a balancer with --loops `N` (\"via lb N loops\") in the same rotation (0: none)")
	wk, err := wrkScenario(fs, args, "wrk")
	if err == nil && *segments < 1 {
		err = fmt.Errorf("--segments %d: want at least 1", *segments)
	}
	if err == nil {
		err = setPinned(*pin)
	}
	if err != nil {
		return "", err
	}
	pb, err := startPeerBench(ctx, "lb")
	if err != nil {
		return "", err
	}
	defer pb.stop()
	work, bin, objects, titles, edge := pb.work, pb.bin, pb.objects, pb.titles, pb.edge
	lb, err := startEdgecdn(ctx, bin, "lb", "lb", "--standalone", "--upstream", edge.addr, "--name", "lb")
	if err != nil {
		return "", err
	}
	defer lb.stop()
	redir, err := startEdgecdn(ctx, bin, "lb redirect", "lb", "--standalone", "--upstream", edge.addr, "--name", "lb-redirect", "--mode", "redirect")
	if err != nil {
		return "", err
	}
	defer redir.stop()
	direct := &proc{name: "direct", addr: edge.addr}
	lb.name = "via lb"
	redir.name = "via lb redirect"
	targets := []*proc{direct, lb}
	if *lbLoops > 0 {
		lbn, err := startEdgecdn(ctx, bin, "lb loops", "lb", "--standalone", "--upstream", edge.addr, "--name", "lb-loops", "--loops", strconv.Itoa(*lbLoops))
		if err != nil {
			return "", err
		}
		defer lbn.stop()
		lbn.name = fmt.Sprintf("via lb %d loops", *lbLoops)
		targets = append(targets, lbn)
	}
	// HAProxy and nginx as reverse proxies in front of the same edge: what a proxy costs on
	// these cores.
	var missing []string
	if _, err := exec.LookPath("haproxy"); err == nil {
		hap, err := startHAProxy(ctx, work, edge.addr)
		if err != nil {
			return "", fmt.Errorf("haproxy: %w", err)
		}
		defer hap.stop()
		targets = append(targets, hap)
	} else {
		missing = append(missing, "haproxy")
	}
	if _, err := exec.LookPath("nginx"); err == nil {
		ngx, err := startNginxProxy(ctx, work, edge.addr)
		if err != nil {
			return "", fmt.Errorf("nginx proxy: %w", err)
		}
		defer ngx.stop()
		targets = append(targets, ngx)
	} else {
		missing = append(missing, "nginx")
	}
	if len(missing) > 0 {
		fmt.Fprintf(os.Stderr, "%s not installed: not in the table (apt-get install %s)\n", strings.Join(missing, ", "), strings.Join(missing, " "))
	}
	for _, tg := range targets {
		for _, o := range objects {
			if err := warm("http://"+tg.addr+o.path, 3); err != nil {
				return "", err
			}
		}
		if err := warmUnderLoad(ctx, "http://"+tg.addr+objects[0].path, slices.Max(wk.conns), 2); err != nil {
			return "", err
		}
	}
	for _, t := range titles {
		for _, p := range []string{t.master, strings.Replace(t.master, "master-", "media-", 1)} {
			if err := warm("http://"+edge.addr+p, 3); err != nil {
				return "", err
			}
		}
	}
	type run struct {
		w                 wrkResult
		edgeCPU, proxyCPU time.Duration
	}
	var b strings.Builder
	fmt.Fprintf(&b, "## Balancer overhead and DNS rate\n\n### Balancer\n\n`go run ./bench lb-overhead --duration %v --runs %d --connections %s%s` on %d CPUs (%s, %s); wrk (2 threads), the proxy, the edge and the origin. %s Every target warmed first (a few requests per object, then 2 s of wrk on the playlist at the most connections). Median of %d runs per cell, targets interleaved in rotating order. ",
		wk.dur, wk.runs, wk.connsFlag, pinArg(), runtime.NumCPU(), runtime.Version(), tcpNote(), pinNote(), wk.runs)
	fmt.Fprintf(&b, "HAProxy: %s, nbthread %d, keep-alive to the edge, `http-reuse always`, `option splice-response`. nginx: keep-alive upstream (512 idle), `proxy_buffering off` with 64 KB buffers, worker_processes %d. Balancer: `edgecdn lb` as the manifests run it (`--engine loop`, its default: %d epoll event loop(s), one per P, each giving its core away after %v without parking). Edge: `edgecdn edge`, every request a hit. ",
		haproxyVersion(), serverThreads(), serverThreads(), serverThreads(), evloop.DefaultYieldCPU)
	fmt.Fprintf(&b, "CPU columns: cores each process used over the run (user + system time from /proc/PID/stat, children included, / wall time), and the proxy's CPU per request.\n\n")
	fmt.Fprintf(&b, "| object | conns | path | req/s | / direct | MB/s | p50 ms | p99 ms | errors | edge cores | proxy cores | wrk cores | proxy us/req |\n|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	var ratios strings.Builder
	fmt.Fprintf(&ratios, "\n| object | conns | lb / direct | HAProxy / direct | nginx / direct | p99 ms: lb / HAProxy / nginx | lb >= the better peer, p99 no worse |\n|---|---:|---:|---:|---:|---|---|\n")
	met, total := 0, 0
	var summary []string
	for _, o := range objects {
		for _, c := range wk.conns {
			res := map[string][]run{}
			for r := 0; r < wk.runs; r++ {
				for i := range targets {
					tg := targets[(i+r)%len(targets)]
					e0, p0 := procCPU(edge.pid()), procCPU(tg.pid())
					w, err := runWrk(ctx, "http://"+tg.addr+o.path, c, 2, wk.dur)
					if err != nil {
						return "", err
					}
					rr := run{w: w, edgeCPU: procCPU(edge.pid()) - e0}
					if tg != direct {
						rr.proxyCPU = procCPU(tg.pid()) - p0
					}
					res[tg.name] = append(res[tg.name], rr)
					fmt.Fprintf(os.Stderr, "%s %s c=%d: %.0f req/s p99 %s ms\n", tg.name, o.name, c, w.ReqPerSec, ms(w.P99))
				}
			}
			med := map[string]run{}
			for _, tg := range targets {
				rs := res[tg.name]
				sort.Slice(rs, func(i, j int) bool { return rs[i].w.ReqPerSec < rs[j].w.ReqPerSec })
				med[tg.name] = rs[len(rs)/2]
			}
			d := med["direct"].w
			for _, tg := range targets {
				m := med[tg.name]
				secs := m.w.Wall.Seconds()
				proxy, perReq := "-", "-"
				if tg != direct {
					proxy = fmt.Sprintf("%.2f", m.proxyCPU.Seconds()/secs)
					perReq = fmt.Sprintf("%.1f", m.proxyCPU.Seconds()*1e6/float64(max(m.w.Requests, 1)))
				}
				fmt.Fprintf(&b, "| %s | %d | %s | %.0f | %.2f | %.0f | %s | %s | %d | %.2f | %s | %.2f | %s |\n", o.name, c, tg.name, m.w.ReqPerSec, m.w.ReqPerSec/d.ReqPerSec,
					m.w.MBPerSec, ms(m.w.P50), ms(m.w.P99), m.w.Errors, m.edgeCPU.Seconds()/secs, proxy, m.w.CPU.Seconds()/secs, perReq)
			}
			ratio := func(name string) (string, float64, string) {
				m, ok := med[name]
				if !ok {
					return "n/a", 0, "n/a"
				}
				return fmt.Sprintf("%.2f", m.w.ReqPerSec/d.ReqPerSec), m.w.ReqPerSec, ms(m.w.P99)
			}
			lr, lps, lp99 := ratio("via lb")
			hr, hps, hp99 := ratio("via haproxy")
			nr, nps, np99 := ratio("via nginx proxy")
			best := med["via haproxy"]
			if nps > hps {
				best = med["via nginx proxy"]
			}
			ok := lps >= max(hps, nps) && (best.w.P99 == 0 || med["via lb"].w.P99 <= best.w.P99)
			total++
			if ok {
				met++
			}
			fmt.Fprintf(&ratios, "| %s | %d | %s | %s | %s | %s / %s / %s | %s |\n", o.name, c, lr, hr, nr, lp99, hp99, np99, yesNo(ok))
			f := strings.Fields(o.name)
			summary = append(summary, fmt.Sprintf("%s at %d connections %s (HAProxy %s, nginx %s)", strings.Join(f[len(f)-2:], " "), c, lr, hr, nr))
		}
	}
	b.WriteString(ratios.String())
	fmt.Fprintf(&b, "\nGoal (through the balancer / direct >= the better of HAProxy and nginx, p99 no worse) met on %d of %d rows.\n", met, total)
	// The redirect mode: what a 302 costs the balancer (wrk does not follow it; a player pays
	// one more round trip, then talks to the edge).
	fmt.Fprintf(&b, "\n### Redirect mode\n\n`edgecdn lb --mode redirect` answering the playlist's URL with a 302 to the edge (wrk does not follow redirects: these are the balancer's own answers), median of %d runs:\n\n", wk.runs)
	fmt.Fprintf(&b, "| conns | 302/s | p50 ms | p99 ms | balancer cores | balancer us per 302 |\n|---:|---:|---:|---:|---:|---:|\n")
	var redirSummary []string
	for _, c := range wk.conns {
		var rs []run
		for r := 0; r < wk.runs; r++ {
			p0 := procCPU(redir.pid())
			w, err := runWrk(ctx, "http://"+redir.addr+objects[0].path, c, 2, wk.dur)
			if err != nil {
				return "", err
			}
			rs = append(rs, run{w: w, proxyCPU: procCPU(redir.pid()) - p0})
		}
		sort.Slice(rs, func(i, j int) bool { return rs[i].w.ReqPerSec < rs[j].w.ReqPerSec })
		m := rs[len(rs)/2]
		fmt.Fprintf(&b, "| %d | %.0f | %s | %s | %.2f | %.1f |\n", c, m.w.ReqPerSec, ms(m.w.P50), ms(m.w.P99), m.proxyCPU.Seconds()/m.w.Wall.Seconds(),
			m.proxyCPU.Seconds()*1e6/float64(max(m.w.Requests, 1)))
		redirSummary = append(redirSummary, fmt.Sprintf("%.0f", m.w.ReqPerSec))
	}
	// Players: the designs as a player's session uses them.
	tier2 := append([]*proc{targets[0], targets[1], redir}, targets[2:]...)
	ptable, psummary, err := tier2Table(ctx, wk, *segments, titles, edge, tier2)
	if err != nil {
		return "", err
	}
	b.WriteString(ptable)
	// Tier 1: the DNS server's answer rate over real UDP on loopback.
	qps, err := dnsRate(ctx)
	if err != nil {
		fmt.Fprintf(&b, "\nDNS rate: not measured: %v\n", err)
	} else {
		fmt.Fprintf(&b, "\n### DNS rate\n\n`go test -run NONE -bench QueryUDP -benchtime 3s ./loadbalancer/dns`: A queries for three zones' balancers answered over real UDP on loopback by %d concurrent Go clients, one query in flight each: **%.0f queries/s** (%.1f us per query, the clients on the same cores).\n", 2*runtime.NumCPU(), qps, 1e6/qps)
	}
	fmt.Fprintf(&b, "\nSummary: through the balancer / straight to the edge: %s; ahead of the better peer on %d of %d rows; redirect mode %s 302/s; %s; DNS %.0f queries/s.\n", strings.Join(summary, "; "), met, total, strings.Join(redirSummary, " / "), psummary, qps)
	return b.String(), nil
}

// dnsRate runs the DNS server's UDP benchmark and returns queries per second.
func dnsRate(ctx context.Context) (float64, error) {
	out, err := exec.CommandContext(ctx, "go", "test", "-run", "NONE", "-bench", "QueryUDP", "-benchtime", "3s", "./loadbalancer/dns").CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("go test -bench QueryUDP: %v: %s", err, tail(string(out), 500))
	}
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		for i := 1; i < len(f); i++ {
			if f[i] == "ns/op" && strings.HasPrefix(f[0], "BenchmarkQueryUDP") {
				var ns float64
				if _, err := fmt.Sscan(f[i-1], &ns); err == nil && ns > 0 {
					return 1e9 / ns, nil
				}
			}
		}
	}
	return 0, fmt.Errorf("no BenchmarkQueryUDP line in: %s", tail(string(out), 500))
}

// startNginxProxy runs nginx as a keep-alive reverse proxy to upstream, streaming bodies
// through 64 KB buffers: with the default 4 KB buffer a 1 MB response cost it 2.7 ms of CPU,
// with 64 KB 0.5-0.6 ms (and proxy_buffering on with the same buffers 0.7-0.9 ms).
func startNginxProxy(ctx context.Context, work, upstream string) (*proc, error) {
	return runNginx(ctx, work, "via nginx proxy", "/healthz", `
  upstream edge { server `+upstream+`; keepalive 512; }
  server {
    listen 127.0.0.1:{PORT};
    location / {
      proxy_pass http://edge;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
      proxy_buffer_size 64k;
      proxy_buffers 4 64k;
      proxy_busy_buffers_size 128k;
    }
  }`)
}

// startHAProxy runs HAProxy in the foreground as a reverse proxy to upstream, configured as a
// fair peer: one thread per core, keep-alive connections to the edge shared between clients
// (http-reuse always), and response bodies moved with splice(2). `option splice-response`
// (always) rather than splice-auto: on these cores splice-auto cost 890-1150 us of CPU per
// 1 MB response, splice-response 370-410, and the two were even on the 2 KB playlist.
func startHAProxy(ctx context.Context, work, upstream string) (*proc, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(work, "haproxy")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	conf := fmt.Sprintf(`global
  nbthread %d
  maxconn 4096
defaults
  mode http
  timeout connect 1s
  timeout client 30s
  timeout server 30s
  timeout http-keep-alive 60s
  option http-keep-alive
  http-reuse always
  option splice-response
frontend fe
  bind 127.0.0.1:%d
  default_backend edge
backend edge
  server edge %s maxconn 1024
`, serverThreads(), port, upstream)
	path := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	cmd := serverCommand(ctx, "haproxy", "-db", "-f", path)
	cmd.Stderr = os.Stderr
	p, err := startProc(cmd, "via haproxy", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		return nil, err
	}
	if err := waitHTTP("http://"+p.addr+"/healthz", 10*time.Second); err != nil {
		p.stop()
		return nil, err
	}
	return p, nil
}

// haproxyVersion is "HAProxy 2.6.12" or "HAProxy".
func haproxyVersion() string {
	out, err := exec.Command("haproxy", "-v").Output()
	if f := strings.Fields(string(out)); err == nil && len(f) >= 3 {
		return "HAProxy " + strings.SplitN(f[2], "-", 2)[0]
	}
	return "HAProxy"
}

// tier2Table measures the tier-2 designs as players use them: virtual players (as many as
// wrk's connections) play sessions of the title of each segment size through each target,
// interleaved in rotating order, median of wk.runs; then says which design the manifests and
// the demo run, and why, from the figures.
func tier2Table(ctx context.Context, wk wrkSettings, segments int, titles []playerTitle, edge *proc, targets []*proc) (table, summary string, err error) {
	type run struct {
		r                 playerResult
		edgeCPU, tier2CPU time.Duration
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n### Tier-2 designs as players use them\n\n")
	fmt.Fprintf(&b, "Virtual players in the bench process (Go, fasthttp, one keep-alive connection per player to each host it talks to; as many players as wrk had connections), each looping over sessions for %v per run: "+
		"GET the title's multivariant playlist through the target, following a 302 if there is one (`edgecdn lb --mode redirect` answers one; the proxies never do), then its media playlist and %d segments, "+
		"each URL resolved against the one the playlist came from (as hls.js, dash.js and player-sim do), so after a 302 the session's other requests go straight to the edge. "+
		"Segment p50/p99: one segment request, body read whole; start p50: a session's first request to its first segment read whole; requests to target: per finished session. "+
		"Every target is warmed with a second of sessions before each cell's runs; median of %d runs per cell, targets interleaved in rotating order; `--segments` sets the segments per session.\n\n", wk.dur, segments, wk.runs)
	fmt.Fprintf(&b, "| object | players | target | segments/s | / direct | MB/s | seg p50 ms | seg p99 ms | start p50 ms | sessions/s | requests to target per session | errors | edge cores | tier-2 cores | player cores | tier-2 us/segment |\n|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	direct := targets[0]
	type key struct {
		title   string
		players int
	}
	meds := map[key]map[string]run{}
	for _, t := range titles {
		for _, c := range wk.conns {
			res := map[string][]run{}
			load := func(tg *proc, d time.Duration) *playerLoad {
				return &playerLoad{Start: "http://" + tg.addr + t.master, Players: c, Segments: segments, Duration: d,
					MaxSessions: 1 << 20, Timeout: 10 * time.Second}
			}
			// A second's untimed sessions through every target first, so that no target's first
			// timed run opens the cell's connections. (The 1 MB cell at 64 players still starts
			// slowly for every target, direct included; bench/README.md.)
			for _, tg := range targets {
				if _, err := load(tg, min(wk.dur, time.Second)).run(ctx); err != nil {
					return "", "", fmt.Errorf("players through %s, warming: %w", tg.name, err)
				}
			}
			for r := 0; r < wk.runs; r++ {
				for i := range targets {
					tg := targets[(i+r)%len(targets)]
					l := load(tg, wk.dur)
					e0, p0 := procCPU(edge.pid()), procCPU(tg.pid())
					pr, err := l.run(ctx)
					if err != nil {
						return "", "", fmt.Errorf("players through %s: %w", tg.name, err)
					}
					rr := run{r: pr, edgeCPU: procCPU(edge.pid()) - e0}
					if tg != direct {
						rr.tier2CPU = procCPU(tg.pid()) - p0
					}
					res[tg.name] = append(res[tg.name], rr)
					fmt.Fprintf(os.Stderr, "players %s %s n=%d: %.0f segments/s p99 %s ms errors %d\n", tg.name, t.name, c, pr.perSec(pr.Segments), ms(pr.SegP99), pr.Errors)
					if pr.FirstErr != nil {
						fmt.Fprintf(os.Stderr, "  first error: %v\n", pr.FirstErr)
					}
				}
			}
			med := map[string]run{}
			for _, tg := range targets {
				rs := res[tg.name]
				sort.Slice(rs, func(i, j int) bool { return rs[i].r.perSec(rs[i].r.Segments) < rs[j].r.perSec(rs[j].r.Segments) })
				med[tg.name] = rs[len(rs)/2]
			}
			meds[key{t.name, c}] = med
			d := med[direct.name].r
			for _, tg := range targets {
				m := med[tg.name]
				secs := m.r.Wall.Seconds()
				tier2, perSeg := "-", "-"
				if tg != direct {
					tier2 = fmt.Sprintf("%.2f", m.tier2CPU.Seconds()/secs)
					perSeg = fmt.Sprintf("%.1f", m.tier2CPU.Seconds()*1e6/float64(max(m.r.Segments, 1)))
				}
				perSession := float64(m.r.StartRequests) / float64(max(m.r.Sessions, 1))
				fmt.Fprintf(&b, "| %s | %d | %s | %.0f | %.2f | %.0f | %s | %s | %s | %.0f | %.1f | %d | %.2f | %s | %.2f | %s |\n",
					t.name, c, tier2Name(tg.name), m.r.perSec(m.r.Segments), m.r.perSec(m.r.Segments)/max(d.perSec(d.Segments), 1e-9),
					float64(m.r.Bytes)/1e6/secs, ms(m.r.SegP50), ms(m.r.SegP99), ms(m.r.StartP50), m.r.perSec(m.r.Sessions), perSession,
					m.r.Errors, m.edgeCPU.Seconds()/secs, tier2, m.r.CPU.Seconds()/secs, perSeg)
			}
		}
	}
	// The ratios the requirement names, and what they mean for the manifests and the demo.
	ratio := func(t playerTitle, c int, name string) string {
		m, ok := meds[key{t.name, c}][name]
		if !ok {
			return "n/a"
		}
		d := meds[key{t.name, c}][direct.name].r
		return fmt.Sprintf("%.2f", m.r.perSec(m.r.Segments)/max(d.perSec(d.Segments), 1e-9))
	}
	var rows, goal []string
	for _, t := range titles {
		for _, c := range wk.conns {
			m := meds[key{t.name, c}]
			if t.segment >= 1_000_000 {
				goal = append(goal, fmt.Sprintf("%d players: proxy %s, redirect %s", c, ratio(t, c, "via lb"), ratio(t, c, "via lb redirect")))
			}
			rows = append(rows, fmt.Sprintf("%s, %d players: lb proxy %s, lb redirect %s, HAProxy %s, nginx %s of direct's segments/s; start p50 %s ms direct, %s proxy, %s redirect",
				t.name, c, ratio(t, c, "via lb"), ratio(t, c, "via lb redirect"), ratio(t, c, "via haproxy"), ratio(t, c, "via nginx proxy"),
				ms(m[direct.name].r.StartP50), ms(m["via lb"].r.StartP50), ms(m["via lb redirect"].r.StartP50)))
		}
	}
	fmt.Fprintf(&b, "\nPer row: %s.\n", strings.Join(rows, "; "))
	summary = "players' 1 MB segments/s through the balancer / direct: " + strings.Join(goal, "; ")
	fmt.Fprintf(&b, "\nBalancer / direct >= 0.8 for 1 MB segments, as players fetch them: %s.\n", strings.Join(goal, "; "))
	fmt.Fprintf(&b, "\n**Which design the manifests and the demo use.** Both run the balancer as a proxy: `k8s/base/zone-*.yaml` start `edgecdn lb` without `--mode`, and `edgecdn demo` builds its balancers without `Redirect`. "+
		"The redirect mode takes the balancer off the data path (one request per session reaches it), which is what its ratio to direct above measures; it stays an option, not the default, because "+
		"(1) a 302 sends players to the edge's announced address, which in the manifests is a pod address that players outside the cluster cannot reach (the kind cluster forwards only the DNS server's, the balancers' and steering's ports to the host); in the demo the edges listen on loopback and would be reachable, so there (2) to (4) decide; "+
		"(2) the proxy retries a GET on another edge before the first byte and ejects the failing edge, per request, while a redirected player stays on one edge for the session: when that edge dies its requests fail until it starts over from the multivariant playlist (web/browser_test.go kills every edge of the zone a browser is playing from, through the demo's balancers, and requires play to go on with no stall over 2 s); "+
		"(3) the balancer's per-edge metrics (requests, errors, response time) then see one request per session instead of every segment; "+
		"(4) each session pays one more round trip before its first segment (start p50 above). "+
		"Redirect is the design for a deployment whose edges are reachable by players and whose balancers' CPU is the bound.\n")
	return b.String(), summary, nil
}

// tier2Name is the name of a target in the tier-2 designs table.
func tier2Name(proc string) string {
	switch proc {
	case "via lb":
		return "lb proxy"
	case "via lb redirect":
		return "lb redirect"
	case "via haproxy":
		return "HAProxy"
	case "via nginx proxy":
		return "nginx"
	}
	return proc
}
