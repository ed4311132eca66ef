// Command bench runs edgecdn's benchmarks and writes their reports:
//
//	go run ./bench <scenario> [flags]
//
// Each scenario prints a Markdown table and writes it to bench/results/<date>/<scenario>.md.
// Scenarios say what they could not run (a missing tool) instead of failing silently.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"edgecdn/internal/cli"
)

type scenario struct {
	summary string
	example string // a complete command line, shown by --help
	run     func(ctx context.Context, args []string) (report string, err error)
}

var scenarios = map[string]scenario{
	"cache-policy":  {"byte and object hit ratio vs cache size: edgecdn's S3-FIFO vs LRU vs offline Belady, on Zipf streams and a real fleet's request log", "go run ./bench cache-policy --requests 100000 --sizes 1,5,20 --players 100", runCachePolicy},
	"ring":          {"internal/ring vs jump hash and rendezvous: balance, movement on join/leave, lookup ns/op, bounded loads under Zipf", "go run ./bench ring --nodes 3,12,100 --runs 1", runRing},
	"origin":        {"origin req/s, MB/s and latency for a playlist and a 1 MiB segment under wrk", "go run ./bench origin --duration 5s --connections 64 --runs 1", runOrigin},
	"scale":         {"players vs QoE on this machine until the CDN makes them stall; memory per player", "go run ./bench scale --players 100,200 --media 24s", runScale},
	"steering":      {"steering decisions/s and latency under wrk: ranked edges and content steering manifests", "go run ./bench steering --duration 5s --connections 64", runSteering},
	"cluster":       {"Zipf fleet over 6 edges in 3 zones: origin fetches per object and offload, with and without cross-zone fill", "go run ./bench cluster --requests 5000 --zipf 1.1", runClusterFleet},
	"lb-overhead":   {"the zone balancer vs straight to the edge, beside HAProxy and nginx as proxies: 2 KB, 100 KB, 1 MB at 64 and 256 connections under wrk, CPU per process; then virtual players' sessions through each tier-2 design (proxies, the balancer's 302 redirect mode)", "go run ./bench lb-overhead --duration 5s --connections 64 --runs 1", runLBOverhead},
	"soak":          {"the whole CDN as processes under a steady fleet: RSS and goroutines over time, errors", "go run ./bench soak --duration 2m --players 30", runSoak},
	"edge-vs-peers": {"edge hit path vs nginx and Varnish under wrk: 2 KB, 100 KB, 1 MB at 64 and 256 connections", "go run ./bench edge-vs-peers --duration 5s --connections 64 --runs 1", runEdgeVsPeers},
	"abr":           {"every ABR on every trace set in virtual time, and fleets per ABR through the whole CDN in emulation: QoE_lin with 95% CI", "go run ./bench abr --abr bba,robustmpc --max-traces 20 --emulation=false", runABR},
	"micro":         {"the Go microbenchmarks of every package (go test -bench): ns/op, B/op, allocs/op", "go run ./bench micro --bench Ring --benchtime 200ms", runMicro},
	"failover":      {"SIGKILL an edge under a fleet of players (real processes): detection, players' switch time, stalls, failures, corrupt segments", "go run ./bench failover --runs 1 --players 10 --media 40s", runFailover},
}

// order is the order of `all` and of report.md: what a user compares first comes first.
var order = []string{"edge-vs-peers", "cache-policy", "ring", "cluster", "lb-overhead", "origin", "steering", "abr", "failover", "scale", "soak", "micro"}

func main() {
	args := os.Args[1:]
	switch {
	case len(args) == 0:
		usage(os.Stderr)
		os.Exit(2)
	case args[0] == "-h" || args[0] == "--help" || args[0] == "help":
		if len(args) < 2 {
			usage(os.Stdout)
			os.Exit(0)
		}
		args = []string{args[1], "--help"}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	name := args[0]
	if name == "all" {
		if len(args) > 1 {
			fmt.Fprintf(os.Stderr, "bench all takes no flags (each scenario runs with its defaults); run a scenario alone to change them\n")
			os.Exit(2)
		}
		os.Exit(runAll(ctx))
	}
	if name == "report" {
		// Reassemble report.md from the scenario reports already in the results folder (after
		// running one scenario again alone).
		os.Exit(assemble(loadSaved(), time.Time{}))
	}
	sc, ok := scenarios[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "bench: unknown scenario %q\n\n", name)
		usage(os.Stderr)
		os.Exit(2)
	}
	t0 := time.Now()
	report, err := sc.run(ctx, args[1:])
	if h, ok := errors.AsType[helpAsked](err); ok {
		cli.Help{Usage: "go run ./bench " + name + " [flags]", About: sc.summary, Example: sc.example}.Print(os.Stdout, h.fs)
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench %s: %v\n", name, err)
		os.Exit(1)
	}
	report = withRunTime(report, time.Since(t0))
	fmt.Print(report)
	if path, err := save(name, report); err != nil {
		fmt.Fprintf(os.Stderr, "bench %s: saving report: %v\n", name, err)
	} else {
		fmt.Fprintf(os.Stderr, "wrote %s\n", path)
	}
}

// runAll runs every scenario with its defaults, one after the other, and writes report.md: the
// machine, a summary (each scenario's "Summary:" line, its time, or why it could not run) and
// every scenario's report. A scenario that fails is reported and the others still run.
func runAll(ctx context.Context) int {
	var outs []outcome
	began := time.Now()
	for _, n := range order {
		if ctx.Err() != nil {
			outs = append(outs, outcome{name: n, err: errors.New("not run: interrupted")})
			continue
		}
		fmt.Fprintf(os.Stderr, "== bench %s\n", n)
		t0 := time.Now()
		report, err := scenarios[n].run(ctx, nil)
		o := outcome{name: n, took: time.Since(t0), err: err}
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench %s: %v\n", n, err)
		} else {
			o.report = withRunTime(report, o.took)
			if _, err := save(n, o.report); err != nil {
				fmt.Fprintf(os.Stderr, "bench %s: saving report: %v\n", n, err)
			}
		}
		outs = append(outs, o)
	}
	return assemble(outs, began)
}

type outcome struct {
	name, report string
	took         time.Duration
	err          error
}

const runTimePrefix = "Run time: "

// withRunTime ends a report with how long its scenario ran.
func withRunTime(report string, d time.Duration) string {
	return strings.TrimRight(report, "\n") + "\n\n" + runTimePrefix + d.Round(time.Second).String() + ".\n"
}

// loadSaved reads each scenario's last report from the results folder.
func loadSaved() []outcome {
	dir, _ := resultsDir()
	var outs []outcome
	for _, n := range order {
		b, err := os.ReadFile(filepath.Join(dir, n+".md"))
		if err != nil {
			outs = append(outs, outcome{name: n, err: fmt.Errorf("no report in %s: run `go run ./bench %s`", dir, n)})
			continue
		}
		o := outcome{name: n, report: string(b)}
		for _, l := range strings.Split(o.report, "\n") {
			if v, ok := strings.CutPrefix(l, runTimePrefix); ok {
				o.took, _ = time.ParseDuration(strings.TrimSuffix(v, "."))
			}
		}
		outs = append(outs, o)
	}
	return outs
}

// assemble writes report.md (and bench/results/latest.md, the summary) from the outcomes; began
// is when `all` started (zero when reassembling saved reports).
func assemble(outs []outcome, began time.Time) int {
	dir, err := resultsDir()
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		return 1
	}
	failed := 0
	var b strings.Builder
	fmt.Fprintf(&b, "# edgecdn benchmark report, %s\n\n", time.Now().Format("2006-01-02"))
	how := "`make bench` (`go run ./bench all`)"
	if !began.IsZero() {
		how += fmt.Sprintf(", %v in all,", time.Since(began).Round(time.Second))
	}
	fmt.Fprintf(&b, "%s on %s. Every figure below was measured on loopback by the command its section names, which reproduces it alone; ratios are against a peer measured in the same run.\n\n", how, machine())
	fmt.Fprintf(&b, "## Summary\n\n| scenario | took | result |\n|---|---:|---|\n")
	for _, o := range outs {
		res := summaryLine(o.report)
		if o.err != nil {
			failed++
			res = "**could not run**: " + strings.ReplaceAll(o.err.Error(), "|", "/")
		}
		took := "–"
		if o.took > 0 {
			took = o.took.Round(time.Second).String()
		}
		fmt.Fprintf(&b, "| [%s](#%s) | %s | %s |\n", o.name, o.name, took, res)
	}
	b.WriteString("\n")
	for _, o := range outs {
		fmt.Fprintf(&b, "<a id=\"%s\"></a>\n\n", o.name)
		if o.err != nil {
			fmt.Fprintf(&b, "## %s\n\nCould not run: %v\n\n", o.name, o.err)
			continue
		}
		b.WriteString(strings.TrimSpace(o.report))
		b.WriteString("\n\n")
	}
	path := filepath.Join(dir, "report.md")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		return 1
	}
	// bench/results/latest.md: the newest summary, for README.md to link.
	latest := filepath.Join(filepath.Dir(dir), "latest.md")
	sum := b.String()
	if i := strings.Index(sum, "\n<a id="); i > 0 {
		sum = sum[:i]
	}
	sum = strings.ReplaceAll(sum, "](#", "]("+filepath.Base(dir)+"/report.md#")
	os.WriteFile(latest, []byte(sum+"\nThe whole report with tables and plots: ["+filepath.Base(dir)+"/report.md]("+filepath.Base(dir)+"/report.md).\n"), 0o644)
	fmt.Fprintf(os.Stderr, "wrote %s and %s\n", path, latest)
	if failed > 0 {
		fmt.Fprintf(os.Stderr, "bench: %d scenario(s) could not run (see the summary)\n", failed)
		return 1
	}
	return 0
}

// summaryLine is the report's line that starts "Summary:", or its first sentence after the title.
func summaryLine(report string) string {
	for _, l := range strings.Split(report, "\n") {
		if s, ok := strings.CutPrefix(strings.TrimSpace(l), "Summary:"); ok {
			return strings.ReplaceAll(strings.TrimSpace(s), "|", "/")
		}
	}
	return "see the section"
}

// machine describes the host: CPUs, model, memory, kernel, Go.
func machine() string {
	model := ""
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		fmt.Sscanf(strings.TrimPrefix(strings.Split(string(b), "\n")[0], "MemTotal:"), "%d", &kb)
		mem = fmt.Sprintf(", %.0f GiB", float64(kb)/(1<<20))
	}
	kernel := ""
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = ", Linux " + strings.TrimSpace(string(b))
	}
	return fmt.Sprintf("%d CPUs (%s)%s%s, %s, %s", runtime.NumCPU(), model, mem, kernel, runtime.Version(), tcpNote())
}

// tcpNote names the TCP congestion control new sockets get here (net.ipv4.tcp_congestion_control)
// and loopback's queueing discipline. Both move every wrk figure: with BBR and no fq qdisc, the
// kernel paces each socket with its own high-resolution timer, whose interrupts measured about
// half of the edge's CPU per 100 KB hit (bench/README.md, "Congestion control").
func tcpNote() string {
	cc := "unknown"
	if b, err := os.ReadFile("/proc/sys/net/ipv4/tcp_congestion_control"); err == nil {
		cc = strings.TrimSpace(string(b))
	}
	note := "TCP congestion control " + cc
	if out, err := exec.Command("tc", "qdisc", "show", "dev", "lo").Output(); err == nil {
		if f := strings.Fields(string(out)); len(f) >= 2 && f[0] == "qdisc" {
			note += ", lo's qdisc " + f[1]
		}
	}
	return note
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "bench: edgecdn's benchmarks; each scenario prints a Markdown report and writes it to bench/results/<date>/<scenario>.md\n\n")
	fmt.Fprintf(w, "Usage: go run ./bench <scenario> [flags] | all | report\n\n")
	cli.PrintCommands(w, "Commands:", []cli.Command{
		{Name: "all", Summary: "every scenario with its defaults, then report.md"},
		{Name: "report", Summary: "report.md again from the scenario reports already written (after re-running one)"},
	})
	var list []cli.Command
	for n, sc := range scenarios {
		list = append(list, cli.Command{Name: n, Summary: sc.summary})
	}
	slices.SortFunc(list, func(a, b cli.Command) int { return strings.Compare(a.Name, b.Name) })
	fmt.Fprintln(w)
	cli.PrintCommands(w, "Scenarios:", list)
	fmt.Fprintf(w, "\nEvery flag can also be set as an environment variable: --players is %s.\n", cli.EnvName("players"))
	fmt.Fprintf(w, "Run 'go run ./bench <scenario> --help' for its flags and an example.\n\nExample:\n  %s\n", scenarios["failover"].example)
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

// newFlags is a scenario's flag set; parseFlags parses it.
func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("bench "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// helpAsked is a scenario's answer to --help: main prints the scenario's help with these
// flags, exits 0 and writes no report.
type helpAsked struct{ fs *flag.FlagSet }

func (helpAsked) Error() string { return "help asked" }

// parseFlags parses a scenario's flags as edgecdn's are parsed (each flag also settable as an
// environment variable); after --help it returns helpAsked.
func parseFlags(fs *flag.FlagSet, args []string) error {
	name := strings.TrimPrefix(fs.Name(), "bench ")
	err := cli.Parse(fs, args, os.LookupEnv)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return helpAsked{fs}
	case err != nil:
		return fmt.Errorf("%w (see go run ./bench %s --help)", err, name)
	case fs.NArg() > 0:
		return fmt.Errorf("unexpected argument %q (see go run ./bench %s --help)", fs.Arg(0), name)
	}
	return nil
}

// numbers is the value of a flag of comma-separated positive numbers ("64,256"), parsed when
// the flags are; String gives the list back as a flag value.
type numbers[T int | float64] []T

func (n *numbers[T]) String() string {
	var b strings.Builder
	for i, x := range *n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatFloat(float64(x), 'g', -1, 64))
	}
	return b.String()
}

func (n *numbers[T]) Set(s string) error {
	var out numbers[T]
	for _, f := range strings.Split(s, ",") {
		x, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || x <= 0 || float64(T(x)) != x {
			return fmt.Errorf("bad number %q in %q", f, s)
		}
		out = append(out, T(x))
	}
	*n = out
	return nil
}

// numbersFlag registers a flag of comma-separated positive numbers with the default def.
func numbersFlag[T int | float64](fs *flag.FlagSet, name, def, usage string) *numbers[T] {
	n := new(numbers[T])
	if err := n.Set(def); err != nil {
		panic(fmt.Sprintf("--%s default %q: %v", name, def, err))
	}
	fs.Var(n, name, usage)
	return n
}
