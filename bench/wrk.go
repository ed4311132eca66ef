package main

import (
	"bufio"
	"cmp"
	"context"
	"flag"
	"fmt"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"time"
)

// wrkSettings are the flags of every scenario that drives wrk over a table of connection counts.
type wrkSettings struct {
	dur       time.Duration
	connsFlag string // as given: "64,256"
	conns     []int
	runs      int
}

// wrkScenario parses the flags of a scenario that drives wrk over a table of connection counts
// (--duration, --connections and --runs, beside those it registered on fs) and checks that
// the tools it drives are installed.
func wrkScenario(fs *flag.FlagSet, args []string, tools ...string) (wrkSettings, error) {
	dur := fs.Duration("duration", 10*time.Second, "each wrk run")
	conns := numbersFlag[int](fs, "connections", "64,256", "connection counts")
	runs := fs.Int("runs", 3, "runs per cell; the median is reported")
	if err := parseFlags(fs, args); err != nil {
		return wrkSettings{}, err
	}
	if err := needTools(tools...); err != nil {
		return wrkSettings{}, err
	}
	return wrkSettings{dur: *dur, connsFlag: conns.String(), conns: *conns, runs: *runs}, nil
}

// packages names the Debian package of each tool a scenario drives.
var packages = map[string]string{"wrk": "wrk", "nginx": "nginx", "varnishd": "varnish"}

// needTools fails, naming what to install, when a tool the scenario drives is missing: the
// scenario then says it measured nothing instead of failing half way.
func needTools(tools ...string) error {
	var missing, pkgs []string
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
			pkgs = append(pkgs, cmp.Or(packages[tool], tool))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("needs %s (apt-get install %s); nothing was measured", strings.Join(missing, ", "), strings.Join(pkgs, " "))
	}
	return nil
}

// wrkResult is what one wrk run measured.
type wrkResult struct {
	ReqPerSec  float64
	MBPerSec   float64
	P50, P99   time.Duration
	Errors     int // socket errors plus non-2xx/3xx responses
	Requests   int
	RawSummary string
	// CPU is the user + system time wrk itself used; Wall the time it ran.
	CPU, Wall time.Duration
	// ServerCPU is the CPU time the server under test used meanwhile, when the scenario
	// measured it.
	ServerCPU time.Duration
}

// warmUnderLoad drives url with wrk for 2 s at conns connections and drops the result: a
// server's first seconds under load (connections accepted, its pools to the edge filled, its
// heap grown to its working size) are not a measured run's. Before it, the first runs of
// lb-overhead were the slowest of their cells (through the balancer on the playlist at 64
// connections: 11772 and 18553 req/s, then 33837).
func warmUnderLoad(ctx context.Context, url string, conns, threads int) error {
	if _, err := runWrk(ctx, url, conns, threads, 2*time.Second); err != nil {
		return fmt.Errorf("warming %s under load: %w", url, err)
	}
	return nil
}

// runWrk drives url with wrk for d at the given connection count.
func runWrk(ctx context.Context, url string, conns, threads int, d time.Duration) (wrkResult, error) {
	if threads > conns {
		threads = conns
	}
	args := []string{"-t", strconv.Itoa(threads), "-c", strconv.Itoa(conns), "-d", fmt.Sprintf("%ds", int(d.Seconds())),
		"--latency", "--timeout", "10s", url}
	cmd := loadCommand(ctx, "wrk", args...)
	t0 := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return wrkResult{}, fmt.Errorf("wrk %s: %v: %s", strings.Join(args, " "), err, out)
	}
	r, err := parseWrk(string(out))
	r.Wall = time.Since(t0)
	if ps := cmd.ProcessState; ps != nil {
		r.CPU = ps.UserTime() + ps.SystemTime()
	}
	return r, err
}

func parseWrk(out string) (wrkResult, error) {
	r := wrkResult{RawSummary: out}
	sc := bufio.NewScanner(strings.NewReader(out))
	inLatency := false
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		switch {
		case f[0] == "Latency" && len(f) >= 2 && f[1] == "Distribution":
			inLatency = true
		case inLatency && f[0] == "50%" && len(f) >= 2:
			r.P50, _ = parseWrkDuration(f[1])
		case inLatency && f[0] == "99%" && len(f) >= 2:
			r.P99, _ = parseWrkDuration(f[1])
			inLatency = false
		case f[0] == "Requests/sec:" && len(f) >= 2:
			r.ReqPerSec, _ = strconv.ParseFloat(f[1], 64)
		case f[0] == "Transfer/sec:" && len(f) >= 2:
			r.MBPerSec = parseWrkBytes(f[1]) / 1e6
		case len(f) >= 4 && f[1] == "requests" && f[2] == "in":
			r.Requests, _ = strconv.Atoi(f[0])
		case f[0] == "Socket" && len(f) >= 4:
			for _, kv := range f[3:] {
				n, _ := strconv.Atoi(strings.Trim(kv, ","))
				r.Errors += n
			}
		case f[0] == "Non-2xx" && len(f) >= 5:
			n, _ := strconv.Atoi(f[4])
			r.Errors += n
		}
	}
	if r.ReqPerSec == 0 {
		return r, fmt.Errorf("wrk output has no Requests/sec:\n%s", out)
	}
	return r, nil
}

func parseWrkDuration(s string) (time.Duration, error) {
	for _, u := range []struct {
		suf string
		m   float64
	}{{"us", 1e3}, {"ms", 1e6}, {"s", 1e9}, {"m", 60e9}} {
		if strings.HasSuffix(s, u.suf) {
			v, err := strconv.ParseFloat(strings.TrimSuffix(s, u.suf), 64)
			return time.Duration(v * u.m), err
		}
	}
	return 0, fmt.Errorf("bad wrk duration %q", s)
}

func parseWrkBytes(s string) float64 {
	for _, u := range []struct {
		suf string
		m   float64
	}{{"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10}, {"B", 1}} {
		if strings.HasSuffix(s, u.suf) {
			v, _ := strconv.ParseFloat(strings.TrimSuffix(s, u.suf), 64)
			return v * u.m
		}
	}
	return 0
}

// median returns the run with the median req/s.
func median(rs []wrkResult) wrkResult {
	sort.Slice(rs, func(i, j int) bool { return rs[i].ReqPerSec < rs[j].ReqPerSec })
	return rs[len(rs)/2]
}

func ms(d time.Duration) string { return strconv.FormatFloat(float64(d)/1e6, 'f', 2, 64) }
