package main

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"edgecdn/edge/cache"
)

// TestReferenceLRUMatchesEdgeCache: the bench's LRU and edge/cache's lru policy give the same
// hit ratios under the same cost model.
func TestReferenceLRUMatchesEdgeCache(t *testing.T) {
	objects := 600
	size := envivioCatalog(objects, 3)
	trace := cache.ZipfTrace(20_000, objects, 0.9, 5, size)
	catBytes := cache.CatalogBytes(objects, size)
	it := internTrace(trace)
	for _, pct := range []int64{2, 10, 30} {
		capacity := catBytes * pct / 100
		o, b := cache.Simulate(cache.PolicyLRU, capacity, trace)
		got := simulateLRU(it, edgeCost(capacity))
		if got.objectHR != o || got.byteHR != b {
			t.Errorf("%d%%: bench LRU %.6f / %.6f, edge/cache %.6f / %.6f", pct, got.objectHR, got.byteHR, o, b)
		}
	}
}

// TestBeladyBeatsOnlinePolicies: on a few streams, the farthest-next-use rule's byte and object
// hit ratios are at least LRU's and S3-FIFO's.
func TestBeladyBeatsOnlinePolicies(t *testing.T) {
	objects := 800
	size := envivioCatalog(objects, 2)
	catBytes := cache.CatalogBytes(objects, size)
	streams := map[string][]cache.Request{
		"zipf-0.7":  cache.ZipfTrace(30_000, objects, 0.7, 1, size),
		"zipf-1.1":  cache.ZipfTrace(30_000, objects, 1.1, 2, size),
		"scan-0.3":  cache.ScanTrace(30_000, objects, 1.0, 0.3, 3, size),
		"loop":      loopTrace(30_000, 300, size),
		"ladder-ms": cache.ZipfTrace(30_000, 2000, 1.0, 4, nil),
	}
	for name, trace := range streams {
		it := internTrace(trace)
		for _, pct := range []int64{1, 5, 20} {
			capacity := catBytes * pct / 100
			bel := simulateBelady(it, edgeCost(capacity))
			lru := simulateLRU(it, edgeCost(capacity))
			so, sb := cache.Simulate(cache.PolicyS3FIFO, capacity, trace)
			if bel.byteHR < lru.byteHR || bel.byteHR < sb || bel.objectHR < lru.objectHR || bel.objectHR < so {
				t.Errorf("%s %d%%: belady %.4f (%.4f), lru %.4f (%.4f), s3fifo %.4f (%.4f)", name, pct,
					bel.byteHR, bel.objectHR, lru.byteHR, lru.objectHR, sb, so)
			}
		}
	}
}

// loopTrace requests objects 0..n-1 over and over: LRU's worst case.
func loopTrace(requests, n int, size func(int) int64) []cache.Request {
	tr := make([]cache.Request, requests)
	for i := range tr {
		k := i % n
		tr[i] = cache.Request{Key: fmt.Sprint(k), Size: size(k)}
	}
	return tr
}

// TestBeladyOptimalUnitSizes: with objects of one size, the farthest-next-use rule is optimal;
// compare with an exhaustive search over every admission and eviction choice on small traces.
func TestBeladyOptimalUnitSizes(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	beatLRU := 0
	for trial := 0; trial < 200; trial++ {
		keys := 3 + rng.IntN(6)
		slots := 1 + rng.IntN(3)
		n := 6 + rng.IntN(14)
		ids := make([]int32, n)
		sizes := make([]int64, n)
		for i := range ids {
			ids[i] = int32(rng.IntN(keys))
			sizes[i] = 100
		}
		it := idTrace{ids: ids, sizes: sizes, objects: keys}
		got := simulateBelady(it, simCost{capacity: int64(slots) * 100, admitMax: 100})
		want := optHits(ids, slots)
		if hits := int(got.objectHR*float64(n) + 0.5); hits != want {
			t.Fatalf("trace %v, %d slots: belady %d hits, optimum %d", ids, slots, hits, want)
		}
		if lru := simulateLRU(it, simCost{capacity: int64(slots) * 100, admitMax: 100}); int(lru.objectHR*float64(n)+0.5) < want {
			beatLRU++
		}
	}
	if beatLRU == 0 {
		t.Error("the optimum never beat LRU: the traces are too easy to test anything")
	}
	t.Logf("the optimum beat LRU on %d of 200 traces", beatLRU)
}

// optHits is the most hits any policy (with bypass) gets on ids with room for slots objects.
func optHits(ids []int32, slots int) int {
	memo := map[[2]int]int{}
	var best func(i int, set int) int
	best = func(i int, set int) int {
		if i == len(ids) {
			return 0
		}
		k := [2]int{i, set}
		if v, ok := memo[k]; ok {
			return v
		}
		x := 1 << ids[i]
		var v int
		if set&x != 0 {
			v = 1 + best(i+1, set)
		} else {
			v = best(i+1, set) // bypass
			if popcount(set) < slots {
				v = max(v, best(i+1, set|x))
			} else {
				for y := set; y != 0; y &= y - 1 {
					low := y & -y
					v = max(v, best(i+1, set&^low|x))
				}
			}
		}
		memo[k] = v
		return v
	}
	return best(0, 0)
}

func popcount(x int) int {
	n := 0
	for ; x != 0; x &= x - 1 {
		n++
	}
	return n
}

func TestNextUseHeap(t *testing.T) {
	h := newNextUseHeap(50)
	rng := rand.New(rand.NewPCG(3, 4))
	keys := map[int32]int32{}
	for x := int32(0); x < 50; x++ {
		k := int32(rng.IntN(1000))
		h.push(x, k)
		keys[x] = k
	}
	for x := int32(0); x < 50; x += 3 {
		k := int32(rng.IntN(1000))
		h.update(x, k)
		keys[x] = k
	}
	prev := int32(1 << 30)
	for range 50 {
		x := h.pop()
		if keys[x] > prev {
			t.Fatalf("popped %d after %d", keys[x], prev)
		}
		prev = keys[x]
	}
}
