// Command bench runs edgecdn's benchmarks and writes their reports:
//
//	go run ./bench <scenario> [flags]
//
// Each scenario prints a Markdown table and writes it to bench/results/<date>/<scenario>.md.
// Scenarios say what they could not run (a missing tool) instead of failing silently.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

type scenario struct {
	summary string
	run     func(ctx context.Context, args []string) (report string, err error)
}

var scenarios = map[string]scenario{
	"origin":        {"origin req/s, MB/s and latency for a playlist and a 1 MiB segment under wrk", runOrigin},
	"scale":         {"players vs QoE on this machine until the CDN makes them stall; memory per player", runScale},
	"steering":      {"steering decisions/s and latency under wrk: ranked edges and content steering manifests", runSteering},
	"cluster":       {"Zipf fleet over 6 edges in 3 zones: origin fetches per object and offload, with and without cross-zone fill", runClusterFleet},
	"lb-overhead":   {"the zone balancer vs straight to the edge: 2 KB playlist and 1 MB segment under wrk", runLBOverhead},
	"edge-vs-peers": {"edge hit path vs nginx and Varnish under wrk: 2 KB, 100 KB, 1 MB at 64 and 256 connections", runEdgeVsPeers},
}

func main() {
	if len(os.Args) < 2 || os.Args[1] == "-h" || os.Args[1] == "--help" {
		usage()
		os.Exit(2)
	}
	name := os.Args[1]
	names := []string{name}
	if name == "all" {
		names = nil
		for n := range scenarios {
			names = append(names, n)
		}
		sort.Strings(names)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	for _, n := range names {
		sc, ok := scenarios[n]
		if !ok {
			fmt.Fprintf(os.Stderr, "bench: unknown scenario %q\n", n)
			usage()
			os.Exit(2)
		}
		report, err := sc.run(ctx, os.Args[2:])
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench %s: %v\n", n, err)
			os.Exit(1)
		}
		fmt.Print(report)
		if path, err := save(n, report); err != nil {
			fmt.Fprintf(os.Stderr, "bench %s: saving report: %v\n", n, err)
		} else {
			fmt.Fprintf(os.Stderr, "wrote %s\n", path)
		}
	}
}

func usage() {
	fmt.Fprintf(os.Stderr, "usage: go run ./bench <scenario>|all [flags]\n\nscenarios:\n")
	var names []string
	for n := range scenarios {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "  %-16s %s\n", n, scenarios[n].summary)
	}
}

// resultsDir is bench/results/<date>/ (relative to the module root when run from it), created.
// Scenarios write their plots (PNG) there and link them from their report by file name.
func resultsDir() (string, error) {
	dir := filepath.Join("bench", "results", time.Now().Format("2006-01-02"))
	if _, err := os.Stat("bench"); err != nil {
		dir = filepath.Join("results", time.Now().Format("2006-01-02"))
	}
	return dir, os.MkdirAll(dir, 0o755)
}

// save writes a report to resultsDir()/<name>.md.
func save(name, report string) (string, error) {
	dir, err := resultsDir()
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, name+".md")
	return path, os.WriteFile(path, []byte(report), 0o644)
}

func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("bench "+name, flag.ExitOnError)
	return fs
}

func splitInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		var n int
		if _, err := fmt.Sscan(strings.TrimSpace(f), &n); err != nil || n <= 0 {
			return nil, fmt.Errorf("bad number %q in %q", f, s)
		}
		out = append(out, n)
	}
	return out, nil
}
