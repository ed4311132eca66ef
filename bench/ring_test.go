package main

import (
	"math"
	"strconv"
	"strings"
	"testing"

	"edgecdn/internal/ring"
)

// TestJumpHashKnownValues checks jumpHash against published outputs of the paper's C++ code.
func TestJumpHashKnownValues(t *testing.T) {
	for _, c := range []struct {
		key     uint64
		buckets int
		want    int
	}{
		{1, 1, 0}, {1, 10, 6}, {1, 100, 55}, {2, 100, 62}, {0xdeadbeef, 1000, 285},
	} {
		if got := jumpHash(c.key, c.buckets); got != c.want {
			t.Errorf("jumpHash(%#x, %d) = %d, want %d", c.key, c.buckets, got, c.want)
		}
	}
}

// TestJumpAndRendezvousConsistency: balance within a few percent, and a join or a removal of the
// last (jump) or any (rendezvous) node moves close to the ideal share of keys, and only to or from
// that node.
func TestJumpAndRendezvousConsistency(t *testing.T) {
	hs := make([]uint64, 50_000)
	for i, k := range ringKeys(len(hs)) {
		hs[i] = ring.HashString(k)
	}
	for _, n := range []int{3, 10, 40} {
		nm := ringNames(n)
		for _, p := range placers(n)[1:] {
			counts := make([]int, n)
			for _, h := range hs {
				counts[p.owner(h)]++
			}
			mean := float64(len(hs)) / float64(n)
			for i, c := range counts {
				if math.Abs(float64(c)/mean-1) > 6*math.Sqrt(float64(n)/float64(len(hs))) {
					t.Errorf("N=%d: node %d has %d keys, mean %.0f", n, i, c, mean)
				}
			}
		}
		j, jj := jumpNames(nm), jumpNames(ringNames(n+1))
		r, rj, rl := newRendezvous(nm), newRendezvous(ringNames(n+1)), newRendezvous(nm[1:])
		var jm, rm, rlm int
		for _, h := range hs {
			if a, b := j(h), jj(h); a != b {
				jm++
				if b != "edge-"+strconv.Itoa(n) {
					t.Fatalf("N=%d: jump moved a key from %s to %s, not to the new node", n, a, b)
				}
			}
			if a, b := r.ownerName(h), rj.ownerName(h); a != b {
				rm++
				if b != "edge-"+strconv.Itoa(n) {
					t.Fatalf("N=%d: rendezvous moved a key from %s to %s, not to the new node", n, a, b)
				}
			}
			if a, b := r.ownerName(h), rl.ownerName(h); a != b {
				rlm++
				if a != "edge-0" {
					t.Fatalf("N=%d: edge-0 left but a key moved from %s", n, a)
				}
			}
		}
		ideal := float64(len(hs)) / float64(n+1)
		for name, m := range map[string]int{"jump join": jm, "rendezvous join": rm} {
			if math.Abs(float64(m)/ideal-1) > 0.15 {
				t.Errorf("N=%d: %s moved %d keys, ideal %.0f", n, name, m, ideal)
			}
		}
		if ideal := float64(len(hs)) / float64(n); math.Abs(float64(rlm)/ideal-1) > 0.15 {
			t.Errorf("N=%d: rendezvous leave moved %d keys, ideal %.0f", n, rlm, ideal)
		}
	}
}

// TestPlacersAgreeOnNames: the ring placer's indexes name the same node as the ring.
func TestPlacersAgreeOnNames(t *testing.T) {
	nm := ringNames(12)
	r := ring.New(nm, 0)
	p := placers(12)[0]
	for _, k := range ringKeys(1000) {
		h := ring.HashString(k)
		if nm[p.owner(h)] != r.OwnerName(h) {
			t.Fatalf("%s: placer says %s, ring %s", k, nm[p.owner(h)], r.OwnerName(h))
		}
	}
}

func TestNeedTools(t *testing.T) {
	if err := needTools("go"); err != nil {
		t.Errorf("go is on PATH (it runs this test): %v", err)
	}
	err := needTools("go", "no-such-tool-edgecdn")
	if err == nil || !strings.Contains(err.Error(), "needs no-such-tool-edgecdn (apt-get install no-such-tool-edgecdn)") {
		t.Errorf("a missing tool: %v", err)
	}
}
