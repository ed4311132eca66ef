package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// runLBOverhead measures what the zone balancer costs: the same objects through the balancer
// and straight from the edge, under the same wrk, side by side in one run.
func runLBOverhead(ctx context.Context, args []string) (string, error) {
	fs := newFlags("lb-overhead")
	dur := fs.Duration("duration", 10*time.Second, "each wrk run")
	connsFlag := fs.String("connections", "64", "connection counts")
	runs := fs.Int("runs", 3, "runs per cell; the median is reported")
	fs.Parse(args)
	conns, err := splitInts(*connsFlag)
	if err != nil {
		return "", err
	}
	if _, err := exec.LookPath("wrk"); err != nil {
		return "", fmt.Errorf("needs wrk (apt-get install wrk); nothing was measured")
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
	fmt.Fprintf(&b, "## Balancer overhead\n\n`go run ./bench lb-overhead --duration %v --runs %d --connections %s` on %d CPUs (%s); wrk, the balancer, the edge and the origin share the cores. Median of %d runs, order alternating.\n\n",
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
	return b.String(), nil
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
