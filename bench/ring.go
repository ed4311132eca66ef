package main

import (
	"context"
	"fmt"
	"image/color"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"edgecdn/internal/ring"
)

// runRing compares internal/ring (consistent hashing with virtual nodes and bounded loads) with
// jump consistent hash and rendezvous hashing: balance, movement on a join or a leave, lookup
// cost, and per-node load under a Zipf request stream.
func runRing(ctx context.Context, args []string) (string, error) {
	fs := newFlags("ring")
	nkeys := fs.Int("keys", 100_000, "keys placed for balance and movement")
	balanceNs := numbersFlag[int](fs, "nodes", "3,6,12,25,50,100", "node counts for balance")
	moveNs := numbersFlag[int](fs, "move-nodes", "3,6,12,100", "node counts for movement and the Zipf stream")
	requests := fs.Int("requests", 200_000, "requests in the Zipf(1.1) stream")
	zipfKeys := fs.Int("zipf-keys", 10_000, "distinct keys in the Zipf stream")
	zipfS := fs.Float64("zipf", 1.1, "Zipf exponent of the request stream")
	runs := fs.Int("runs", 3, "runs of each lookup benchmark (the median is reported)")
	if err := parseFlags(fs, args); err != nil {
		return "", err
	}
	bns, mns := []int(*balanceNs), []int(*moveNs)
	dir, err := resultsDir()
	if err != nil {
		return "", err
	}
	start := time.Now()
	keys := ringKeys(*nkeys)
	hs := make([]uint64, len(keys))
	for i, k := range keys {
		hs[i] = ring.HashString(k)
	}

	var b strings.Builder
	fmt.Fprintf(&b, "## Placement: internal/ring vs jump hash and rendezvous hashing\n\n`go run ./bench ring --keys %d --nodes %s --move-nodes %s --requests %d --zipf-keys %d --zipf %g --runs %d` on %d CPUs, load average %s at the start (lookup times move with the machine's load; the counts are exact).\n\n",
		*nkeys, balanceNs, moveNs, *requests, *zipfKeys, *zipfS, *runs, runtime.NumCPU(), loadAvg())
	fmt.Fprintf(&b, "- **ring**: edgecdn's `internal/ring`: xxhash of the key, %d virtual nodes per node (`<name>#<i>` hashed with xxhash), binary search; with bounded loads (factor %.2f) a key walks on to the first node under the factor times the mean load.\n", ring.DefaultReplicas, ring.DefaultBalanceFactor)
	fmt.Fprintf(&b, "- **jump**: Lamping & Veach's jump consistent hash of the key's xxhash over N buckets (bucket i is node i): no table, O(log N) steps.\n")
	fmt.Fprintf(&b, "- **rendezvous**: highest random weight: the node with the largest mix(xxhash(key) XOR xxhash(node name)) (xorshift-multiply mix, as dgryski/go-rendezvous), O(N) per lookup.\n\n")
	fmt.Fprintf(&b, "Nodes are named `edge-0`, `edge-1`, ...; keys are segment paths (`/vod/title-NNN/<kbps>k/segNNNNN.ts`).\n\n")

	// (a) balance
	fmt.Fprintf(&b, "### (a) Balance: keys per node, max/mean (min/mean), %d keys\n\n| N | ring | jump | rendezvous |\n|---:|---|---|---|\n", len(hs))
	var bal []balRow
	var zipfSum string
	for _, n := range bns {
		ps := placers(n)
		row := balRow{n: float64(n)}
		fmt.Fprintf(&b, "| %d |", n)
		for i, p := range ps {
			counts := make([]int, n)
			for _, h := range hs {
				counts[p.owner(h)]++
			}
			mean := float64(len(hs)) / float64(n)
			mx, mn := float64(slices.Max(counts))/mean, float64(slices.Min(counts))/mean
			fmt.Fprintf(&b, " %.3f (%.3f) |", mx, mn)
			switch i {
			case 0:
				row.ring = mx
			case 1:
				row.jump = mx
			case 2:
				row.hrw = mx
			}
		}
		b.WriteByte('\n')
		bal = append(bal, row)
	}
	fmt.Fprintf(&b, "\nFor scale: under a uniformly random assignment a node's key count has a relative standard deviation of sqrt((N-1)/keys): %.1f%% at N=6, %.1f%% at N=100; a ring's arcs add about 1/sqrt(virtual nodes) = %.1f%% to a node's share on their own.\n\n",
		100*math.Sqrt(5/float64(len(hs))), 100*math.Sqrt(99/float64(len(hs))), 100/math.Sqrt(ring.DefaultReplicas))
	plotName := "ring-balance.png"
	if err := plotBalance(filepath.Join(dir, plotName), len(hs), bal); err != nil {
		return "", err
	}
	fmt.Fprintf(&b, "![keys per node max/mean vs N](%s)\n\n", plotName)
	fmt.Fprintf(os.Stderr, "ring: balance done (%.1f s)\n", time.Since(start).Seconds())

	// (b) movement
	fmt.Fprintf(&b, "### (b) Movement: fraction of the %d keys that change node\n\n", len(hs))
	fmt.Fprintf(&b, "A node joins (`edge-N` added) or leaves (`edge-0` removed). Jump hash numbers its buckets 0..N-1 and can only add or remove the **last** bucket cheaply; to remove any other node the buckets must be renumbered (every later node shifts down one) or the last node moved into the freed bucket (the swap column), both of which move more than the ideal.\n\n")
	fmt.Fprintf(&b, "| N | join: ideal 1/(N+1) | ring | jump | rendezvous | leave: ideal 1/N | ring | rendezvous | jump, last bucket | jump, edge-0 renumbered | jump, edge-0 swapped with last |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, n := range mns {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		nm := ringNames(n)
		joined := ringNames(n + 1)
		without0 := nm[1:]
		swapped := append([]string{nm[n-1]}, nm[1:n-1]...)
		moved := func(a, b func(uint64) string) float64 {
			c := 0
			for _, h := range hs {
				if a(h) != b(h) {
					c++
				}
			}
			return float64(c) / float64(len(hs))
		}
		ringBefore, ringJoin, ringLeave := ring.New(nm, 0), ring.New(joined, 0), ring.New(without0, 0)
		hrwBefore, hrwJoin, hrwLeave := newRendezvous(nm), newRendezvous(joined), newRendezvous(without0)
		jb := jumpNames(nm)
		fmt.Fprintf(&b, "| %d | %.4f | %.4f | %.4f | %.4f | %.4f | %.4f | %.4f | %.4f | %.4f | %.4f |\n", n,
			1/float64(n+1),
			moved(ringBefore.OwnerName, ringJoin.OwnerName),
			moved(jb, jumpNames(joined)),
			moved(hrwBefore.ownerName, hrwJoin.ownerName),
			1/float64(n),
			moved(ringBefore.OwnerName, ringLeave.OwnerName),
			moved(hrwBefore.ownerName, hrwLeave.ownerName),
			moved(jb, jumpNames(nm[:n-1])),
			moved(jb, jumpNames(without0)),
			moved(jb, jumpNames(swapped)))
	}
	fmt.Fprintf(&b, "\n")
	fmt.Fprintf(os.Stderr, "ring: movement done (%.1f s)\n", time.Since(start).Seconds())

	// (c) lookup cost
	fmt.Fprintf(&b, "### (c) Lookup: ns/op and allocs/op (`testing.Benchmark` in the scenario, median of %d runs; the key's xxhash included)\n\n| N | ring | ring, bounded loads | jump | rendezvous |\n|---:|---|---|---|---|\n", *runs)
	bkeys := make([][]byte, 1024)
	for i := range bkeys {
		bkeys[i] = []byte(fmt.Sprintf("/vod/title-%03d/750k/seg%05d.ts", i%50, i))
	}
	for _, n := range []int{6, 100} {
		nm := ringNames(n)
		r := ring.New(nm, 0)
		hrw := newRendezvous(nm)
		loads := make([]float64, n)
		for i := range loads {
			loads[i] = 10
		}
		var sink int
		benches := []func(b *testing.B){
			func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					sink += r.Owner(ring.Hash(bkeys[i&1023]))
				}
			},
			func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					sink += r.BoundedOwner(ring.Hash(bkeys[i&1023]), ring.DefaultBalanceFactor, func(j int) float64 { return loads[j] })
				}
			},
			func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					sink += jumpHash(xxhash.Sum64(bkeys[i&1023]), n)
				}
			},
			func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					sink += hrw.owner(xxhash.Sum64(bkeys[i&1023]))
				}
			},
		}
		fmt.Fprintf(&b, "| %d |", n)
		for _, f := range benches {
			if ctx.Err() != nil {
				return "", ctx.Err()
			}
			var ns []float64
			var allocs int64
			for range *runs {
				res := testing.Benchmark(func(b *testing.B) {
					b.ReportAllocs()
					f(b)
				})
				ns = append(ns, float64(res.T.Nanoseconds())/float64(res.N))
				allocs = max(allocs, res.AllocsPerOp())
			}
			sort.Float64s(ns)
			fmt.Fprintf(&b, " %.1f ns, %d allocs |", ns[len(ns)/2], allocs)
		}
		b.WriteByte('\n')
		_ = sink
	}
	fmt.Fprintf(&b, "\nBounded-loads lookups are measured with equal loads (every key stays with its owner; the cost is summing the N loads); allocs are the most seen in any run.\n\n")
	fmt.Fprintf(os.Stderr, "ring: lookups done (%.1f s)\n", time.Since(start).Seconds())

	// (d) Zipf request stream
	fmt.Fprintf(&b, "### (d) A Zipf(%g) request stream: requests per node, max/mean\n\n%d requests over %d keys; the bounded ring sends each request to `BoundedOwner` with each node's load the requests it has taken so far (+1), as `TestBoundedLoads` does.\n\n| N | ring | ring, bounded loads (%.2f) | jump | rendezvous | hottest key's share x N |\n|---:|---:|---:|---:|---:|---:|\n",
		*zipfS, *requests, *zipfKeys, ring.DefaultBalanceFactor)
	zk := ringKeys(*zipfKeys)
	zh := make([]uint64, len(zk))
	for i, k := range zk {
		zh[i] = ring.HashString(k)
	}
	stream := zipfStream(*requests, len(zh), *zipfS, 1)
	hot := 0
	for _, k := range stream {
		if k == 0 {
			hot++
		}
	}
	for _, n := range mns {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		ps := placers(n)
		r := ps[0].r
		plain := make([]float64, n)
		bounded := make([]float64, n)
		jump := make([]float64, n)
		hrw := make([]float64, n)
		load := func(j int) float64 { return bounded[j] + 1 }
		for _, k := range stream {
			h := zh[k]
			plain[r.Owner(h)]++
			bounded[r.BoundedOwner(h, ring.DefaultBalanceFactor, load)]++
			jump[ps[1].owner(h)]++
			hrw[ps[2].owner(h)]++
		}
		mean := float64(len(stream)) / float64(n)
		mm := func(c []float64) float64 { return slices.Max(c) / mean }
		fmt.Fprintf(&b, "| %d | %.3f | %.3f | %.3f | %.3f | %.2f |\n", n, mm(plain), mm(bounded), mm(jump), mm(hrw), float64(hot)/float64(len(stream))*float64(n))
		zipfSum = fmt.Sprintf("under Zipf(%g) requests at N=%d, busiest node / mean: ring %.2f, bounded ring %.2f, jump %.2f, rendezvous %.2f", *zipfS, n, mm(plain), mm(bounded), mm(jump), mm(hrw))
	}
	fmt.Fprintf(&b, "\nNo placement that keeps a key on one node can do better than the hottest key's share times N (the last column) once that exceeds 1: plain ring, jump and rendezvous hashing all pin the hot key to one node; bounded loads spill its requests to the next nodes on the ring, so the cap holds at any N.\n")
	fmt.Fprintf(os.Stderr, "ring: %.1f s\n", time.Since(start).Seconds())
	balSum := ""
	for _, r := range bal {
		if r.n == 100 || balSum == "" {
			balSum = fmt.Sprintf("keys per node max/mean at N=%.0f: ring %.3f, jump %.3f, rendezvous %.3f", r.n, r.ring, r.jump, r.hrw)
		}
	}
	fmt.Fprintf(&b, "\nSummary: %s; %s.\n", balSum, zipfSum)
	return b.String(), nil
}

func ringNames(n int) []string {
	s := make([]string, n)
	for i := range s {
		s[i] = "edge-" + strconv.Itoa(i)
	}
	return s
}

func ringKeys(n int) []string {
	k := make([]string, n)
	for i := range k {
		k[i] = fmt.Sprintf("/vod/title-%03d/%dk/seg%05d.ts", i%50, 300*(i%6+1), i)
	}
	return k
}

// placer gives a key hash's node as an index into ringNames(n).
type placer struct {
	owner func(h uint64) int
	r     *ring.Ring
}

// placers returns ring, jump and rendezvous placers over ringNames(n), all indexing nodes the
// same way (the ring sorts its nodes by name, so its indexes are mapped back).
func placers(n int) []placer {
	nm := ringNames(n)
	r := ring.New(nm, 0)
	idx := map[string]int{}
	for i, s := range nm {
		idx[s] = i
	}
	toName := make([]int, r.Len())
	for i, s := range r.Nodes() {
		toName[i] = idx[s]
	}
	hrw := newRendezvous(nm)
	return []placer{
		{owner: func(h uint64) int { return toName[r.Owner(h)] }, r: r},
		{owner: func(h uint64) int { return jumpHash(h, n) }},
		{owner: hrw.owner},
	}
}

// jumpHash is Lamping and Veach's jump consistent hash ("A Fast, Minimal Memory, Consistent Hash
// Algorithm", 2014): the bucket in [0, buckets) of a 64-bit key.
func jumpHash(key uint64, buckets int) int {
	var b, j int64 = -1, 0
	for j < int64(buckets) {
		b = j
		key = key*2862933555777941757 + 1
		j = int64(float64(b+1) * (float64(int64(1)<<31) / float64((key>>33)+1)))
	}
	return int(b)
}

// jumpNames places a key hash on names[jumpHash(h, len(names))].
func jumpNames(names []string) func(uint64) string {
	return func(h uint64) string { return names[jumpHash(h, len(names))] }
}

// rendezvous is highest-random-weight hashing over named nodes.
type rendezvous struct {
	names []string
	seeds []uint64
}

func newRendezvous(names []string) *rendezvous {
	r := &rendezvous{names: names, seeds: make([]uint64, len(names))}
	for i, n := range names {
		r.seeds[i] = xxhash.Sum64String(n)
	}
	return r
}

// owner returns the index of the node with the highest weight for key hash h.
func (r *rendezvous) owner(h uint64) int {
	best, bestW := -1, uint64(0)
	for i, s := range r.seeds {
		if w := xorshiftMult64(h ^ s); best < 0 || w > bestW {
			best, bestW = i, w
		}
	}
	return best
}

func (r *rendezvous) ownerName(h uint64) string { return r.names[r.owner(h)] }

// xorshiftMult64 is Marsaglia's xorshift with a final multiply (Vigna's xorshift64*): the mix
// dgryski/go-rendezvous applies to key-hash XOR node-hash.
func xorshiftMult64(x uint64) uint64 {
	x ^= x >> 12
	x ^= x << 25
	x ^= x >> 27
	return x * 2685821657736338717
}

// zipfStream draws n ranks in [0, keys) with P(k) proportional to 1/(k+1)^s.
func zipfStream(n, keys int, s float64, seed uint64) []int {
	cdf := make([]float64, keys)
	var sum float64
	for k := range cdf {
		sum += 1 / math.Pow(float64(k+1), s)
		cdf[k] = sum
	}
	rng := rand.New(rand.NewPCG(seed, 0x21f))
	out := make([]int, n)
	for i := range out {
		k, _ := slices.BinarySearch(cdf, rng.Float64()*sum)
		out[i] = min(k, keys-1)
	}
	return out
}

// balRow is one N's keys per node max/mean for each placement.
type balRow struct{ n, ring, jump, hrw float64 }

// plotBalance draws keys per node max/mean against N for the three placements.
func plotBalance(path string, keys int, rows []balRow) error {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("Keys per node, max/mean (%d keys)", keys)
	p.X.Label.Text = "nodes N (log scale)"
	p.Y.Label.Text = "max / mean keys per node"
	p.X.Scale = plot.LogScale{}
	var ringPts, jump, hrw plotter.XYs
	var ticks []plot.Tick
	for _, r := range rows {
		ringPts = append(ringPts, plotter.XY{X: r.n, Y: r.ring})
		jump = append(jump, plotter.XY{X: r.n, Y: r.jump})
		hrw = append(hrw, plotter.XY{X: r.n, Y: r.hrw})
		ticks = append(ticks, plot.Tick{Value: r.n, Label: strconv.Itoa(int(r.n))})
	}
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	p.Y.Min = 1
	p.Legend.Top, p.Legend.Left = true, true
	p.Add(plotter.NewGrid())
	for _, s := range []struct {
		name  string
		pts   plotter.XYs
		col   color.Color
		shape draw.GlyphDrawer
	}{
		{fmt.Sprintf("ring (internal/ring, %d vnodes)", ring.DefaultReplicas), ringPts, color.RGBA{R: 214, G: 39, B: 40, A: 255}, draw.CircleGlyph{}},
		{"jump hash", jump, color.RGBA{R: 31, G: 119, B: 180, A: 255}, draw.SquareGlyph{}},
		{"rendezvous (HRW)", hrw, color.RGBA{R: 44, G: 160, B: 44, A: 255}, draw.TriangleGlyph{}},
	} {
		l, sc, err := plotter.NewLinePoints(s.pts)
		if err != nil {
			return err
		}
		l.Color, sc.Color, sc.Shape = s.col, s.col, s.shape
		l.Width = vg.Points(1.5)
		p.Add(l, sc)
		p.Legend.Add(s.name, l, sc)
	}
	return p.Save(6*vg.Inch, 4*vg.Inch, path)
}

// loadAvg is the 1-minute load average from /proc/loadavg, or "?".
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) > 0 {
		return f[0]
	}
	return "?"
}
