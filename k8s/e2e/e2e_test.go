// Package e2e deploys k8s/overlays/local on the local three-zone cluster (`make k8s-up`) and
// checks it end to end: readiness, gossip, DNS, content, the player-sim Job, faults under a
// player fleet, and Prometheus scraping the dashboard's metrics. `make k8s-e2e` runs it; without
// EDGECDN_K8S_E2E=1 it skips.
package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"edgecdn/edge"
	"edgecdn/internal/testenv"
	corev1 "k8s.io/api/core/v1"
)

func TestLocalCluster(t *testing.T) {
	if os.Getenv("EDGECDN_K8S_E2E") != "1" {
		t.Skip("skipped: the Kubernetes end-to-end test runs with EDGECDN_K8S_E2E=1 on a cluster from make k8s-up (make k8s-e2e)")
	}
	testenv.Root(t)
	dig := testenv.Tool(t, "dig")
	c := newCluster(t)
	fleetBin := buildPlayerSim(t, c.top)

	// 1. Deploy: every pod admitted without a warning, every workload Ready.
	c.run(context.Background(), nil, "delete", "namespace", ns, "--ignore-not-found", "--wait=true", "--timeout=3m")
	rendered := c.k("kustomize", filepath.Join(c.top, "k8s/overlays/local"))
	applyStart := time.Now()
	_, stderr, err := c.run(context.Background(), []byte(rendered), "apply", "-f", "-")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(strings.ToLower(stderr), "warning") {
		t.Errorf("kubectl apply warned:\n%s", stderr)
	}
	waitFor(t, "every pod of the edgecdn namespace Ready (the Job's aside)", 5*time.Minute, func() error {
		pods := c.pods("app.kubernetes.io/component!=player-sim")
		if len(pods) == 0 {
			return errNotYet
		}
		for i := range pods {
			if !ready(&pods[i]) {
				return fmt.Errorf("%s is %s", pods[i].Name, pods[i].Status.Phase)
			}
		}
		return nil
	})
	c.rolloutAll(3 * time.Minute)
	t.Logf("FIGURE apply to every pod Ready: %.1f s", time.Since(applyStart).Seconds())

	edges := c.pods("app.kubernetes.io/component=edge")
	if len(edges) != 6 {
		t.Fatalf("%d edge pods, want 6 (2 per zone)", len(edges))
	}

	// 2. Gossip: every edge's rings hold all edges of all zones.
	waitFor(t, "every edge's /cluster lists every edge on its zone's ring", time.Minute, func() error {
		return c.ringsComplete(edges, "")
	})

	// 3. DNS: the Service answers with the balancers of every zone.
	dnsIP := c.serviceIP("dns")
	lbByIP := c.balancersByIP()
	waitFor(t, "dig answers with every zone's balancers", time.Minute, func() error {
		got := digZones(dig, dnsIP, lbByIP)
		if len(got) != len(zones) {
			return fmt.Errorf("zones answered: %v", got)
		}
		return nil
	})
	if out, err := exec.Command(dig, "+tcp", "+short", "+time=2", "+tries=1", "@"+dnsIP, "video.edgecdn.local", "A").Output(); err != nil || len(strings.Fields(string(out))) == 0 {
		t.Errorf("dig over TCP: %v %q", err, out)
	}

	// 4. Content: a segment through each zone's balancer Service is the origin's file, byte for byte.
	c.checkSegments()

	// 5. The player-sim Job of the overlay completes with no failed player and no corrupt segment.
	c.checkJob()

	// 6. Prometheus scrapes the pods through the Kubernetes API's service discovery; every query
	// of the Grafana dashboard returns data.
	c.checkPrometheus(fleetBin)

	// 7. Faults, each under a fleet of players with 8 s of buffer (EDGECDN_K8S_E2E_FAULTS, a
	// comma-separated list of pod, rolling, drain, zone, picks some; default all).
	if fault("pod") {
		c.faultEdgePod(fleetBin, edges)
	}
	if fault("rolling") {
		c.faultRollingUpdate(fleetBin)
	}
	if fault("drain") {
		c.faultDrain(fleetBin)
	}
	if fault("zone") {
		c.faultZoneLoss(fleetBin, dig)
	}
}

// fault reports whether the fault named runs (EDGECDN_K8S_E2E_FAULTS).
func fault(name string) bool {
	v := os.Getenv("EDGECDN_K8S_E2E_FAULTS")
	return v == "" || slices.Contains(strings.Split(v, ","), name)
}

// buildPlayerSim builds player-sim for the fleets the test runs from the host.
func buildPlayerSim(t *testing.T, top string) string {
	bin := filepath.Join(t.TempDir(), "player-sim")
	cmd := exec.Command("go", "build", "-o", bin, "./player-sim")
	cmd.Dir = top
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./player-sim: %v\n%s", err, out)
	}
	return bin
}

// clusterInfo reads an edge's GET /cluster.
func (c *cluster) clusterInfo(pod string, ip string) (edge.ClusterInfo, error) {
	var info edge.ClusterInfo
	status, body, err := httpGet(context.Background(), c.edgeAdminURL(ip)+"/cluster", c.adminHeader())
	if err != nil {
		return info, err
	}
	if status != 200 {
		return info, fmt.Errorf("%s /cluster: %d %s", pod, status, body)
	}
	return info, json.Unmarshal(body, &info)
}

// ringsComplete checks that each edge's rings hold exactly the edges given (by pod name) in
// their zones; want, when not empty, must be among them.
func (c *cluster) ringsComplete(edges []edgePod, want string) error {
	for _, e := range edges {
		info, err := c.clusterInfo(e.Name, e.Status.PodIP)
		if err != nil {
			return err
		}
		for _, o := range edges {
			zone := o.Labels["edgecdn/zone"]
			if !info.InRing(zone, o.Name) {
				return fmt.Errorf("%s: %s not on the %s ring (rings %v)", e.Name, o.Name, zone, info.Rings)
			}
		}
		n := 0
		for _, r := range info.Rings {
			n += len(r)
		}
		if n != len(edges) {
			return fmt.Errorf("%s: rings hold %d edges, want %d: %v", e.Name, n, len(edges), info.Rings)
		}
	}
	return nil
}

// balancersByIP maps each balancer pod's IP to its zone.
func (c *cluster) balancersByIP() map[string]string {
	m := map[string]string{}
	for _, p := range c.pods("app.kubernetes.io/component=lb") {
		m[p.Status.PodIP] = p.Labels["edgecdn/zone"]
	}
	return m
}

// digZones asks the DNS Service for the CDN's name and returns the zones of the answers.
func digZones(dig, server string, lbByIP map[string]string) []string {
	out, err := exec.Command(dig, "+short", "+time=2", "+tries=1", "@"+server, "video.edgecdn.local", "A").Output()
	if err != nil {
		return nil
	}
	set := map[string]bool{}
	for _, f := range strings.Fields(string(out)) {
		if net.ParseIP(f) == nil {
			continue
		}
		z, ok := lbByIP[f]
		if !ok {
			z = "unknown:" + f
		}
		set[z] = true
	}
	var zs []string
	for z := range set {
		zs = append(zs, z)
	}
	sort.Strings(zs)
	return zs
}

func (c *cluster) checkSegments() {
	t := c.t
	origins := c.pods("app.kubernetes.io/component=origin")
	if len(origins) == 0 {
		t.Fatal("no origin pod")
	}
	originURL := "http://" + origins[0].Status.PodIP + ":8080"
	_, body, err := httpGet(context.Background(), originURL+"/catalog.json", nil)
	if err != nil {
		t.Fatal(err)
	}
	seg := firstSegment(t, body)
	_, want, err := httpGet(context.Background(), originURL+seg, nil)
	if err != nil || len(want) == 0 {
		t.Fatalf("origin %s: %v (%d bytes)", seg, err, len(want))
	}
	for _, z := range zones {
		ip := c.serviceIP("lb-" + z)
		status, got, err := httpGet(context.Background(), "http://"+ip+":8000"+seg, nil)
		if err != nil || status != 200 {
			t.Errorf("%s through lb-%s: %v %d", seg, z, err, status)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s through lb-%s: %d bytes (sha256 %x), the origin's file is %d bytes (sha256 %x)",
				seg, z, len(got), sha256.Sum256(got), len(want), sha256.Sum256(want))
		}
	}
	t.Logf("segment %s (%d bytes) byte-identical through the balancers of %v", seg, len(want), zones)
}

// firstSegment returns the path of the first title's first segment from catalog.json.
func firstSegment(t *testing.T, catalog []byte) string {
	var cat struct {
		Titles []struct {
			Name       string `json:"name"`
			Renditions []struct {
				Name     string `json:"name"`
				Segments []struct {
					Name string `json:"name"`
				} `json:"segments"`
			} `json:"renditions"`
		} `json:"titles"`
	}
	if err := json.Unmarshal(catalog, &cat); err != nil || len(cat.Titles) == 0 || len(cat.Titles[0].Renditions) == 0 || len(cat.Titles[0].Renditions[0].Segments) == 0 {
		t.Fatalf("catalog.json: %v: %.300s", err, catalog)
	}
	ti, r := cat.Titles[0], cat.Titles[0].Renditions[0]
	return "/vod/" + ti.Name + "/" + r.Name + "/" + r.Segments[0].Name
}

func (c *cluster) checkJob() {
	t := c.t
	_, _, err := c.run(context.Background(), nil, "-n", ns, "wait", "--for=condition=complete", "job/player-sim", "--timeout=10m")
	// The Job can be complete before the container runtime has written the end of a long
	// stdout to the pod's log: read it again until the report at its end parses.
	var (
		logs string
		r    report
		perr error
	)
	for deadline := time.Now().Add(time.Minute); ; {
		logs, _, _ = c.run(context.Background(), nil, "-n", ns, "logs", "job/player-sim")
		if r, perr = parseReport([]byte(logs)); perr == nil || err != nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second)
	}
	table := logs
	if i := strings.LastIndex(logs, "\n{\n"); i >= 0 && perr == nil {
		table = logs[:i] + fmt.Sprintf("\n(and a JSON report of %d bytes)", len(logs)-i)
	}
	t.Logf("player-sim Job log:\n%s", table)
	if err != nil {
		t.Fatalf("player-sim Job did not complete: %v\n%s", err, c.k("-n", ns, "describe", "job/player-sim"))
	}
	var failedPods int
	fmt.Sscan(strings.TrimSpace(c.k("-n", ns, "get", "job/player-sim", "-o", "jsonpath={.status.failed}")), &failedPods)
	if failedPods != 0 {
		t.Errorf("the player-sim Job failed %d pods before it completed", failedPods)
	}
	if perr != nil {
		t.Errorf("player-sim Job log holds no JSON report: %v (%d bytes of log)", perr, len(logs))
		return
	}
	t.Logf("FIGURE player-sim Job: %d players, %d failed, %d corrupt, %d stalls, %d errors", r.Players, r.Failed, r.Corrupt, r.RebufferCount, r.Errors)
	if r.Players == 0 || r.Failed != 0 || r.Corrupt != 0 {
		t.Errorf("player-sim Job: %d players, %d failed, %d corrupt segments", r.Players, r.Failed, r.Corrupt)
	}
}

// report is the part of player-sim's JSON report the test reads.
type report struct {
	Players       int `json:"players"`
	Failed        int `json:"failed_players"`
	RebufferCount int `json:"rebuffer_count"`
	EdgeSwitches  int `json:"edge_switches"`
	Errors        int `json:"errors"`
	Corrupt       int `json:"corrupt_segments"`
	Segments      int `json:"segments"`
	PerPlayer     []struct {
		Failed       bool     `json:"failed"`
		FailReason   string   `json:"fail_reason"`
		ErrorSamples []string `json:"error_samples"`
	} `json:"per_player"`
}

// failures lists each failed player's reason and first errors, for the log of a failed check.
func (r report) failures() string {
	var b strings.Builder
	for i, p := range r.PerPlayer {
		if p.Failed {
			fmt.Fprintf(&b, "\n  player %d: %s; first errors: %s", i, p.FailReason, strings.Join(p.ErrorSamples, " | "))
		}
	}
	return b.String()
}

// parseReport reads player-sim's JSON report from a log: with --json - it follows the table,
// from the line "{" to the end.
func parseReport(log []byte) (report, error) {
	var r report
	text := string(log)
	i := strings.LastIndex(text, "\n{\n")
	if i < 0 {
		return r, fmt.Errorf("no JSON report in %d bytes of log", len(log))
	}
	err := json.NewDecoder(strings.NewReader(text[i+1:])).Decode(&r)
	return r, err
}

// edgePod is a pod of an edge.
type edgePod = corev1.Pod

// adminHeader is the header that admin endpoints want, when the manifests give the pods an
// admin token.
func (c *cluster) adminHeader() map[string]string {
	if tok := c.adminToken(); tok != "" {
		return map[string]string{"Authorization": "Bearer " + tok}
	}
	return nil
}

func contains(s []string, v string) bool { return slices.Contains(s, v) }
