package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"edgecdn/origin"
	"edgecdn/origin/packager"
)

// runOrigin measures the origin alone under wrk on loopback: a playlist and a 1 MiB segment,
// served from memory and from disk (sendfile).
func runOrigin(ctx context.Context, args []string) (string, error) {
	fs := newFlags("origin")
	wk, err := wrkScenario(fs, args, "wrk")
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "edgecdn-bench-origin-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	if _, err := packager.Package(ctx, packager.Config{Out: dir, Titles: 1, Duration: 8 * time.Second, Logger: quiet}); err != nil {
		return "", err
	}
	seg := make([]byte, 1<<20)
	rand.Read(seg)
	os.MkdirAll(filepath.Join(dir, "bench", "1m"), 0o755)
	if err := os.WriteFile(filepath.Join(dir, "bench", "1m", "seg.ts"), seg, 0o644); err != nil {
		return "", err
	}

	var b strings.Builder
	fmt.Fprintf(&b, "## origin under wrk\n\n`go run ./bench origin --duration %v --runs %d` on %d CPUs, %s; wrk with 2 threads on the same cores; median of %d runs.\n\n",
		wk.dur, wk.runs, runtime.NumCPU(), runtime.Version(), wk.runs)
	fmt.Fprintf(&b, "| object | storage | conns | req/s | MB/s | p50 ms | p99 ms | errors |\n|---|---|---:|---:|---:|---:|---:|---:|\n")
	var sum []string
	for _, mode := range []struct {
		name    string
		preload int64
	}{{"memory", 512 << 20}, {"disk (sendfile)", 1}} {
		srv, err := origin.New(origin.Config{Content: dir, Logger: quiet, PreloadBytes: mode.preload})
		if err != nil {
			return "", err
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", err
		}
		go srv.Serve(ln)
		base := "http://" + ln.Addr().String()
		for _, obj := range []struct{ name, path string }{
			{"playlist (master.m3u8)", "/vod/title-000/master.m3u8"},
			{"1 MiB segment", "/vod/bench/1m/seg.ts"},
		} {
			if mode.preload == 1 && strings.HasPrefix(obj.name, "playlist") {
				continue // small files are always in memory
			}
			for _, c := range wk.conns {
				var rs []wrkResult
				for i := 0; i < wk.runs; i++ {
					r, err := runWrk(ctx, base+obj.path, c, 2, wk.dur)
					if err != nil {
						return "", err
					}
					rs = append(rs, r)
				}
				m := median(rs)
				fmt.Fprintf(&b, "| %s | %s | %d | %.0f | %.0f | %s | %s | %d |\n", obj.name, mode.name, c, m.ReqPerSec, m.MBPerSec, ms(m.P50), ms(m.P99), m.Errors)
				fmt.Fprintf(os.Stderr, "origin %s %s c=%d: %.0f req/s\n", obj.name, mode.name, c, m.ReqPerSec)
				if c == wk.conns[0] {
					sum = append(sum, fmt.Sprintf("%s from %s %.0f req/s", obj.name, mode.name, m.ReqPerSec))
				}
			}
		}
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		srv.Shutdown(sctx)
		cancel()
	}
	fmt.Fprintf(&b, "\nSummary: at %d connections, %s.\n", wk.conns[0], strings.Join(sum, ", "))
	return b.String(), nil
}
