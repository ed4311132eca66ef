package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"edgecdn/internal/cluster"
	"edgecdn/internal/testenv"
)

// The test's subnet: the bridge in the root namespace and one address per namespace.
const (
	partSubnet = "10.231.0."
	partA      = partSubnet + "1"
	partB      = partSubnet + "2"
)

// ipRun runs `ip args...` (or another iproute2 tool) and fails the test on error.
func ipRun(t *testing.T, tool string, args ...string) string {
	t.Helper()
	out, err := exec.Command(tool, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v: %s", tool, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// ipCleanup runs `ip args...` at cleanup, reporting (not failing on) errors.
func ipCleanup(t *testing.T, tool string, args ...string) {
	t.Cleanup(func() {
		if out, err := exec.Command(tool, args...).CombinedOutput(); err != nil {
			t.Logf("cleanup: %s %s: %v: %s", tool, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
		}
	})
}

// netNS is a network namespace on the test's bridge: its veth pair and its address.
type netNS struct {
	ns, hostIf, nsIf, addr string
}

// bridgedNamespaces makes a bridge at subnet.254 in the root namespace and n namespaces on it at
// subnet.1, subnet.2, ..., each behind a veth pair, all removed at cleanup. tag (2 letters)
// names them, with a random suffix so that names stay under the 15 bytes of an interface name.
// It refuses a subnet this host already uses (another run, or a leftover of one killed before
// its cleanup: `ip link del <tag>br...; ip netns del <tag>ns...` removes it).
func bridgedNamespaces(t *testing.T, ip, subnet, tag string, n int) (bridge string, nss []*netNS) {
	t.Helper()
	if out := ipRun(t, ip, "-4", "-o", "addr", "show"); strings.Contains(out, " "+subnet) {
		t.Fatalf("%s0/24 is already in use on this host, the test needs it:\n%s", subnet, out)
	}
	if out := ipRun(t, ip, "-4", "route", "show", subnet+"0/24"); strings.TrimSpace(out) != "" {
		t.Fatalf("%s0/24 is already routed on this host, the test needs it: %s", subnet, out)
	}
	var rnd [3]byte
	rand.Read(rnd[:])
	sfx := hex.EncodeToString(rnd[:])
	bridge = tag + "br" + sfx
	// Cleanups run last-registered first: processes (registered later) die before their
	// namespaces and links go.
	ipRun(t, ip, "link", "add", bridge, "type", "bridge")
	ipCleanup(t, ip, "link", "del", bridge)
	ipRun(t, ip, "addr", "add", subnet+"254/24", "dev", bridge)
	ipRun(t, ip, "link", "set", bridge, "up")
	for i := range n {
		s := &netNS{ns: fmt.Sprintf("%sns%d%s", tag, i, sfx), hostIf: fmt.Sprintf("%sh%d%s", tag, i, sfx),
			nsIf: fmt.Sprintf("%sn%d%s", tag, i, sfx), addr: subnet + strconv.Itoa(i+1)}
		ipRun(t, ip, "netns", "add", s.ns)
		ipCleanup(t, ip, "netns", "del", s.ns)
		ipRun(t, ip, "link", "add", s.hostIf, "type", "veth", "peer", "name", s.nsIf, "netns", s.ns)
		t.Cleanup(func() { exec.Command(ip, "link", "del", s.hostIf).Run() }) // usually gone with the namespace
		ipRun(t, ip, "link", "set", s.hostIf, "master", bridge)
		ipRun(t, ip, "link", "set", s.hostIf, "up")
		ipRun(t, ip, "-n", s.ns, "addr", "add", s.addr+"/24", "dev", s.nsIf)
		ipRun(t, ip, "-n", s.ns, "link", "set", s.nsIf, "up")
		ipRun(t, ip, "-n", s.ns, "link", "set", "lo", "up")
		nss = append(nss, s)
	}
	return bridge, nss
}

// startInNS starts, inside namespace s, an origin on s.Addr:8080 and two edges named
// <letter>1 and <letter>2 of zone (HTTP on 9090+i, gossip on 7946+i, the admin token set), each
// joining seed unless it is "a1", the first member.
func startInNS(t *testing.T, ip string, s *netNS, content, zone string, letter byte, cacheSize, seed string) (origin *proc, edges []*proc) {
	t.Helper()
	wrap := []string{ip, "netns", "exec", s.ns, bin}
	origin = startProc(t, "origin-"+s.ns, "origin listening",
		slices.Concat(wrap, []string{"origin", "--content", content, "--listen", s.addr + ":8080", "--log-format", "json"})...)
	for i := range 2 {
		name := fmt.Sprintf("%c%d", letter, i+1)
		args := slices.Concat(wrap, []string{"edge", "--name", name, "--zone", zone, "--origin", "http://" + origin.Addr,
			"--listen", fmt.Sprintf("%s:%d", s.addr, 9090+i), "--gossip-listen", fmt.Sprintf("%s:%d", s.addr, 7946+i),
			"--cache-size", cacheSize, "--admin-token", testAdminToken, "--log-format", "json"})
		if name != "a1" {
			args = append(args, "--join", seed)
		}
		edges = append(edges, startProc(t, name, "edge listening", args...))
	}
	return origin, edges
}

// TestPartitionHeals: two network namespaces, A and B, joined by a bridge in the root
// namespace, each with its own origin and two edges, all four edges in one gossip cluster.
// Cutting A from B (isolated bridge ports), each side must mark the other's edges dead and keep
// serving every segment from its own edges and origin; healing, the cluster must merge again.
func TestPartitionHeals(t *testing.T) {
	testenv.Root(t)
	ip := testenv.Tool(t, "ip")
	bridge := testenv.Tool(t, "bridge")

	type side struct {
		*netNS
		origin *proc
		edges  []*proc
	}
	_, nss := bridgedNamespaces(t, ip, partSubnet, "ec", 2)
	sides := []*side{{netNS: nss[0]}, {netNS: nss[1]}}

	dir := t.TempDir()
	if _, errOut, code := run(t, nil, "package", "--out", dir, "--titles", "1", "--ladder", "small", "--duration", "40s", "--log-level", "warn"); code != 0 {
		t.Fatalf("package: exit %d: %s", code, errOut)
	}
	segs := segmentsOf(t, dir)

	// One zone spanning both namespaces: the partition then cuts the zone's ring in two, and
	// each side has to drop the other half from its ring and fill what that half owned from
	// its own edges and origin. With a zone per namespace the rings would never cross the cut
	// (fills stay in their zone), and "each side keeps serving" would hold without the
	// cluster doing anything.
	const zone = "zone-ab"
	var all []*proc
	for si, s := range sides {
		s.origin, s.edges = startInNS(t, ip, s.netNS, dir, zone, byte('a'+si), "256MiB", partA+":7946")
		all = append(all, s.edges...)
	}
	c := testClient()

	// allSee polls until every edge sees its own side's edges (all four when merged) alive and
	// in the ring, and the other side's dead and out of it; it returns when each edge got there.
	allSee := func(what string, merged bool, timeout time.Duration, at time.Time) []time.Duration {
		t.Helper()
		when, cond := edgeViews(c, all, at, func(i int, v clusterView) bool {
			ok := true
			for _, o := range all {
				if merged || strings.HasPrefix(o.Name, all[i].Name[:1]) {
					ok = ok && v.state(o.Name) == "alive" && v.inRing(zone, o.Name)
				} else {
					ok = ok && v.state(o.Name) == "dead" && !v.inRing(zone, o.Name)
				}
			}
			return ok
		})
		pollUntil(t, timeout, what, cond)
		return when
	}

	formed := allSee("4 alive at every edge", true, 30*time.Second, time.Now())
	t.Logf("cluster of 4 formed: %s", fmtWhen(all, formed))

	// Partition: isolated bridge ports do not forward to each other, but still to the bridge
	// (the root namespace, where this test's client is).
	isolate := func(on string) {
		for _, s := range sides {
			ipRun(t, bridge, "link", "set", "dev", s.hostIf, "isolated", on)
		}
	}
	if out, err := exec.Command(bridge, "link", "set", "dev", sides[0].hostIf, "isolated", "on").CombinedOutput(); err != nil {
		// Old kernel or iproute2: blackhole routes cut A from B just as well.
		t.Logf("bridge port isolation unsupported (%v: %s); using blackhole routes", err, strings.TrimSpace(string(out)))
		isolate = func(on string) {
			verb := map[string]string{"on": "add", "off": "del"}[on]
			ipRun(t, ip, "-n", sides[0].ns, "route", verb, "blackhole", partB+"/32")
			ipRun(t, ip, "-n", sides[1].ns, "route", verb, "blackhole", partA+"/32")
		}
	}
	isolate("on")
	cut := time.Now()

	// Requests during the detection window, at all four edges: an edge still routes some keys
	// to an owner on the other side, which does not answer; it must fall back to its origin.
	var bases []string
	for _, e := range all {
		bases = append(bases, "http://"+e.Addr)
	}
	window := startLoad(c, bases, segs, 2, 30*time.Second, 20_000)
	defer window.end() // on a failure before its end below
	detect := allSee("each side sees the other dead", false, 30*time.Second, cut)
	windowDur := window.end()
	t.Logf("partition detected (other side dead and out of the ring): %s", fmtWhen(all, detect))
	t.Logf("requests during detection: %d in %v, %d failed", window.ok.Load()+window.failed.Load(), windowDur.Round(time.Millisecond), window.failed.Load())
	if n := window.failed.Load(); n != 0 {
		t.Errorf("%d requests failed during the detection window:\n%s", n, window.errors())
	}

	// Partitioned, each side serves the whole title, from fills: purge every edge, then GET
	// every segment at every edge.
	for _, e := range all {
		req, _ := http.NewRequest(http.MethodPost, "http://"+e.Addr+"/admin/purge?prefix=/vod/", nil)
		req.Header.Set("Authorization", "Bearer "+testAdminToken)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("purge at %s: %s", e.Name, resp.Status)
		}
	}
	servedAt := time.Now()
	failed := 0
	for _, e := range all {
		for _, s := range segs {
			if err := getSegment(c, "http://"+e.Addr, s); err != nil {
				failed++
				t.Errorf("partitioned, at %s: %v", e.Name, err)
			}
		}
	}
	t.Logf("partitioned: %d segment GETs after a purge (%d per edge), %d failed, in %v",
		len(all)*len(segs), len(segs), failed, time.Since(servedAt).Round(time.Millisecond))
	// Still partitioned? (the GETs took a while; the views must not have flapped back)
	var loads []string
	for _, e := range all {
		v, err := getCluster(c, e.Addr)
		if err != nil {
			t.Fatal(err)
		}
		if v.alive() != 2 {
			t.Errorf("still partitioned, %s sees %d alive: %s", e.Name, v.alive(), v.summary())
		}
		n := 0
		for _, m := range v.Members {
			if m.State == cluster.Alive && m.Load != nil {
				n++
			}
		}
		loads = append(loads, fmt.Sprintf("%s %d/2", e.Name, n))
	}
	t.Logf("partitioned: fresh load reports of own side's edges: %s", strings.Join(loads, ", "))

	// Heal.
	isolate("off")
	heal := time.Now()
	merged := allSee("re-merge: 4 alive at every edge", true, 60*time.Second, heal)
	t.Logf("re-merged (4 alive, 4 in the ring, at every edge): %s", fmtWhen(all, merged))
	for _, e := range all {
		for _, s := range segs {
			if err := getSegment(c, "http://"+e.Addr, s); err != nil {
				t.Errorf("healed, at %s: %v", e.Name, err)
			}
		}
	}
}
