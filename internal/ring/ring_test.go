package ring

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func names(n int) []string {
	var s []string
	for i := 0; i < n; i++ {
		s = append(s, fmt.Sprintf("edge-%d", i))
	}
	return s
}

func keys(n int) []uint64 {
	k := make([]uint64, n)
	for i := range k {
		k[i] = HashString(fmt.Sprintf("/vod/title-%03d/%dk/seg%05d.ts", i%50, 300*(i%6+1), i))
	}
	return k
}

// TestBalance: over 100,000 keys and 6 nodes, owned keys max/mean <= 1.10.
func TestBalance(t *testing.T) {
	r := New(names(6), 0)
	counts := make([]int, r.Len())
	for _, h := range keys(100_000) {
		counts[r.Owner(h)]++
	}
	mean := 100_000.0 / 6
	maxc := slices.Max(counts)
	t.Logf("owned keys per node %v, max/mean %.3f", counts, float64(maxc)/mean)
	if float64(maxc)/mean > 1.10 {
		t.Errorf("max/mean %.3f > 1.10", float64(maxc)/mean)
	}
	var sum float64
	for _, s := range r.Shares() {
		sum += s
	}
	if math.Abs(sum-1) > 1e-9 {
		t.Errorf("shares sum to %v", sum)
	}
}

// TestMovement: one node joining or leaving moves at most 1.2/N of the keys.
func TestMovement(t *testing.T) {
	ks := keys(100_000)
	for _, n := range []int{3, 6, 12} {
		before := New(names(n), 0)
		joined := New(names(n+1), 0)
		left := New(names(n)[1:], 0)
		var movedJoin, movedLeave int
		for _, h := range ks {
			o := before.OwnerName(h)
			if joined.OwnerName(h) != o {
				movedJoin++
			}
			if left.OwnerName(h) != o {
				movedLeave++
			}
		}
		fj, fl := float64(movedJoin)/float64(len(ks)), float64(movedLeave)/float64(len(ks))
		t.Logf("N=%d: join moves %.4f of keys (ideal %.4f), leave moves %.4f (ideal %.4f)", n, fj, 1/float64(n+1), fl, 1/float64(n))
		if fj > 1.2/float64(n+1) || fl > 1.2/float64(n) {
			t.Errorf("N=%d: join moved %.4f, leave moved %.4f; bound 1.2/N", n, fj, fl)
		}
	}
}

// TestBoundedLoads replays a Zipf(1.1) stream: each request goes to the bounded owner of its key
// given the requests each node has taken so far. Per-node requests max/mean stays within the
// balance factor, where plain consistent hashing concentrates the hot keys.
func TestBoundedLoads(t *testing.T) {
	const n, reqs = 6, 200_000
	r := New(names(n), 0)
	ks := keys(10_000)
	rng := rand.New(rand.NewPCG(1, 2))
	z := newZipf(rng, 1.1, len(ks))
	bounded := make([]float64, n)
	plain := make([]float64, n)
	for i := 0; i < reqs; i++ {
		h := ks[z.next()]
		plain[r.Owner(h)]++
		o := r.BoundedOwner(h, DefaultBalanceFactor, func(j int) float64 { return bounded[j] + 1 })
		bounded[o]++
	}
	ratio := func(c []float64) float64 { return slices.Max(c) / (float64(reqs) / n) }
	t.Logf("Zipf(1.1), %d requests: plain max/mean %.3f, bounded max/mean %.3f (factor %.2f)", reqs, ratio(plain), ratio(bounded), DefaultBalanceFactor)
	if ratio(bounded) > DefaultBalanceFactor+0.01 {
		t.Errorf("bounded max/mean %.3f > %.2f", ratio(bounded), DefaultBalanceFactor)
	}
}

func TestBoundedOwnerPrefersOwner(t *testing.T) {
	r := New(names(4), 0)
	h := HashString("/vod/x")
	owner := r.Owner(h)
	if got := r.BoundedOwner(h, 1.25, func(int) float64 { return 10 }); got != owner {
		t.Errorf("equal loads: %d, want the owner %d", got, owner)
	}
	// The owner far over the bound: the next node clockwise takes the key.
	succ := r.Successors(nil, h, 2)
	got := r.BoundedOwner(h, 1.25, func(i int) float64 {
		if i == owner {
			return 100
		}
		return 1
	})
	if got != succ[1] {
		t.Errorf("overloaded owner: %d, want the successor %d", got, succ[1])
	}
}

func TestEmptyAndSingle(t *testing.T) {
	if New(nil, 0).Owner(1) != -1 || New(nil, 0).OwnerName(1) != "" {
		t.Error("empty ring has an owner")
	}
	r := New([]string{"a", "a"}, 0)
	if r.Len() != 1 || r.OwnerName(12345) != "a" {
		t.Errorf("single: %v", r.Nodes())
	}
}

func TestLookupDoesNotAllocate(t *testing.T) {
	r := New(names(6), 0)
	key := []byte("/vod/title-000/750k/seg00001.ts")
	loads := make([]float64, 6)
	if n := testing.AllocsPerRun(100, func() {
		h := Hash(key)
		r.Owner(h)
		r.BoundedOwner(h, 1.25, func(i int) float64 { return loads[i] })
	}); n != 0 {
		t.Errorf("lookups allocate %v times", n)
	}
}

func BenchmarkOwner(b *testing.B) {
	for _, n := range []int{6, 100} {
		r := New(names(n), 0)
		ks := [][]byte{}
		for i := 0; i < 1024; i++ {
			ks = append(ks, []byte(fmt.Sprintf("/vod/title-%03d/750k/seg%05d.ts", i%50, i)))
		}
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				r.Owner(Hash(ks[i&1023]))
				i++
			}
		})
	}
}

func BenchmarkBoundedOwner(b *testing.B) {
	r := New(names(6), 0)
	loads := []float64{10, 10, 10, 10, 10, 10}
	key := []byte("/vod/title-000/750k/seg00001.ts")
	b.ReportAllocs()
	for b.Loop() {
		r.BoundedOwner(Hash(key), DefaultBalanceFactor, func(i int) float64 { return loads[i] })
	}
}

// zipf draws ranks 0..n-1 with P(k) proportional to 1/(k+1)^s (math/rand's Zipf needs s > 1
// and has no exponent below it; this one takes any s).
type zipf struct {
	rng *rand.Rand
	cdf []float64
}

func newZipf(rng *rand.Rand, s float64, n int) *zipf {
	z := &zipf{rng: rng, cdf: make([]float64, n)}
	var sum float64
	for k := 0; k < n; k++ {
		sum += 1 / math.Pow(float64(k+1), s)
		z.cdf[k] = sum
	}
	for k := range z.cdf {
		z.cdf[k] /= sum
	}
	return z
}

func (z *zipf) next() int {
	i, _ := slices.BinarySearch(z.cdf, z.rng.Float64())
	return min(i, len(z.cdf)-1)
}
