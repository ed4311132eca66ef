package steering

import (
	"fmt"
	"testing"
	"time"

	"edgecdn/edge"
	"edgecdn/internal/cluster"
	"edgecdn/internal/placement"
	"edgecdn/internal/ring"
)

// TestSegmentKeysAreEdgeKeys: steering keys a title's first segments exactly as an edge keys the
// requests for them (edge.AppendKey), percent escapes and dot segments included.
func TestSegmentKeysAreEdgeKeys(t *testing.T) {
	tests := []struct {
		variant, seg, request string
	}{
		{"r0/index.m3u8", "seg-0.m4s", "/vod/t/r0/seg-0.m4s"},
		{"r0/index.m3u8", "seg%2D1.m4s", "/vod/t/r0/seg%2D1.m4s"},
		{"r0/index.m3u8", "../r0/seg-2.m4s", "/vod/t/r0/seg-2.m4s"},
		{"video/r1/index.m3u8", "a%20b.m4s", "/vod/t/video/r1/a%20b.m4s"},
	}
	for _, tt := range tests {
		got := segmentKeys("t", tt.variant, []string{tt.seg})
		key, err := edge.AppendKey(nil, []byte(tt.request), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0] != ring.Hash(key) {
			t.Errorf("%s in %s: key %v; want the edge's key of %s (%q)", tt.seg, tt.variant, got, tt.request, key)
		}
	}
}

// TestOwnerUnderLoad: an edge above the load bound has handed its keys on; steering credits the
// edge the keys went to, the one the edges fill from, not the first owner on the ring.
func TestOwnerUnderLoad(t *testing.T) {
	var members []cluster.Member
	for i := range 4 {
		members = append(members, cluster.Member{Name: fmt.Sprintf("e%d", i), Meta: cluster.Meta{Role: cluster.RoleEdge, Zone: "z", HTTP: fmt.Sprintf("127.0.0.1:%d", 9000+i)},
			State: cluster.Alive, Load: &cluster.Load{At: time.Now()}})
	}
	h := segmentKeys("t", "r0/index.m3u8", []string{"seg-0.m4s"})[0]
	first := placement.Build(members, ring.DefaultBalanceFactor, nil)["z"].FirstOwner(h)
	for i := range members {
		if members[i].Name == first {
			members[i].Load.RPS = 1000 // far above 1.25 x the mean
		}
	}
	z := placement.Build(members, ring.DefaultBalanceFactor, nil)["z"]
	owner := z.Owner(h)
	if owner == first || owner == "" {
		t.Fatalf("owner %q under load; want another edge than the overloaded %q", owner, first)
	}
	s := &Server{cfg: Config{BalanceFactor: ring.DefaultBalanceFactor}}
	v := view{place: map[string]*placement.Zone{"z": z}}
	for _, m := range members {
		want := 0
		if m.Name == owner {
			want = 1
		}
		if got := s.owns(v, m, []uint64{h}); got != want {
			t.Errorf("%s owns %d of the first segments; want %d (owner %s, overloaded %s)", m.Name, got, want, owner, first)
		}
	}
}
