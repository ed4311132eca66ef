package cache

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"unsafe"
)

// blob is a test value: an object of n bytes that knows which Set stored it.
type blob struct {
	key string
	id  int
	n   int64
}

func (b *blob) Size() int64 { return b.n }

var policies = []string{PolicyS3FIFO, PolicyLRU}

func newCache(t testing.TB, maxBytes int64, policy string, onEvict func(string, *blob)) *Cache[*blob] {
	t.Helper()
	c, err := New(Config[*blob]{MaxBytes: maxBytes, Policy: policy, OnEvict: onEvict})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// checkTotals compares the counters with what Range sees: only valid with no writer running.
func checkTotals[V Sized](t *testing.T, c *Cache[V]) Stats {
	t.Helper()
	st := c.Stats()
	var objects, bytes int64
	c.Range(func(_ string, v V) bool {
		objects++
		bytes += v.Size() + EntryOverhead
		return true
	})
	if st.Objects != objects || st.Bytes != bytes {
		t.Errorf("stats say %d objects, %d bytes; Range sees %d, %d", st.Objects, st.Bytes, objects, bytes)
	}
	if st.Bytes > c.maxBytes {
		t.Errorf("Bytes = %d, over MaxBytes %d", st.Bytes, c.maxBytes)
	}
	return st
}

func TestNew(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config[*blob]
		wantErr bool
	}{
		{"default policy", Config[*blob]{MaxBytes: 1 << 20}, false},
		{"s3fifo", Config[*blob]{MaxBytes: 1 << 20, Policy: "s3fifo"}, false},
		{"lru", Config[*blob]{MaxBytes: 1 << 20, Policy: "lru"}, false},
		{"unknown policy", Config[*blob]{MaxBytes: 1 << 20, Policy: "arc"}, true},
		{"no MaxBytes", Config[*blob]{}, true},
		{"negative MaxBytes", Config[*blob]{MaxBytes: -1}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg)
			if gotErr := err != nil; gotErr != tt.wantErr {
				t.Errorf("New: err = %v, want error %v", err, tt.wantErr)
			}
		})
	}
}

func TestSetGetReplaceDelete(t *testing.T) {
	for _, pol := range policies {
		t.Run(pol, func(t *testing.T) {
			c := newCache(t, 1<<20, pol, func(key string, _ *blob) { t.Errorf("OnEvict(%q) without eviction", key) })
			if _, ok := c.Get("a"); ok {
				t.Fatal("Get on an empty cache found a value")
			}
			v1, v2 := &blob{id: 1, n: 1000}, &blob{id: 2, n: 3000}
			if !c.Set("a", v1) {
				t.Fatal("Set(a) = false")
			}
			if got, ok := c.Get("a"); !ok || got != v1 {
				t.Fatalf("Get(a) = %v, %v; want v1", got, ok)
			}
			if got, ok := c.GetBytes([]byte("a")); !ok || got != v1 {
				t.Fatalf("GetBytes(a) = %v, %v; want v1", got, ok)
			}
			if !c.Set("a", v2) { // replace: no eviction, bytes follow the new value
				t.Fatal("Set(a, v2) = false")
			}
			if got, ok := c.Peek("a"); !ok || got != v2 {
				t.Fatalf("Peek(a) = %v, %v; want v2", got, ok)
			}
			st := checkTotals(t, c)
			want := Stats{Hits: 2, Misses: 1, Sets: 2, Objects: 1, Bytes: 3000 + EntryOverhead}
			if st != want {
				t.Errorf("Stats = %+v, want %+v", st, want)
			}
			if !c.Delete("a") {
				t.Error("Delete(a) = false, want true")
			}
			if c.Delete("a") {
				t.Error("second Delete(a) = true, want false")
			}
			if _, ok := c.Peek("a"); ok {
				t.Error("Peek after Delete found a value")
			}
			if st := checkTotals(t, c); st.Objects != 0 || st.Bytes != 0 {
				t.Errorf("after Delete: %d objects, %d bytes; want 0, 0", st.Objects, st.Bytes)
			}
		})
	}
}

// TestOversizeRejected: an object over MaxBytes/8 is refused, caches nothing and evicts nothing.
func TestOversizeRejected(t *testing.T) {
	const maxBytes = 8 << 20
	for _, pol := range policies {
		t.Run(pol, func(t *testing.T) {
			c := newCache(t, maxBytes, pol, nil)
			small := &blob{n: 100_000}
			c.Set("small", small)
			limit := int64(maxBytes/8 - EntryOverhead)
			if !c.Set("fits", &blob{n: limit}) {
				t.Errorf("Set of %d bytes (exactly the limit) = false, want true", limit)
			}
			for _, n := range []int64{limit + 1, maxBytes, -1} {
				if c.Set("big", &blob{n: n}) {
					t.Errorf("Set of %d bytes = true, want false", n)
				}
				if _, ok := c.Peek("big"); ok {
					t.Errorf("after a rejected Set of %d bytes, the cache holds it", n)
				}
			}
			// A rejected Set removes the stale value under the same key.
			c.Set("small", &blob{n: maxBytes})
			if _, ok := c.Peek("small"); ok {
				t.Error("a rejected Set left the old value in place")
			}
			st := checkTotals(t, c)
			if st.Rejected != 4 || st.Evictions != 0 || st.Objects != 1 || st.Bytes != limit+EntryOverhead {
				t.Errorf("Stats = %+v, want 4 rejected, no eviction, only %q", st, "fits")
			}
		})
	}
}

func TestOnEvict(t *testing.T) {
	for _, pol := range policies {
		t.Run(pol, func(t *testing.T) {
			const obj = 100_000
			var evicted []string
			var c *Cache[*blob]
			c = newCache(t, 10*(obj+EntryOverhead), pol, func(key string, v *blob) {
				if v.key != key {
					t.Errorf("OnEvict(%q) with the value of %q", key, v.key)
				}
				evicted = append(evicted, key)
				c.Peek(key) // the callback runs outside the locks: calling the cache must not deadlock
			})
			for i := range 15 {
				key := fmt.Sprintf("k%02d", i)
				if !c.Set(key, &blob{key: key, n: obj}) {
					t.Fatalf("Set(%s) = false", key)
				}
			}
			c.Delete("k14")             // not an eviction
			c.Set("k13", &blob{n: obj}) // nor is a replace
			// Nothing was hit, so both policies evict in insertion order.
			want := []string{"k00", "k01", "k02", "k03", "k04"}
			if strings.Join(evicted, ",") != strings.Join(want, ",") {
				t.Errorf("evicted %v, want %v", evicted, want)
			}
			st := checkTotals(t, c)
			if st.Evictions != 5 || st.EvictedBytes != 5*(obj+EntryOverhead) {
				t.Errorf("Evictions = %d, EvictedBytes = %d; want 5, %d", st.Evictions, st.EvictedBytes, 5*(obj+EntryOverhead))
			}
		})
	}
}

// TestS3FIFOScanResistance: objects requested once pass through the small FIFO without pushing
// out a hot working set, which LRU loses.
func TestS3FIFOScanResistance(t *testing.T) {
	const obj = 10_000
	hot := func(c *Cache[*blob]) int {
		n := 0
		for i := range 50 {
			if _, ok := c.Peek(fmt.Sprintf("hot%d", i)); ok {
				n++
			}
		}
		return n
	}
	for _, tt := range []struct {
		policy  string
		wantHot int
	}{{PolicyS3FIFO, 50}, {PolicyLRU, 0}} {
		c := newCache(t, 100*(obj+EntryOverhead), tt.policy, nil)
		for round := range 2 {
			for i := range 50 {
				key := fmt.Sprintf("hot%d", i)
				if _, ok := c.Get(key); !ok || round == 0 {
					c.Set(key, &blob{n: obj})
				}
			}
		}
		for i := range 1000 {
			c.Set(fmt.Sprintf("scan%d", i), &blob{n: obj})
		}
		if got := hot(c); got != tt.wantHot {
			t.Errorf("%s: %d of 50 hot objects survived a scan of 1000, want %d", tt.policy, got, tt.wantHot)
		}
	}
}

func TestDeletePrefixAndRange(t *testing.T) {
	for _, pol := range policies {
		t.Run(pol, func(t *testing.T) {
			c := newCache(t, 1<<20, pol, nil)
			for _, key := range []string{"/vod/a/1.ts", "/vod/a/2.ts", "/vod/ab/1.ts", "/vod/b/1.ts", "/live/a/1.ts"} {
				c.Set(key, &blob{key: key, n: 10})
			}
			if n := c.DeletePrefix("/vod/a/"); n != 2 {
				t.Errorf("DeletePrefix(/vod/a/) = %d, want 2", n)
			}
			if n := c.DeletePrefix("/nothing/"); n != 0 {
				t.Errorf("DeletePrefix(/nothing/) = %d, want 0", n)
			}
			var keys []string
			c.Range(func(key string, v *blob) bool {
				if v.key != key {
					t.Errorf("Range gave %q the value of %q", key, v.key)
				}
				keys = append(keys, key)
				return true
			})
			if got := strings.Join(slices.Sorted(slices.Values(keys)), " "); got != "/live/a/1.ts /vod/ab/1.ts /vod/b/1.ts" {
				t.Errorf("after DeletePrefix, Range sees %s", got)
			}
			calls := 0
			c.Range(func(string, *blob) bool { calls++; return false })
			if calls != 1 {
				t.Errorf("Range went on after f returned false: %d calls", calls)
			}
			checkTotals(t, c)
		})
	}
}

// TestGetDoesNotAllocate is the contract the edge's hot path relies on.
func TestGetDoesNotAllocate(t *testing.T) {
	for _, pol := range policies {
		c := newCache(t, 1<<20, pol, nil)
		key := "/vod/some-title/1080p/segment-000042.ts" // longer than the compiler's 32-byte stack buffer
		c.Set(key, &blob{n: 1000})
		bkey, bmiss := []byte(key), []byte(key+"x")
		for name, f := range map[string]func(){
			"Get hit":       func() { c.Get(key) },
			"Get miss":      func() { c.Get("/vod/some-title/1080p/segment-000043.ts") },
			"GetBytes hit":  func() { c.GetBytes(bkey) },
			"GetBytes miss": func() { c.GetBytes(bmiss) },
			"Peek":          func() { c.Peek(key) },
		} {
			if n := testing.AllocsPerRun(100, f); n != 0 {
				t.Errorf("%s: %s allocates %v times, want 0", pol, name, n)
			}
		}
	}
}

func TestShardSize(t *testing.T) {
	// The padding in shard assumes its fields take 48 bytes; this catches a Go release where
	// sync.RWMutex grows, which would put two shards' locks on one cache line.
	if n := unsafe.Sizeof(shard[*blob]{}); n%64 != 0 {
		t.Errorf("shard is %d bytes, want a multiple of 64", n)
	}
}

// TestConcurrent runs every operation from many goroutines (meant for -race) and checks that
// Bytes never exceeds MaxBytes and that the counters add up at the end.
func TestConcurrent(t *testing.T) {
	const (
		goroutines = 8
		keys       = 300
		maxBytes   = 2 << 20
	)
	ops := 4000
	if testing.Short() {
		ops = 1000
	}
	for _, pol := range policies {
		t.Run(pol, func(t *testing.T) {
			var evictions atomic.Int64
			c := newCache(t, maxBytes, pol, func(key string, v *blob) {
				evictions.Add(1)
				if v.key != key {
					t.Errorf("OnEvict(%q) with the value of %q", key, v.key)
				}
			})
			var gets, sets atomic.Int64
			stop := make(chan struct{})
			var watcher sync.WaitGroup
			watcher.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					if st := c.Stats(); st.Bytes > maxBytes || st.Bytes < 0 || st.Objects < 0 {
						t.Errorf("Stats mid-run: %+v (MaxBytes %d)", st, maxBytes)
						return
					}
				}
			})
			var wg sync.WaitGroup
			for g := range goroutines {
				wg.Go(func() {
					rng := rand.New(rand.NewPCG(uint64(g), 7))
					for i := range ops {
						key := fmt.Sprintf("/vod/t%d/seg%d.ts", rng.IntN(10), rng.IntN(keys/10))
						switch r := rng.IntN(100); {
						case r < 60:
							gets.Add(1)
							var v *blob
							var ok bool
							if r%2 == 0 {
								v, ok = c.Get(key)
							} else {
								v, ok = c.GetBytes([]byte(key))
							}
							if ok && v.key != key {
								t.Errorf("Get(%q) returned the value of %q", key, v.key)
							}
						case r < 90:
							sets.Add(1)
							c.Set(key, &blob{key: key, id: i, n: 1000 + rng.Int64N(maxBytes/7)})
						case r < 98:
							c.Delete(key)
						case r < 99:
							c.DeletePrefix(fmt.Sprintf("/vod/t%d/", rng.IntN(10)))
						default:
							c.Range(func(k string, v *blob) bool {
								if v.key != k {
									t.Errorf("Range gave %q the value of %q", k, v.key)
								}
								return rng.IntN(50) != 0
							})
						}
					}
				})
			}
			wg.Wait()
			close(stop)
			watcher.Wait()
			st := checkTotals(t, c)
			if st.Hits+st.Misses != gets.Load() {
				t.Errorf("Hits+Misses = %d, want %d Gets", st.Hits+st.Misses, gets.Load())
			}
			if st.Sets+st.Rejected != sets.Load() {
				t.Errorf("Sets+Rejected = %d, want %d Sets", st.Sets+st.Rejected, sets.Load())
			}
			if st.Evictions != evictions.Load() || st.Evictions == 0 {
				t.Errorf("Evictions = %d, OnEvict called %d times; want equal and > 0", st.Evictions, evictions.Load())
			}
			if st.Hits == 0 || st.Rejected == 0 {
				t.Errorf("the workload missed a path: %+v", st)
			}
		})
	}
}

// benchKeys are segment paths as the edge sees them.
func benchKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("/vod/title-%03d/720p/segment-%05d.ts", i%37, i)
	}
	return keys
}

func BenchmarkGet(b *testing.B) {
	for _, pol := range policies {
		b.Run(pol, func(b *testing.B) {
			c := newCache(b, 1<<30, pol, nil)
			keys := benchKeys(1024)
			for _, k := range keys {
				c.Set(k, &blob{n: 100_000})
			}
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := rand.IntN(len(keys))
				for pb.Next() {
					c.Get(keys[i&1023])
					i++
				}
			})
		})
	}
}

func BenchmarkGetBytes(b *testing.B) {
	c := newCache(b, 1<<30, PolicyS3FIFO, nil)
	keys := benchKeys(1024)
	bkeys := make([][]byte, len(keys))
	for i, k := range keys {
		c.Set(k, &blob{n: 100_000})
		bkeys[i] = []byte(k)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := rand.IntN(len(keys))
		for pb.Next() {
			c.GetBytes(bkeys[i&1023])
			i++
		}
	})
}

// BenchmarkSet stores into a full cache, so every Set evicts.
func BenchmarkSet(b *testing.B) {
	for _, pol := range policies {
		b.Run(pol, func(b *testing.B) {
			c := newCache(b, 64<<20, pol, nil)
			keys := benchKeys(4096)
			v := &blob{n: 100_000}
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := rand.IntN(len(keys))
				for pb.Next() {
					c.Set(keys[i&4095], v)
					i++
				}
			})
		})
	}
}

// BenchmarkSimulate is the cost of one hit-ratio cell: 200,000 requests at 10% of the catalog.
func BenchmarkSimulate(b *testing.B) {
	trace := ZipfTrace(hrRequests, hrObjects, 1.0, 1, nil)
	capacity := CatalogBytes(hrObjects, nil) / 10
	for _, pol := range policies {
		b.Run(pol, func(b *testing.B) {
			for b.Loop() {
				Simulate(pol, capacity, trace)
			}
		})
	}
}
