package placement

import (
	"fmt"
	"testing"
	"time"

	"edgecdn/internal/cluster"
)

func edges(zone string, n int, rps ...float64) []cluster.Member {
	var ms []cluster.Member
	for i := range n {
		m := cluster.Member{Name: fmt.Sprintf("%s-%d", zone, i), State: cluster.Alive,
			Meta: cluster.Meta{Role: cluster.RoleEdge, Zone: zone, HTTP: fmt.Sprintf("127.0.0.1:%d", 9000+i)}}
		if i < len(rps) {
			m.Load = &cluster.Load{RPS: rps[i], At: time.Now()}
		}
		ms = append(ms, m)
	}
	return ms
}

func TestPathKey(t *testing.T) {
	a, ok1 := PathKey("/vod/t/r/seg%2D1.m4s")
	b, ok2 := PathKey("/vod/t/r/seg-1.m4s")
	if !ok1 || !ok2 || a != b {
		t.Errorf("an escaped and a plain path of one object: %x %v, %x %v; want one key", a, ok1, b, ok2)
	}
	if _, ok := PathKey("/vod/t/../../etc/passwd"); ok {
		t.Error("a path an edge refuses has a key")
	}
}

func TestBuild(t *testing.T) {
	ms := append(edges("a", 3), edges("b", 2)...)
	ms = append(ms, cluster.Member{Name: "lb", State: cluster.Alive, Meta: cluster.Meta{Role: cluster.RoleLB, Zone: "a", HTTP: "127.0.0.1:1"}})
	ms[1].State = cluster.Suspect
	ms[2].HTTP = ""
	zs := Build(ms, 1.25, nil)
	if len(zs) != 2 || zs["a"].Len() != 1 || zs["b"].Len() != 2 {
		t.Fatalf("zones %v; want a with 1 edge (one suspect, one without HTTP), b with 2", zs)
	}
	again := Build(ms, 1.25, zs)
	if again["b"].Ring() != zs["b"].Ring() {
		t.Error("same edges: the ring was rebuilt, not reused")
	}
	if other := Build(edges("b", 3), 1.25, zs); other["b"].Ring() == zs["b"].Ring() {
		t.Error("other edges: the old ring was reused")
	}
	var empty *Zone
	if empty.Owner(1) != "" || empty.FirstOwner(1) != "" {
		t.Error("a missing zone has an owner")
	}
}

// TestBoundedOwner: keys leave an edge above factor x the mean load for another edge, and
// only those keys move.
func TestBoundedOwner(t *testing.T) {
	idle := Build(edges("z", 4, 0, 0, 0, 0), 1.25, nil)["z"]
	busy := Build(edges("z", 4, 100, 0, 0, 0), 1.25, nil)["z"]
	moved := 0
	for i := range 1000 {
		h, _ := PathKey(fmt.Sprintf("/vod/t/r/%d.m4s", i))
		was, now := idle.Owner(h), busy.Owner(h)
		if now == "z-0" {
			t.Fatalf("key %d stays on the overloaded edge", i)
		}
		if was != now {
			moved++
			if was != "z-0" {
				t.Fatalf("key %d moved from %s, an edge within the bound", i, was)
			}
		}
		if busy.FirstOwner(h) != was {
			t.Fatalf("key %d: first owner %s; want %s", i, busy.FirstOwner(h), was)
		}
	}
	if moved == 0 {
		t.Error("no key moved off the overloaded edge")
	}
}
