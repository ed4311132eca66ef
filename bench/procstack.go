package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"edgecdn/internal/harness"
	"edgecdn/internal/steerapi"
	"edgecdn/origin/packager"
)

// procStack is the whole CDN as separate edgecdn processes on loopback, as a user runs it:
// origins, edges in zones, one balancer per zone (all on one port at 127.0.0.2x, since DNS
// answers carry no port), the DNS server and steering, gossiping with an encryption key.
type procStack struct {
	Origins  []*proc
	Edges    []*proc
	Zones    []string
	EdgeZone map[*proc]string
	LBs      map[string]*proc // zone -> balancer
	LBPort   int
	DNS      *proc  // addr is the DNS server's UDP/TCP address
	DNSHTTP  string // the DNS server's /metrics address
	Steering *proc
	Domain   string
}

type stackSpec struct {
	Content      string
	Zones        []string // default zone-a, zone-b, zone-c
	EdgesPerZone int      // default 2
	Origins      int      // default 2
	CacheSize    string   // per edge, default 256MiB
}

// packagedStack packages n Envivio titles of dur, builds the binary and starts the stack as
// deployed (Go's default GC), with edges' memory caches of cacheSize. done stops it and removes
// its files.
func packagedStack(ctx context.Context, scenario string, n int, dur time.Duration, cacheSize string) (st *procStack, titles []string, done func(), err error) {
	work, bin, err := workWithBinary(ctx, scenario)
	if err != nil {
		return nil, nil, nil, err
	}
	content := filepath.Join(work, "content")
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	cat, err := packager.Package(ctx, packager.Config{Out: content, Titles: n, Duration: dur, Logger: quiet})
	if err != nil {
		os.RemoveAll(work)
		return nil, nil, nil, err
	}
	for _, t := range cat.Titles {
		titles = append(titles, t.Name)
	}
	procGOGC = "" // memory as deployed
	if st, err = startProcStack(ctx, bin, stackSpec{Content: content, CacheSize: cacheSize}); err != nil {
		os.RemoveAll(work)
		return nil, nil, nil, err
	}
	return st, titles, func() { st.stop(); os.RemoveAll(work) }, nil
}

// startProcStack starts every process, joins them into one gossip cluster and waits until each
// balancer sees its zone's edges.
func startProcStack(ctx context.Context, bin string, spec stackSpec) (st *procStack, err error) {
	if len(spec.Zones) == 0 {
		spec.Zones = []string{"zone-a", "zone-b", "zone-c"}
	}
	spec.EdgesPerZone = cmpOr(spec.EdgesPerZone, 2)
	spec.Origins = cmpOr(spec.Origins, 2)
	if spec.CacheSize == "" {
		spec.CacheSize = "256MiB"
	}
	st = &procStack{Zones: spec.Zones, EdgeZone: map[*proc]string{}, LBs: map[string]*proc{}, Domain: "video.edgecdn.local"}
	defer func() {
		if err != nil {
			st.stop()
		}
	}()
	for i, z := range spec.Zones {
		lbIP := "127.0.0." + strconv.Itoa(21+i)
		if l, err := net.Listen("tcp", lbIP+":0"); err != nil {
			return nil, fmt.Errorf("zone %s's balancer needs %s on loopback: %v", z, lbIP, err)
		} else {
			l.Close()
		}
	}
	var kb [32]byte
	rand.Read(kb[:])
	key := base64.StdEncoding.EncodeToString(kb[:])
	var origins []string
	for i := range spec.Origins {
		p, err := startEdgecdn(ctx, bin, fmt.Sprintf("origin-%d", i+1), "origin", "--content", spec.Content)
		if err != nil {
			return nil, err
		}
		st.Origins = append(st.Origins, p)
		origins = append(origins, "http://"+p.addr)
	}
	seedPort, err := freePort()
	if err != nil {
		return nil, err
	}
	seed := "127.0.0.1:" + strconv.Itoa(seedPort)
	gossip := func(name string, first bool) ([]string, error) {
		port := seedPort
		if !first {
			if port, err = freePort(); err != nil {
				return nil, err
			}
		}
		a := []string{"--name", name, "--gossip-listen", "127.0.0.1:" + strconv.Itoa(port), "--gossip-key", key}
		if !first {
			a = append(a, "--join", seed)
		}
		return a, nil
	}
	for zi, z := range spec.Zones {
		for j := range spec.EdgesPerZone {
			name := fmt.Sprintf("edge-%s%d", strings.TrimPrefix(z, "zone-"), j+1)
			g, err := gossip(name, zi == 0 && j == 0)
			if err != nil {
				return nil, err
			}
			args := append([]string{"--zone", z, "--origin", strings.Join(origins, ","), "--cache-size", spec.CacheSize}, g...)
			p, err := startEdgecdn(ctx, bin, name, "edge", args...)
			if err != nil {
				return nil, err
			}
			st.Edges = append(st.Edges, p)
			st.EdgeZone[p] = z
		}
	}
	if st.LBPort, err = freePort(); err != nil {
		return nil, err
	}
	for i, z := range spec.Zones {
		addr := "127.0.0." + strconv.Itoa(21+i) + ":" + strconv.Itoa(st.LBPort)
		g, err := gossip("lb-"+z, false)
		if err != nil {
			return nil, err
		}
		p, err := startEdgecdn(ctx, bin, "lb-"+z, "lb", append([]string{"--zone", z, "--listen", addr, "--advertise", addr}, g...)...)
		if err != nil {
			return nil, err
		}
		st.LBs[z] = p
	}
	hp, err := freePort()
	if err != nil {
		return nil, err
	}
	st.DNSHTTP = "127.0.0.1:" + strconv.Itoa(hp)
	g, err := gossip("dns", false)
	if err != nil {
		return nil, err
	}
	if st.DNS, err = startEdgecdn(ctx, bin, "dns", "dns", append([]string{"--domain", st.Domain, "--http-listen", st.DNSHTTP}, g...)...); err != nil {
		return nil, err
	}
	if g, err = gossip("steering", false); err != nil {
		return nil, err
	}
	if st.Steering, err = startEdgecdn(ctx, bin, "steering", "steering", g...); err != nil {
		return nil, err
	}
	// Ready: every balancer has its zone's edges (its /readyz says so) and steering ranks them all.
	deadline := time.Now().Add(60 * time.Second)
	for _, lb := range st.LBs {
		if err := waitHTTP("http://"+lb.addr+"/readyz", time.Until(deadline)); err != nil {
			return nil, fmt.Errorf("%s not ready: %w", lb.name, err)
		}
	}
	for time.Now().Before(deadline) {
		if n := st.rankedEdges(); n == len(st.Edges) {
			return st, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return nil, fmt.Errorf("steering did not see all %d edges within 60 s", len(st.Edges))
}

// rankedEdges is how many edges steering ranks for the first title.
func (st *procStack) rankedEdges() int {
	resp, err := http.Get("http://" + st.Steering.addr + "/steer/title-000?zone=" + st.Zones[0])
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	var v steerapi.Ranking
	if json.NewDecoder(resp.Body).Decode(&v) != nil {
		return 0
	}
	return len(v.Edges)
}

// all is every process with the address that serves its /metrics.
func (st *procStack) all() []struct {
	p       *proc
	metrics string
	role    string
} {
	type pm = struct {
		p       *proc
		metrics string
		role    string
	}
	var out []pm
	for _, p := range st.Origins {
		out = append(out, pm{p, p.addr, "origins"})
	}
	for _, p := range st.Edges {
		out = append(out, pm{p, p.addr, "edges"})
	}
	for _, z := range st.Zones {
		out = append(out, pm{st.LBs[z], st.LBs[z].addr, "balancers"})
	}
	if st.DNS != nil {
		out = append(out, pm{st.DNS, st.DNSHTTP, "dns"})
	}
	if st.Steering != nil {
		out = append(out, pm{st.Steering, st.Steering.addr, "steering"})
	}
	return out
}

func (st *procStack) stop() {
	if st == nil {
		return
	}
	for _, p := range []*proc{st.Steering, st.DNS} {
		p.stop()
	}
	for _, p := range st.LBs {
		p.stop()
	}
	for _, p := range st.Edges {
		p.stop()
	}
	for _, p := range st.Origins {
		p.stop()
	}
}

// rssBytes reads a process's resident set from /proc.
func rssBytes(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmRSS for pid %d", pid)
}

// memBytes is a process's resident memory (VmRSS) plus the bytes of the memfds it holds open:
// an edge keeps large bodies in memfds, whose pages are not in its RSS.
func memBytes(pid int) (int64, error) {
	n, err := rssBytes(pid)
	if err != nil {
		return 0, err
	}
	dir := "/proc/" + strconv.Itoa(pid) + "/fd/"
	fds, _ := os.ReadDir(dir)
	for _, fd := range fds {
		if l, err := os.Readlink(dir + fd.Name()); err == nil && strings.HasPrefix(l, "/memfd:") {
			if st, err := os.Stat(dir + fd.Name()); err == nil {
				n += st.Size()
			}
		}
	}
	return n, nil
}

// cpuSeconds reads a process's user+system CPU time from /proc/<pid>/stat.
func cpuSeconds(pid int) (float64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces: fields count from after its ')'.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("pid %d: short stat", pid)
	}
	ut, err1 := strconv.ParseFloat(f[11], 64)
	stime, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("pid %d: bad stat", pid)
	}
	return (ut + stime) / 100, nil // USER_HZ is 100 on Linux
}

// cpuByRole is the CPU seconds used so far by each role's processes.
func (st *procStack) cpuByRole() map[string]float64 {
	m := map[string]float64{}
	for _, p := range st.all() {
		if v, err := cpuSeconds(p.p.cmd.Process.Pid); err == nil {
			m[p.role] += v
		}
	}
	return m
}

// rssByRole is the memory (MB) of each role's processes: resident, and in memfds (memBytes).
func (st *procStack) rssByRole() map[string]float64 {
	m := map[string]float64{}
	for _, p := range st.all() {
		if v, err := memBytes(p.p.cmd.Process.Pid); err == nil {
			m[p.role] += float64(v) / 1e6
		}
	}
	return m
}

// metricValue reads one metric from a Prometheus text endpoint (harness.Metric).
func metricValue(c *http.Client, addr, name string) (float64, error) {
	return harness.Metric(c, addr, name)
}

func cmpOr(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}
