package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"time"

	"edgecdn/demo"
	"edgecdn/origin/packager"
)

// runSteering measures steering decisions per second and their latency under wrk: GET
// /steer/<title>?zone=Z (a ranking) and GET /steering/<session>.json (a steering manifest),
// against the whole CDN in this process.
func runSteering(ctx context.Context, args []string) (string, error) {
	fs := newFlags("steering")
	dur := fs.Duration("duration", 10*time.Second, "each wrk run")
	conns := fs.Int("connections", 64, "wrk connections")
	if err := parseFlags(fs, args); err != nil {
		return "", err
	}
	if err := needTools("wrk"); err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "edgecdn-bench-steering-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	if _, err := packager.Package(ctx, packager.Config{Out: dir, Titles: 1, Duration: 16 * time.Second, Logger: quiet}); err != nil {
		return "", err
	}
	st, err := demo.Start(ctx, demo.StackConfig{Content: dir})
	if err != nil {
		return "", err
	}
	defer st.Stop(context.Background())
	// A session: the steering URI of a playback manifest.
	resp, err := httpGet(st.Steering + "/play/title-000/master.m3u8?zone=zone-b")
	if err != nil {
		return "", err
	}
	i := strings.Index(resp, `SERVER-URI="`)
	if i < 0 {
		return "", fmt.Errorf("no content steering tag in the playback manifest")
	}
	uri := resp[i+len(`SERVER-URI="`):]
	uri = uri[:strings.IndexByte(uri, '"')]
	var b strings.Builder
	fmt.Fprintf(&b, "## Steering\n\n`go run ./bench steering --duration %v --connections %d` on %d CPUs: wrk against the steering service of a whole CDN (6 edges, 3 zones) running in the bench process, which shares the cores.\n\n",
		*dur, *conns, runtime.NumCPU())
	fmt.Fprintf(&b, "| request | decisions/s | p50 ms | p99 ms | errors |\n|---|---:|---:|---:|---:|\n")
	var sum []string
	for _, r := range []struct{ name, url string }{
		{"ranked edges: /steer/title-000?zone=zone-b", st.Steering + "/steer/title-000?zone=zone-b"},
		{"steering manifest: " + "/steering/<session>.json", st.Steering + uri + "?_HLS_pathway=zone-b&_HLS_throughput=5000000"},
	} {
		w, err := runWrk(ctx, r.url, *conns, 2, *dur)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "| %s | %.0f | %s | %s | %d |\n", r.name, w.ReqPerSec, ms(w.P50), ms(w.P99), w.Errors)
		sum = append(sum, fmt.Sprintf("%.0f/s (p99 %s ms)", w.ReqPerSec, ms(w.P99)))
	}
	fmt.Fprintf(&b, "\nSummary: ranked edges %s, steering manifests %s.\n", sum[0], sum[1])
	return b.String(), nil
}

func httpGet(url string) (string, error) {
	resp, err := httpClient.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return "", fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return string(body), err
}
