package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// runLBOverhead measures what the zone balancer costs: the same objects through the balancer
// and straight from the edge, under the same wrk, side by side in one run.
func runLBOverhead(ctx context.Context, args []string) (string, error) {
	fs := newFlags("lb-overhead")
	w := addWrkFlags(fs, "64")
	dur, connsFlag, runs := w.dur, w.conns, w.runs
	fs.Parse(args)
	conns, err := splitInts(*connsFlag)
	if err != nil {
		return "", err
	}
	if err := needTools("wrk"); err != nil {
		return "", err
	}
	work, bin, err := workWithBinary(ctx, "lb")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(work)
	content := filepath.Join(work, "content")
	objects, err := writePeerObjects(content)
	if err != nil {
		return "", err
	}
	objects = []peerObject{objects[0], objects[2]} // the 2 KB playlist and the 1 MB segment
	origin, err := startEdgecdn(ctx, bin, "origin", "origin", "--content", content, "--playlist-max-age", "1h")
	if err != nil {
		return "", err
	}
	defer origin.stop()
	edge, err := startEdgecdn(ctx, bin, "edge", "edge", "--standalone", "--origin", "http://"+origin.addr, "--name", "edge")
	if err != nil {
		return "", err
	}
	defer edge.stop()
	lb, err := startEdgecdn(ctx, bin, "lb", "lb", "--standalone", "--upstream", edge.addr, "--name", "lb")
	if err != nil {
		return "", err
	}
	defer lb.stop()
	targets := []*proc{{name: "direct", addr: edge.addr}, {name: "via lb", addr: lb.addr}}
	// nginx as a reverse proxy in front of the same edge: what a proxy costs on these cores.
	if _, err := exec.LookPath("nginx"); err == nil {
		ngx, err := startNginxProxy(ctx, work, edge.addr)
		if err != nil {
			return "", fmt.Errorf("nginx proxy: %w", err)
		}
		defer ngx.stop()
		targets = append(targets, ngx)
	} else {
		fmt.Fprintln(os.Stderr, "nginx not installed: no peer proxy in the table (apt-get install nginx)")
	}
	for _, tg := range targets {
		for _, o := range objects {
			if err := warm("http://"+tg.addr+o.path, 3); err != nil {
				return "", err
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "## Balancer overhead and DNS rate\n\n### Balancer\n\n`go run ./bench lb-overhead --duration %v --runs %d --connections %s` on %d CPUs (%s); wrk, the balancer, the edge and the origin share the cores. Median of %d runs, order alternating.\n\n",
		*dur, *runs, *connsFlag, runtime.NumCPU(), runtime.Version(), *runs)
	fmt.Fprintf(&b, "| object | conns | path | req/s | MB/s | p50 ms | p99 ms | errors |\n|---|---:|---|---:|---:|---:|---:|---:|\n")
	var ratios strings.Builder
	fmt.Fprintf(&ratios, "\n| object | conns | via lb / direct req/s | p99 via lb / direct | via nginx proxy / direct req/s |\n|---|---:|---:|---:|---:|\n")
	for _, o := range objects {
		for _, c := range conns {
			res := map[string][]wrkResult{}
			for r := 0; r < *runs; r++ {
				for i := range targets {
					tg := targets[(i+r)%len(targets)]
					w, err := runWrk(ctx, "http://"+tg.addr+o.path, c, 2, *dur)
					if err != nil {
						return "", err
					}
					res[tg.name] = append(res[tg.name], w)
					fmt.Fprintf(os.Stderr, "%s %s c=%d: %.0f req/s\n", tg.name, o.name, c, w.ReqPerSec)
				}
			}
			d, l := median(res["direct"]), median(res["via lb"])
			for _, tg := range targets {
				w := median(res[tg.name])
				fmt.Fprintf(&b, "| %s | %d | %s | %.0f | %.0f | %s | %s | %d |\n", o.name, c, tg.name, w.ReqPerSec, w.MBPerSec, ms(w.P50), ms(w.P99), w.Errors)
			}
			peer := "n/a"
			if n, ok := res["via nginx proxy"]; ok {
				peer = fmt.Sprintf("%.2f", median(n).ReqPerSec/d.ReqPerSec)
			}
			fmt.Fprintf(&ratios, "| %s | %d | %.2f | %.2f | %s |\n", o.name, c, l.ReqPerSec/d.ReqPerSec, float64(l.P99)/float64(d.P99), peer)
		}
	}
	b.WriteString(ratios.String())
	// Tier 1: the DNS server's answer rate over real UDP on loopback.
	qps, err := dnsRate(ctx)
	if err != nil {
		fmt.Fprintf(&b, "\nDNS rate: not measured: %v\n", err)
	} else {
		fmt.Fprintf(&b, "\n### DNS rate\n\n`go test -run NONE -bench QueryUDP -benchtime 3s ./loadbalancer/dns`: A queries for three zones' balancers answered over real UDP on loopback by %d concurrent Go clients, one query in flight each: **%.0f queries/s** (%.1f us per query, the clients on the same cores).\n", 2*runtime.NumCPU(), qps, 1e6/qps)
	}
	lr, nr := "n/a", "n/a"
	if v, ok := firstRatio(ratios.String(), 2); ok {
		lr = v
	}
	if v, ok := firstRatio(ratios.String(), 4); ok {
		nr = v
	}
	fmt.Fprintf(&b, "\nSummary: through the balancer / straight to the edge = %s req/s on the first row (nginx as a proxy: %s); DNS %.0f queries/s.\n", lr, nr, qps)
	return b.String(), nil
}

// firstRatio is column col (1-based, after the leading |) of the first data row of a Markdown table.
func firstRatio(table string, col int) (string, bool) {
	for _, l := range strings.Split(table, "\n") {
		f := strings.Split(l, "|")
		if len(f) > col+1 && !strings.Contains(l, "---") && !strings.Contains(l, "object") && strings.TrimSpace(f[1]) != "" {
			return strings.TrimSpace(f[col+1]), true
		}
	}
	return "", false
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

// startNginxProxy runs nginx as a keep-alive reverse proxy to upstream.
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
    }
  }`)
}
