package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"

	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	policyv1 "k8s.io/api/policy/v1"

	"edgecdn/internal/testenv"
)

// fleet is a player-sim run from the host against the cluster (the host reaches pod and
// Service addresses through the cluster's routes).
type fleet struct {
	name string
	cmd  *exec.Cmd
	out  bytes.Buffer
	json string
	done chan error
}

// startFleet starts players with 8 s of buffer, steered by the steering Service, or resolving
// the DNS Service when dns is set. They all arrive at once, so that every one has its entry's
// answer before the fault: a fault test is about players that are playing. (A player arriving
// while a lost node's DNS pod is still among the Service's endpoints loses each query with
// even odds, and its entry can fail; the other fleet's requests would let "playing" below
// pass before the last arrivals of a spread-out fleet.)
func (c *cluster) startFleet(bin, name string, players int, media time.Duration, dns bool) *fleet {
	c.t.Helper()
	f := &fleet{name: name, json: filepath.Join(c.t.TempDir(), name+".json"), done: make(chan error, 1)}
	args := []string{"--players", strconv.Itoa(players), "--duration", media.String(), "--buffer-cap", "8s",
		"--rate", "0", "--json", f.json}
	if dns {
		args = append(args, "--dns", c.serviceIP("dns")+":53", "--domain", "video.edgecdn.local", "--port", "8000")
	} else {
		args = append(args, "--steering", "http://"+c.serviceIP("steering")+":8500", "--zones", strings.Join(zones, ","))
	}
	ctx, cancel := context.WithTimeout(context.Background(), media+4*time.Minute)
	f.cmd = exec.CommandContext(ctx, bin, args...)
	f.cmd.Stdout, f.cmd.Stderr = &f.out, &f.out
	before := c.edgeRequests()
	if err := f.cmd.Start(); err != nil {
		cancel()
		c.t.Fatalf("fleet %s: %v", name, err)
	}
	go func() { f.done <- f.cmd.Wait(); cancel() }()
	// Playing: the edges have served every player a few requests.
	waitFor(c.t, "fleet "+name+" playing", time.Minute, func() error {
		if n := c.edgeRequests() - before; n < float64(3*players) {
			return fmt.Errorf("edges served %.0f requests since the fleet started", n)
		}
		return nil
	})
	return f
}

// wait waits for the fleet to end and returns its report.
func (f *fleet) wait(t *testing.T) report {
	t.Helper()
	err := <-f.done
	b, rerr := os.ReadFile(f.json)
	// player-sim exits 1 when a player failed, after writing its report: the caller judges it.
	var exit *exec.ExitError
	if rerr != nil || (err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 1)) {
		t.Fatalf("fleet %s: %v %v\n%s", f.name, err, rerr, f.out.String())
	}
	var r report
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("fleet %s report: %v", f.name, err)
	}
	t.Logf("FIGURE fleet %s: %d players, %d failed, %d corrupt, %d stalls, %d failed requests, %d edge switches, %d segments",
		f.name, r.Players, r.Failed, r.Corrupt, r.RebufferCount, r.Errors, r.EdgeSwitches, r.Segments)
	return r
}

// metricsURL is where a pod's annotations say Prometheus scrapes it.
func metricsURL(p *corev1Pod) string {
	path := p.Annotations["prometheus.io/path"]
	if path == "" {
		path = "/metrics"
	}
	return "http://" + net.JoinHostPort(p.Status.PodIP, p.Annotations["prometheus.io/port"]) + path
}

var requestsLine = regexp.MustCompile(`^edgecdn_edge_requests_total(\{[^}]*\})? ([0-9.e+]+)`)

// edgeRequests sums edgecdn_edge_requests_total over the edges that answer.
func (c *cluster) edgeRequests() float64 {
	var sum float64
	for _, p := range c.pods("app.kubernetes.io/component=edge") {
		if p.Status.PodIP == "" {
			continue
		}
		_, body, err := httpGet(context.Background(), metricsURL(&p), c.adminHeader())
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(bytes.NewReader(body))
		for sc.Scan() {
			if m := requestsLine.FindStringSubmatch(sc.Text()); m != nil {
				v, _ := strconv.ParseFloat(m[2], 64)
				sum += v
			}
		}
	}
	return sum
}

// requireClean fails the test unless the fleet played with no failed player, no failed
// request, no corrupt segment and no stall.
func requireClean(t *testing.T, what string, r report) {
	t.Helper()
	if r.Players == 0 || r.Failed != 0 || r.Errors != 0 || r.Corrupt != 0 || r.RebufferCount != 0 {
		t.Errorf("%s: %d players, %d failed, %d failed requests, %d corrupt, %d stalls; want all 0%s",
			what, r.Players, r.Failed, r.Errors, r.Corrupt, r.RebufferCount, r.failures())
	}
}

// faultEdgePod deletes one edge pod mid-playback: no stall, no failed request; the
// StatefulSet brings it back and it rejoins every ring.
func (c *cluster) faultEdgePod(bin string, edges []edgePod) {
	t := c.t
	victim := "edge-zone-b-0"
	var oldUID string
	for _, e := range edges {
		if e.Name == victim {
			oldUID = string(e.UID)
		}
	}
	f := c.startFleet(bin, "edge-pod-deleted", 20, 60*time.Second, false)
	start := time.Now()
	c.k("-n", ns, "delete", "pod", victim, "--wait=false")
	var newIP string
	waitFor(t, "a new "+victim+" Ready", 3*time.Minute, func() error {
		for _, p := range c.pods("app.kubernetes.io/component=edge") {
			if p.Name == victim && string(p.UID) != oldUID && ready(&p) {
				newIP = p.Status.PodIP
				return nil
			}
		}
		return errNotYet
	})
	readyAfter := time.Since(start)
	waitFor(t, "the new "+victim+" on every edge's ring", 2*time.Minute, func() error {
		all := c.pods("app.kubernetes.io/component=edge")
		for _, e := range all {
			info, err := c.clusterInfo(e.Name, e.Status.PodIP)
			if err != nil {
				return err
			}
			if !info.InRing("zone-b", victim) {
				return fmt.Errorf("%s: %s not on the zone-b ring", e.Name, victim)
			}
			for _, m := range info.Members {
				if m.Name == victim && !strings.HasPrefix(m.Gossip, newIP+":") && e.Name != victim {
					return fmt.Errorf("%s still sees %s at %s, not %s", e.Name, victim, m.Gossip, newIP)
				}
			}
		}
		return nil
	})
	t.Logf("FIGURE edge pod deleted: new pod Ready after %.1f s, on every ring after %.1f s", readyAfter.Seconds(), time.Since(start).Seconds())
	requireClean(t, "fleet while an edge pod was deleted", f.wait(t))
}

// faultRollingUpdate rolls every edge StatefulSet and balancer Deployment (a changed pod
// annotation) under a fleet: no failed request, and the disruption budgets hold throughout.
func (c *cluster) faultRollingUpdate(bin string) {
	t := c.t
	f := c.startFleet(bin, "rolling-update", 20, 150*time.Second, false)
	var targets []string
	for _, z := range zones {
		targets = append(targets, "statefulset/edge-"+z, "deployment/lb-"+z)
	}
	stop := make(chan struct{})
	var worst struct {
		sync.Mutex
		margin int
		pdb    string
	}
	worst.margin = 1 << 30
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // disruption budgets: currentHealthy never below desiredHealthy
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(500 * time.Millisecond):
			}
			out, _, err := c.run(context.Background(), nil, "-n", ns, "get", "pdb", "-o", "json")
			if err != nil {
				continue
			}
			var l policyv1.PodDisruptionBudgetList
			if json.Unmarshal([]byte(out), &l) != nil {
				continue
			}
			worst.Lock()
			for _, p := range l.Items {
				if m := int(p.Status.CurrentHealthy - p.Status.DesiredHealthy); m < worst.margin {
					worst.margin, worst.pdb = m, p.Name
				}
			}
			worst.Unlock()
		}
	}()
	start := time.Now()
	// The balancers all at once (each Deployment surges a new pod before it stops an old one),
	// the edges one zone's StatefulSet after another, so that no more edges are away at once than
	// their disruption budget allows (a StatefulSet replaces one pod at a time).
	var lbs []string
	for _, z := range zones {
		lbs = append(lbs, "deployment/lb-"+z)
	}
	c.k(append([]string{"-n", ns, "rollout", "restart"}, lbs...)...)
	for _, z := range zones {
		c.k("-n", ns, "rollout", "restart", "statefulset/edge-"+z)
		c.k("-n", ns, "rollout", "status", "statefulset/edge-"+z, "--timeout=5m")
	}
	for _, w := range lbs {
		c.k("-n", ns, "rollout", "status", w, "--timeout=5m")
	}
	close(stop)
	wg.Wait()
	t.Logf("FIGURE rolling update of %d workloads: %.1f s; smallest PDB margin (healthy - desired) %d (%s)",
		len(targets), time.Since(start).Seconds(), worst.margin, worst.pdb)
	if worst.margin < 0 {
		t.Errorf("disruption budget %s went %d below its desired healthy pods during the rolling update", worst.pdb, -worst.margin)
	}
	requireClean(t, "fleet during the rolling update", f.wait(t))
}

// faultDrain drains one zone's only node: the drain completes (no disruption budget blocks
// it). The node is uncordoned afterwards and the workloads come back.
func (c *cluster) faultDrain(bin string) {
	t := c.t
	f := c.startFleet(bin, "drain", 20, 60*time.Second, false)
	start := time.Now()
	_, _, err := c.run(context.Background(), nil, "drain", "zone-b", "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=3m")
	took := time.Since(start)
	if err != nil {
		t.Errorf("drain of zone-b did not complete: %v", err)
	} else {
		t.Logf("FIGURE kubectl drain zone-b completed in %.1f s", took.Seconds())
	}
	r := f.wait(t)
	if r.Failed != 0 || r.Corrupt != 0 {
		t.Errorf("fleet during the drain: %d failed players, %d corrupt segments", r.Failed, r.Corrupt)
	}
	c.k("uncordon", "zone-b")
	c.rolloutAll(5 * time.Minute)
}

// faultZoneLoss cuts zone-c's node off the network under a steered fleet and a DNS fleet: the
// DNS Service stops answering with zone-c, and the players keep playing from the other zones.
func (c *cluster) faultZoneLoss(bin, dig string) {
	t := c.t
	testenv.Tool(t, "ip")
	lbByIP := c.balancersByIP()
	dnsIP := c.serviceIP("dns")
	var lost []string // the pods the cut takes, beyond zone-c's own edges and balancer
	for _, p := range c.pods("app.kubernetes.io/component notin (edge,lb,player-sim)") {
		if p.Spec.NodeName == "zone-c" {
			lost = append(lost, p.Name)
		}
	}
	t.Logf("zone-c's node also runs %v", lost)
	steered := c.startFleet(bin, "zone-lost-steering", 15, 60*time.Second, false)
	viaDNS := c.startFleet(bin, "zone-lost-dns", 15, 60*time.Second, true)
	link := "k8s-zone-c"
	start := time.Now()
	if out, err := exec.Command("ip", "link", "set", link, "down").CombinedOutput(); err != nil {
		t.Fatalf("cutting zone-c's link: %v %s", err, out)
	}
	defer func() {
		if out, err := exec.Command("ip", "link", "set", link, "up").CombinedOutput(); err != nil {
			t.Errorf("restoring zone-c's link: %v %s", err, out)
		}
		waitFor(t, "zone-c Ready again", 3*time.Minute, func() error {
			s, _, err := c.run(context.Background(), nil, "get", "node", "zone-c", "-o", "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}")
			if err != nil || strings.TrimSpace(s) != "True" {
				return fmt.Errorf("zone-c Ready=%q %v", s, err)
			}
			return nil
		})
	}()
	// Several answers in a row without zone-c: the DNS server answers round robin. A query
	// that gets no answer (the Service may still send it to a DNS pod on the lost node) is no
	// answer with zone-c; it does not count either way.
	clean := 0
	waitFor(t, "DNS stops answering with zone-c", 2*time.Minute, func() error {
		zs := digZones(dig, dnsIP, lbByIP)
		if len(zs) == 0 {
			return errNotYet
		}
		if contains(zs, "zone-c") {
			clean = 0
			return fmt.Errorf("answered zones %v", zs)
		}
		if clean++; clean < 5 {
			return errNotYet
		}
		return nil
	})
	t.Logf("FIGURE zone-c cut: DNS stopped answering with it after %.1f s", time.Since(start).Seconds())
	for _, f := range []*fleet{steered, viaDNS} {
		r := f.wait(t)
		if r.Failed != 0 || r.Corrupt != 0 {
			t.Errorf("fleet %s: %d failed players, %d corrupt segments while zone-c was lost%s", f.name, r.Failed, r.Corrupt, r.failures())
		}
	}
}
