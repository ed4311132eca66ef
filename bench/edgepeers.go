package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// runEdgeVsPeers measures the edge's hit path side by side with nginx (static files, sendfile)
// and Varnish (malloc storage in front of the edgecdn origin), driven by the same wrk, in one
// run: a 2 KB playlist, a 100 KB and a 1 MB segment, at each connection count.
func runEdgeVsPeers(ctx context.Context, args []string) (string, error) {
	fs := newFlags("edge-vs-peers")
	threads := fs.Int("threads", 2, "wrk threads")
	pin := addPinFlag(fs)
	also := fs.Bool("goroutine-edge", false, "also measure an edge with --engine goroutines (\"edge-goroutines\"), in the same rotation")
	baseline := fs.String("baseline", "", "also measure the edge of this edgecdn binary (\"edge-base\": one built from an earlier commit, say), in the same rotation, for a before/after in one run")
	wk, err := wrkScenario(fs, args, "wrk", "nginx", "varnishd")
	if err == nil {
		err = setPinned(*pin)
	}
	if err != nil {
		return "", err
	}
	pb, err := startPeerBench(ctx, "peers", "--cache-size", "512MiB")
	if err != nil {
		return "", err
	}
	defer pb.stop()
	work, objects, origin, edge := pb.work, pb.objects, pb.origin, pb.edge
	ngx, err := startNginx(ctx, work, pb.content)
	if err != nil {
		return "", fmt.Errorf("nginx: %w", err)
	}
	defer ngx.stop()
	vsh, err := startVarnish(ctx, work, origin.addr)
	if err != nil {
		return "", fmt.Errorf("varnish: %w", err)
	}
	defer vsh.stop()

	servers := []*proc{edge, ngx, vsh}
	if *also {
		eg, err := startEdgecdn(ctx, pb.bin, "edge-goroutines", "edge", "--standalone", "--origin", "http://"+origin.addr, "--name", "edge", "--cache-size", "512MiB", "--engine", "goroutines")
		if err != nil {
			return "", err
		}
		defer eg.stop()
		servers = append(servers, eg)
	}
	if *baseline != "" {
		eb, err := startEdgecdn(ctx, *baseline, "edge-base", "edge", "--standalone", "--origin", "http://"+origin.addr, "--name", "edge-base", "--cache-size", "512MiB")
		if err != nil {
			return "", fmt.Errorf("--baseline: %w", err)
		}
		defer eb.stop()
		servers = append(servers, eb)
	}
	for _, s := range servers {
		for _, o := range objects {
			if err := warm("http://"+s.addr+o.path, 3); err != nil {
				return "", fmt.Errorf("%s: %w", s.name, err)
			}
		}
		if err := warmUnderLoad(ctx, "http://"+s.addr+objects[0].path, slices.Max(wk.conns), *threads); err != nil {
			return "", err
		}
	}

	type cell struct{ obj, conns int }
	results := map[cell]map[string][]wrkResult{}
	for oi, o := range objects {
		for _, c := range wk.conns {
			k := cell{oi, c}
			results[k] = map[string][]wrkResult{}
			for r := 0; r < wk.runs; r++ {
				// Interleaved, and each run starts with a different server, so that drift and
				// whatever one server leaves behind (Varnish's background threads) hit all alike.
				for i := range servers {
					s := servers[(i+r)%len(servers)]
					c0 := procCPU(s.pid())
					res, err := runWrk(ctx, "http://"+s.addr+o.path, c, *threads, wk.dur)
					if err != nil {
						return "", fmt.Errorf("%s: %w", s.name, err)
					}
					res.ServerCPU = procCPU(s.pid()) - c0
					results[k][s.name] = append(results[k][s.name], res)
					fmt.Fprintf(os.Stderr, "%s %s c=%d run %d: %.0f req/s p99 %s ms\n", s.name, o.name, c, r+1, res.ReqPerSec, ms(res.P99))
				}
			}
		}
	}

	var b strings.Builder
	fmt.Fprintf(&b, "## Edge hit path vs nginx and Varnish\n\n")
	alsoArg, alsoNote := "", ""
	if *also {
		alsoArg = " --goroutine-edge"
		alsoNote = " edge-goroutines: the same edge with `--engine goroutines` (fasthttp's goroutine per connection), the engine before the event loop."
	}
	if *baseline != "" {
		alsoArg += " --baseline " + *baseline
		alsoNote += " edge-base: the edge of the binary given with --baseline, with the same flags: the before of a change, measured in the same run."
	}
	fmt.Fprintf(&b, "`go run ./bench edge-vs-peers --duration %v --runs %d --connections %s%s%s` on %d CPUs (%s, %s), wrk %d threads; median of %d runs per cell, servers interleaved in rotating order. %s ",
		wk.dur, wk.runs, wk.connsFlag, pinArg(), alsoArg, runtime.NumCPU(), runtime.Version(), tcpNote(), *threads, wk.runs, pinNote())
	fmt.Fprintf(&b, "nginx: static files, sendfile on, open_file_cache, worker_processes %d. Varnish: malloc 512 MB in front of the edgecdn origin, %d thread pools of at least 100 threads. Edge: `edgecdn edge` (its default engine, the event loop, %d loop(s), one per P), 512 MiB memory cache.%s All warmed first (a few requests per object, then 2 s of wrk on the playlist at the most connections); every request is a hit.\n\n", serverThreads(), serverThreads(), serverThreads(), alsoNote)
	fmt.Fprintf(&b, "CPU columns: cores the server (its workers included) and wrk used over the run (user + system time from /proc/PID/stat / wall time), and the server's CPU per request.\n\n")
	fmt.Fprintf(&b, "| object | conns | server | req/s | MB/s | p50 ms | p99 ms | errors | server cores | wrk cores | server us/req |\n|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	var ratios strings.Builder
	baseCol, baseSep := "", ""
	if *baseline != "" {
		baseCol, baseSep = " edge/edge-base req/s | edge p99 vs edge-base's |", "---:|---:|"
	}
	fmt.Fprintf(&ratios, "\n| object | conns | edge/nginx req/s | edge/Varnish req/s | edge / best peer | edge p99 vs best peer's | goal met |%s\n|---|---:|---:|---:|---:|---:|---|%s\n", baseCol, baseSep)
	met := 0
	total := 0
	var rlo, rhi float64 = math.Inf(1), 0
	for oi, o := range objects {
		for _, c := range wk.conns {
			m := map[string]wrkResult{}
			for _, s := range servers {
				m[s.name] = median(results[cell{oi, c}][s.name])
				r := m[s.name]
				secs := r.Wall.Seconds()
				fmt.Fprintf(&b, "| %s | %d | %s | %.0f | %.0f | %s | %s | %d | %.2f | %.2f | %.1f |\n", o.name, c, s.name, r.ReqPerSec, r.MBPerSec, ms(r.P50), ms(r.P99), r.Errors,
					r.ServerCPU.Seconds()/secs, r.CPU.Seconds()/secs, r.ServerCPU.Seconds()*1e6/float64(max(r.Requests, 1)))
			}
			e, n, v := m["edge"], m["nginx"], m["varnish"]
			best := n
			if v.ReqPerSec > n.ReqPerSec {
				best = v
			}
			ok := e.ReqPerSec >= best.ReqPerSec && e.P99 <= best.P99
			rlo, rhi = min(rlo, e.ReqPerSec/best.ReqPerSec), max(rhi, e.ReqPerSec/best.ReqPerSec)
			total++
			if ok {
				met++
			}
			fmt.Fprintf(&ratios, "| %s | %d | %.2f | %.2f | %.2f | %s / %s ms | %s |", o.name, c, e.ReqPerSec/n.ReqPerSec, e.ReqPerSec/v.ReqPerSec,
				e.ReqPerSec/best.ReqPerSec, ms(e.P99), ms(best.P99), yesNo(ok))
			if eb, ok := m["edge-base"]; ok {
				fmt.Fprintf(&ratios, " %.2f | %s / %s ms |", e.ReqPerSec/eb.ReqPerSec, ms(e.P99), ms(eb.P99))
			}
			ratios.WriteString("\n")
		}
	}
	b.WriteString(ratios.String())
	fmt.Fprintf(&b, "\nGoal (edge req/s >= the better peer's, p99 no worse) met on %d of %d rows.\n", met, total)
	fmt.Fprintf(&b, "\nSummary: edge req/s / the better of nginx and Varnish from %.2f to %.2f over the rows; goal met on %d of %d rows.\n", rlo, rhi, met, total)
	return b.String(), nil
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

type peerObject struct{ name, path string }

// peerBench is what the scenarios that measure edgecdn beside peers under wrk start from: a
// work folder with the edgecdn binary, the peer objects in work/content and the playlists of
// titles made of them, an origin serving them (playlists cacheable for an hour) and a
// standalone edge in front of it.
type peerBench struct {
	work, bin, content string
	objects            []peerObject
	titles             []playerTitle
	origin, edge       *proc
}

// startPeerBench starts a peerBench for scenario, the edge with edgeArgs besides its origin.
func startPeerBench(ctx context.Context, scenario string, edgeArgs ...string) (_ *peerBench, err error) {
	pb := &peerBench{}
	if pb.work, pb.bin, err = workWithBinary(ctx, scenario); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			pb.stop()
		}
	}()
	pb.content = filepath.Join(pb.work, "content")
	if pb.objects, err = writePeerObjects(pb.content); err != nil {
		return nil, err
	}
	if pb.titles, err = writePlayerTitles(pb.content); err != nil {
		return nil, err
	}
	if pb.origin, err = startEdgecdn(ctx, pb.bin, "origin", "origin", "--content", pb.content, "--playlist-max-age", "1h", "--name", "origin"); err != nil {
		return nil, err
	}
	pb.edge, err = startEdgecdn(ctx, pb.bin, "edge", "edge", append([]string{"--standalone", "--origin", "http://" + pb.origin.addr, "--name", "edge"}, edgeArgs...)...)
	return pb, err
}

// stop ends the edge and the origin and removes the work folder.
func (pb *peerBench) stop() {
	for _, p := range []*proc{pb.edge, pb.origin} {
		if p != nil {
			p.stop()
		}
	}
	os.RemoveAll(pb.work)
}

// writePeerObjects writes the three objects the peers serve: a 2 KB media playlist and random
// 100 KB and 1 MB segments.
func writePeerObjects(content string) ([]peerObject, error) {
	dir := filepath.Join(content, "bench", "r")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var pl strings.Builder
	pl.WriteString("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:4\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:VOD\n")
	for i := 0; pl.Len() < 2000; i++ {
		fmt.Fprintf(&pl, "#EXTINF:4,\nseg%05d.ts\n", i)
	}
	pl.WriteString("#EXT-X-ENDLIST\n")
	if err := os.WriteFile(filepath.Join(dir, "index.m3u8"), []byte(pl.String()), 0o644); err != nil {
		return nil, err
	}
	for _, s := range []struct {
		name string
		n    int
	}{{"100k.ts", 100_000}, {"1m.ts", 1_000_000}} {
		b := make([]byte, s.n)
		rand.Read(b)
		if err := os.WriteFile(filepath.Join(dir, s.name), b, 0o644); err != nil {
			return nil, err
		}
	}
	return []peerObject{
		{"playlist 2 KB", "/vod/bench/r/index.m3u8"},
		{"segment 100 KB", "/vod/bench/r/100k.ts"},
		{"segment 1 MB", "/vod/bench/r/1m.ts"},
	}, nil
}

// startNginx serves content (under /vod/) with a static configuration tuned as a CDN would.
func startNginx(ctx context.Context, work, content string) (*proc, error) {
	return runNginx(ctx, work, "nginx", "/vod/bench/r/index.m3u8", `
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_timeout 65;
  open_file_cache max=10000 inactive=60s;
  open_file_cache_valid 60s;
  types { application/vnd.apple.mpegurl m3u8; video/mp2t ts; }
  server {
    listen 127.0.0.1:{PORT};
    location /vod/ { alias `+content+`/; }
  }`)
}

// runNginx runs nginx in the foreground in its own folder under work, with the http block's
// body (in which {PORT} is the port it listens on), and waits until probe answers 200.
func runNginx(ctx context.Context, work, name, probe, httpBody string) (*proc, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(work, strings.ReplaceAll(name, " ", "-"))
	os.MkdirAll(filepath.Join(dir, "logs"), 0o755)
	conf := fmt.Sprintf(`daemon off;
master_process on;
worker_processes %[3]d;
user root;
pid %[1]s/nginx.pid;
error_log %[1]s/logs/error.log warn;
events { worker_connections 8192; }
http {
  access_log off;
  keepalive_requests 10000000;
  client_body_temp_path %[1]s/tmp;
  proxy_temp_path %[1]s/tmp;
  fastcgi_temp_path %[1]s/tmp;
  uwsgi_temp_path %[1]s/tmp;
  scgi_temp_path %[1]s/tmp;
%[2]s
}
`, dir, strings.ReplaceAll(httpBody, "{PORT}", strconv.Itoa(port)), serverThreads())
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	cmd := serverCommand(ctx, "nginx", "-c", path, "-p", dir)
	cmd.Stderr = os.Stderr
	p, err := startProc(cmd, name, "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		return nil, err
	}
	if err := waitHTTP("http://"+p.addr+probe, 10*time.Second); err != nil {
		p.stop()
		return nil, err
	}
	return p, nil
}

// startVarnish runs varnishd in the foreground with malloc storage in front of origin.
func startVarnish(ctx context.Context, work, origin string) (*proc, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(work, "varnish")
	os.MkdirAll(dir, 0o755)
	host, oport, _ := strings.Cut(origin, ":")
	vcl := fmt.Sprintf("vcl 4.1;\nbackend origin { .host = %q; .port = %q; }\n", host, oport)
	vclPath := filepath.Join(dir, "default.vcl")
	if err := os.WriteFile(vclPath, []byte(vcl), 0o644); err != nil {
		return nil, err
	}
	args := []string{"-F", "-n", dir, "-a", "127.0.0.1:" + strconv.Itoa(port), "-f", vclPath, "-s", "malloc,512m",
		"-p", "thread_pool_min=100", "-p", "thread_pools=" + strconv.Itoa(serverThreads())}
	if os.Geteuid() == 0 {
		args = append(args, "-j", "none")
	}
	cmd := serverCommand(ctx, "varnishd", args...)
	cmd.Stderr = os.Stderr
	p, err := startProc(cmd, "varnish", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		return nil, err
	}
	if err := waitHTTP("http://"+p.addr+"/vod/bench/r/index.m3u8", 20*time.Second); err != nil {
		p.stop()
		return nil, err
	}
	return p, nil
}
