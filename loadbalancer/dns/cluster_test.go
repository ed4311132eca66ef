package dns

import (
	"log/slog"
	"slices"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"edgecdn/internal/cluster"
)

// TestClusterZoneLeaves runs real gossip: two zones, each with a balancer and an edge, and the
// DNS server's own member reading them through ClusterSource. When zone-b's only edge stops
// (no goodbye: a crash), zone-b's balancer must leave the answers while zone-a's stays; with
// one zone only, fail-open would put it back.
func TestClusterZoneLeaves(t *testing.T) {
	if testing.Short() {
		t.Skip("gossip failure detection takes seconds")
	}
	quiet := slog.New(slog.DiscardHandler)
	start := func(name, role, zone, public string, join ...string) *cluster.Cluster {
		t.Helper()
		c, err := cluster.Start(cluster.Config{
			Name:         name,
			Meta:         cluster.Meta{Role: role, Zone: zone, Public: public},
			GossipListen: "127.0.0.1:0",
			Join:         join,
			Logger:       quiet,
		})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	self := start("dns-1", cluster.RoleDNS, "", "")
	seed := self.GossipAddr()
	members := []*cluster.Cluster{
		self,
		start("lb-a", cluster.RoleLB, "zone-a", "127.0.0.11", seed),
		start("edge-a", cluster.RoleEdge, "zone-a", "", seed),
		start("lb-b", cluster.RoleLB, "zone-b", "127.0.0.12:443", seed),
	}
	edgeB := start("edge-b", cluster.RoleEdge, "zone-b", "", seed)
	t.Cleanup(func() {
		for _, c := range members {
			c.Shutdown()
		}
	})
	_, addr := serve(t, Config{Source: ClusterSource(self)})

	answer := func() []string {
		got := addrs(ask(t, "udp", addr, question(domain, mdns.TypeA)).Answer)
		slices.Sort(got)
		return got
	}
	both := []string{"127.0.0.11", "127.0.0.12"}
	waitFor := func(want []string, within time.Duration) time.Duration {
		t.Helper()
		t0 := time.Now()
		var got []string
		for time.Since(t0) < within {
			if got = answer(); slices.Equal(got, want) {
				return time.Since(t0)
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("answer %v after %v, want %v", got, within, want)
		return 0
	}
	t.Logf("both zones in the answers %v after the members started", waitFor(both, 10*time.Second).Round(time.Millisecond))

	edgeBAddr := edgeB.GossipAddr()
	if err := edgeB.Shutdown(); err != nil {
		t.Fatal(err)
	}
	took := waitFor([]string{"127.0.0.11"}, 30*time.Second)
	t.Logf("zone-b's balancer left the answers %v after its only edge stopped without a goodbye", took.Round(time.Millisecond))

	// The edge restarts at its old gossip address (memberlist refuses a dead member's name
	// from a new address).
	edgeB, err := cluster.Start(cluster.Config{Name: "edge-b", Meta: cluster.Meta{Role: cluster.RoleEdge, Zone: "zone-b"},
		GossipListen: edgeBAddr, Join: []string{seed}, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	members = append(members, edgeB)
	t.Logf("zone-b back in the answers %v after its edge restarted", waitFor(both, 10*time.Second).Round(time.Millisecond))
}

func TestBalancersOf(t *testing.T) {
	m := func(name, role, zone, http, public string, st cluster.State) cluster.Member {
		return cluster.Member{Name: name, Meta: cluster.Meta{Role: role, Zone: zone, HTTP: http, Public: public}, State: st}
	}
	members := []cluster.Member{
		m("edge-a", cluster.RoleEdge, "a", "10.0.0.1:8080", "", cluster.Alive),
		m("edge-b", cluster.RoleEdge, "b", "10.0.0.2:8080", "", cluster.Dead),
		m("lb-a1", cluster.RoleLB, "a", "10.0.1.1:9000", "203.0.113.1", cluster.Alive),
		m("lb-a2", cluster.RoleLB, "a", "10.0.1.2:9000", "", cluster.Suspect),
		m("lb-a3", cluster.RoleLB, "a", "[fd00::3]:9000", "", cluster.Alive),
		m("lb-b1", cluster.RoleLB, "b", "", "[2001:db8::b]:443", cluster.Alive),
		m("lb-gone", cluster.RoleLB, "a", "10.0.1.9:9000", "", cluster.Left),
		m("lb-name", cluster.RoleLB, "a", "lb.example:9000", "", cluster.Alive),
		m("lb-any", cluster.RoleLB, "a", ":9000", "", cluster.Alive),
		m("steer", cluster.RoleSteering, "a", "10.0.2.1:80", "", cluster.Alive),
	}
	got := balancersOf(members)
	want := []string{
		"lb-a1 a 203.0.113.1 true",
		"lb-a2 a 10.0.1.2 false",
		"lb-a3 a fd00::3 true",
		"lb-b1 b 2001:db8::b false",
	}
	var gotS []string
	for _, b := range got {
		gotS = append(gotS, b.Name+" "+b.Zone+" "+b.Addr.String()+" "+map[bool]string{true: "true", false: "false"}[b.Healthy])
	}
	if !slices.Equal(gotS, want) {
		t.Errorf("balancersOf:\n got %q\nwant %q", gotS, want)
	}
}
