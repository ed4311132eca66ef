package cache

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
)

// Request is one request of a trace: an object and its size in bytes.
type Request struct {
	Key  string
	Size int64
}

// Simulate replays trace through a cache of capacityBytes with the given policy, storing each
// missed object as an edge would after filling it, and returns the fraction of requests and of
// requested bytes that were hits. It panics on an unknown policy: it is for tests and the bench
// tool, whose policy names are constants.
func Simulate(policy string, capacityBytes int64, trace []Request) (objectHitRatio, byteHitRatio float64) {
	c, err := New(Config[simObject]{MaxBytes: capacityBytes, Policy: policy})
	if err != nil {
		panic(err)
	}
	var hits, hitBytes, allBytes int64
	for _, r := range trace {
		allBytes += r.Size
		if _, ok := c.Get(r.Key); ok {
			hits++
			hitBytes += r.Size
			continue
		}
		c.Set(r.Key, simObject(r.Size))
	}
	if len(trace) == 0 || allBytes == 0 {
		return 0, 0
	}
	return float64(hits) / float64(len(trace)), float64(hitBytes) / float64(allBytes)
}

// simObject stands for an object of the trace: only its size matters.
type simObject int64

func (o simObject) Size() int64 { return int64(o) }

// ZipfTrace returns n requests over objects objects whose popularity follows Zipf's law with
// exponent s (object i, counted from 0, has weight 1/(i+1)^s; any s >= 0, unlike math/rand's
// Zipf). Object i's size is size(i), or LadderSize(i) if size is nil. The same arguments give
// the same trace.
func ZipfTrace(n, objects int, s float64, seed uint64, size func(i int) int64) []Request {
	keys, sizes := catalog("obj", 0, objects, size)
	z := newZipf(objects, s)
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	trace := make([]Request, n)
	for j := range trace {
		i := z.draw(rng)
		trace[j] = Request{Key: keys[i], Size: sizes[i]}
	}
	return trace
}

// ScanTrace is ZipfTrace with a one-pass scan mixed in: each request is, with probability
// scanFraction, the next object of a scan over objects never requested before or again (a
// crawler, a prefetcher, a burst of new live segments). Scan object j's size is size(objects+j).
// A policy without admission lets the scan flush the working set; S3-FIFO's small FIFO should
// keep it out.
func ScanTrace(n, objects int, s, scanFraction float64, seed uint64, size func(i int) int64) []Request {
	keys, sizes := catalog("obj", 0, objects, size)
	z := newZipf(objects, s)
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	trace := make([]Request, n)
	scanned := 0
	for j := range trace {
		if rng.Float64() < scanFraction {
			i := objects + scanned
			scanned++
			sz := LadderSize(i)
			if size != nil {
				sz = size(i)
			}
			trace[j] = Request{Key: fmt.Sprintf("scan/%d", i), Size: sz}
			continue
		}
		i := z.draw(rng)
		trace[j] = Request{Key: keys[i], Size: sizes[i]}
	}
	return trace
}

// CatalogBytes is the total size of a catalog of objects objects sized by size (LadderSize if
// nil): what cache sizes in the hit-ratio tables are a percentage of.
func CatalogBytes(objects int, size func(i int) int64) int64 {
	_, sizes := catalog("", 0, objects, size)
	var total int64
	for _, sz := range sizes {
		total += sz
	}
	return total
}

func catalog(prefix string, from, objects int, size func(i int) int64) ([]string, []int64) {
	if size == nil {
		size = LadderSize
	}
	keys := make([]string, objects)
	sizes := make([]int64, objects)
	for i := range objects {
		if prefix != "" {
			keys[i] = fmt.Sprintf("%s/%d", prefix, from+i)
		}
		sizes[i] = size(from + i)
	}
	return keys, sizes
}

// ladder is the segment sizes of a 4-second HLS ladder, from an audio-only rendition at 200 kb/s
// to 1080p at 5 Mb/s, with how many of every 16 requested segments each rendition gets (players
// sit mostly in the middle of the ladder).
var ladder = []struct {
	bytes  int64
	weight int
}{
	{100_000, 1},   // audio only
	{200_000, 2},   // 240p
	{400_000, 3},   // 360p
	{700_000, 4},   // 480p
	{1_400_000, 4}, // 720p
	{2_500_000, 2}, // 1080p
}

// LadderSize is a deterministic size for segment i, 100 KB to 2.5 MB: a rung of an HLS ladder
// picked by a hash of i, with ±10% jitter as variable bit rate gives. Sizes do not depend on
// popularity.
func LadderSize(i int) int64 {
	h := mix(uint64(i))
	pick := int(h % 16)
	for _, r := range ladder {
		if pick < r.weight {
			jitter := int64(h>>8%201) - 100 // -100..100, in thousandths
			return r.bytes + r.bytes*jitter/1000
		}
		pick -= r.weight
	}
	panic("unreachable: ladder weights must add up to 16")
}

// mix is SplitMix64's finalizer: a cheap, well-spread hash of an integer.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// zipf draws ranks 0..n-1 with probability proportional to 1/(rank+1)^s by inverting the CDF.
type zipf struct{ cdf []float64 }

func newZipf(n int, s float64) zipf {
	cdf := make([]float64, n)
	sum := 0.0
	for i := range cdf {
		sum += 1 / math.Pow(float64(i+1), s)
		cdf[i] = sum
	}
	for i := range cdf {
		cdf[i] /= sum
	}
	return zipf{cdf: cdf}
}

func (z zipf) draw(rng *rand.Rand) int {
	u := rng.Float64()
	i := sort.SearchFloat64s(z.cdf, u)
	return min(i, len(z.cdf)-1)
}
