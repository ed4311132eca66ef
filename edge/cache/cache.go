// Package cache is the edge's byte-bounded in-memory object cache, with an admission-aware eviction policy.
package cache

import (
	"errors"
	"fmt"
	"hash/maphash"
	"strings"
	"sync"
	"sync/atomic"
)

// Sized is what the cache holds: anything that knows its size in bytes.
type Sized interface{ Size() int64 }

// EntryOverhead is the fixed number of bytes charged for each entry on top of its Size(): the
// entry struct, its map slot, a typical key and the S3-FIFO ghost record it may leave behind.
// Without it a flood of tiny objects (playlists) would use far more memory than MaxBytes says.
const EntryOverhead = 256

// Policy names accepted by Config.Policy.
const (
	PolicyS3FIFO = "s3fifo" // S3-FIFO (Yang et al., SOSP 2023) with byte weights; the default
	PolicyLRU    = "lru"    // plain LRU, the baseline the default is measured against
)

// shardCount spreads the index over this many locks so that concurrent Gets of different keys
// rarely meet. It is a power of two so that a shard is picked with a mask.
const shardCount = 64

// Config configures a Cache. Zero values mean the defaults in the field comments.
type Config[V Sized] struct {
	// MaxBytes bounds the sum of Size()+EntryOverhead over all entries. Required, > 0.
	// An object whose Size()+EntryOverhead exceeds MaxBytes/8 is never admitted: one object
	// should not flush an eighth of the cache.
	MaxBytes int64
	// Policy is the eviction policy: PolicyS3FIFO ("s3fifo", default) or PolicyLRU ("lru").
	// S3-FIFO is the default because it has the better byte hit ratio on the Zipf and scan
	// workloads in hitratio_test.go, and because a hit takes no lock (LRU's takes one).
	Policy string
	// OnEvict, if set, is called for each entry evicted to make room, after the cache's locks
	// are released (so it may call the cache). It is not called for Delete, DeletePrefix or a
	// Set that replaces a key.
	OnEvict func(key string, v V)
}

// Stats is a snapshot of a cache's counters. Byte counts are charged bytes (Size()+EntryOverhead).
type Stats struct {
	Hits         int64 // Get and GetBytes calls that found the key
	Misses       int64 // Get and GetBytes calls that did not
	Sets         int64 // Set calls that stored their value
	Rejected     int64 // Set calls that were not admitted
	Evictions    int64 // entries evicted to make room
	EvictedBytes int64 // charged bytes of those entries
	Objects      int64 // entries now held
	Bytes        int64 // charged bytes now held; never above MaxBytes
}

// Cache is a byte-bounded in-memory cache from string keys to values of type V.
// It is safe for concurrent use. Values are shared, not copied: callers must not modify a
// value after Set or after Get returned it.
type Cache[V Sized] struct {
	seed     maphash.Seed
	shards   [shardCount]shard[V]
	lru      bool // hits must move the entry under mu
	maxBytes int64
	admitMax int64
	onEvict  func(string, V)

	// mu guards the policy and every change to the index: writers hold mu and then the shard
	// lock, readers only the shard lock. A hit under S3-FIFO takes no lock beyond its shard's.
	mu           sync.Mutex
	pol          policy[V]
	bytes        int64
	objects      int64
	sets         int64
	rejected     int64
	evictions    int64
	evictedBytes int64
}

// shard is one slice of the index. Hit and miss counters live here, next to the lock the Get
// already wrote, rather than in one contended counter.
type shard[V Sized] struct {
	mu     sync.RWMutex
	m      map[string]*entry[V]
	hits   atomic.Int64
	misses atomic.Int64
	_      [128 - 48]byte // one shard per pair of cache lines: no false sharing between shards
}

// entry is one cached object. key, val, charge and hash never change once the entry is in the
// index, so a Get may read them after releasing the shard lock; a Set of an existing key
// installs a new entry instead of changing this one.
type entry[V Sized] struct {
	key    string
	val    V
	charge int64
	hash   uint64
	freq   atomic.Uint32 // S3-FIFO hits, saturating at maxFreq; written by Get without mu
	where  uint8         // which policy queue holds the entry (0: none); guarded by mu
	prev   *entry[V]     // towards the head (newer) of that queue; guarded by mu
	next   *entry[V]     // towards the tail (older); guarded by mu
}

// policy decides which entry leaves. All methods run under Cache.mu.
type policy[V Sized] interface {
	// add links a new entry. like is what remove returned for the entry it replaces, so a
	// replaced object keeps its standing; the zero slot means a new key.
	add(e *entry[V], like slot)
	// remove unlinks e and tells where it was.
	remove(e *entry[V]) slot
	// evict unlinks and returns the victim. It is only called when the cache holds entries.
	evict() *entry[V]
	// hit records an access (LRU only: S3-FIFO counts hits in entry.freq without mu).
	hit(e *entry[V])
}

// slot is an entry's standing in its policy: its queue and frequency.
type slot struct {
	where uint8
	freq  uint32
}

// New returns an empty cache.
func New[V Sized](cfg Config[V]) (*Cache[V], error) {
	if cfg.MaxBytes <= 0 {
		return nil, errors.New("cache: MaxBytes must be > 0")
	}
	c := &Cache[V]{
		seed:     maphash.MakeSeed(),
		maxBytes: cfg.MaxBytes,
		admitMax: cfg.MaxBytes / 8,
		onEvict:  cfg.OnEvict,
	}
	switch cfg.Policy {
	case "", PolicyS3FIFO:
		c.pol = newS3FIFO[V](cfg.MaxBytes)
	case PolicyLRU:
		c.pol = &lru[V]{}
		c.lru = true
	default:
		return nil, fmt.Errorf("cache: unknown policy %q (want %q or %q)", cfg.Policy, PolicyS3FIFO, PolicyLRU)
	}
	for i := range c.shards {
		c.shards[i].m = make(map[string]*entry[V])
	}
	return c, nil
}

func (c *Cache[V]) shard(h uint64) *shard[V] { return &c.shards[h&(shardCount-1)] }

// Get returns the value under key and counts a hit or a miss. It does not allocate.
func (c *Cache[V]) Get(key string) (V, bool) {
	s := c.shard(maphash.String(c.seed, key))
	s.mu.RLock()
	e := s.m[key]
	s.mu.RUnlock()
	return c.found(s, e)
}

// GetBytes is Get for a key held in a byte slice (a fasthttp path), without allocating.
func (c *Cache[V]) GetBytes(key []byte) (V, bool) {
	s := c.shard(maphash.Bytes(c.seed, key))
	s.mu.RLock()
	e := s.m[string(key)] // the compiler does not copy key for a map index
	s.mu.RUnlock()
	return c.found(s, e)
}

func (c *Cache[V]) found(s *shard[V], e *entry[V]) (V, bool) {
	if e == nil {
		s.misses.Add(1)
		var zero V
		return zero, false
	}
	s.hits.Add(1)
	if c.lru {
		c.mu.Lock()
		if e.where != 0 { // not removed since the shard lock was released
			c.pol.hit(e)
		}
		c.mu.Unlock()
	} else if f := e.freq.Load(); f < maxFreq {
		// A racing Get may lose this increment; the policy only needs "hot or not". Skipping
		// the store once saturated keeps hot entries' cache lines shared between cores.
		e.freq.Store(f + 1)
	}
	return e.val, true
}

// Peek returns the value under key without counting a hit or a miss or telling the policy.
func (c *Cache[V]) Peek(key string) (V, bool) {
	s := c.shard(maphash.String(c.seed, key))
	s.mu.RLock()
	e := s.m[key]
	s.mu.RUnlock()
	if e == nil {
		var zero V
		return zero, false
	}
	return e.val, true
}

// Set stores v under key, replacing any value there, and evicts what it must to stay within
// MaxBytes. It returns false if v was not admitted (Size()+EntryOverhead above MaxBytes/8, or a
// negative size); a rejected Set still removes the old value under key, so the cache never
// serves a value older than the last Set.
func (c *Cache[V]) Set(key string, v V) bool {
	size := v.Size()
	charge := size + EntryOverhead
	h := maphash.String(c.seed, key)
	s := c.shard(h)
	admit := size >= 0 && charge <= c.admitMax
	var e *entry[V]
	if admit {
		e = &entry[V]{key: key, val: v, charge: charge, hash: h} // allocate outside the lock
	}

	var victims []*entry[V]
	c.mu.Lock()
	var like slot
	if old := s.m[key]; old != nil { // reading the index needs only mu: all writers hold it
		like = c.unlink(s, old)
	}
	if !admit {
		c.rejected++
		c.mu.Unlock()
		return false
	}
	for c.bytes+charge > c.maxBytes {
		victim := c.pol.evict()
		c.drop(c.shard(victim.hash), victim)
		c.evictions++
		c.evictedBytes += victim.charge
		if c.onEvict != nil {
			victims = append(victims, victim)
		}
	}
	c.pol.add(e, like)
	s.mu.Lock()
	s.m[key] = e
	s.mu.Unlock()
	c.bytes += charge
	c.objects++
	c.sets++
	c.mu.Unlock()

	for _, victim := range victims {
		c.onEvict(victim.key, victim.val)
	}
	return true
}

// unlink removes e from the policy and the index. The caller holds mu.
func (c *Cache[V]) unlink(s *shard[V], e *entry[V]) slot {
	like := c.pol.remove(e)
	c.drop(s, e)
	return like
}

// drop removes e, already out of the policy, from the index and the totals. The caller holds mu.
func (c *Cache[V]) drop(s *shard[V], e *entry[V]) {
	s.mu.Lock()
	delete(s.m, e.key)
	s.mu.Unlock()
	c.bytes -= e.charge
	c.objects--
}

// Delete removes key and reports whether it was there.
func (c *Cache[V]) Delete(key string) bool {
	s := c.shard(maphash.String(c.seed, key))
	c.mu.Lock()
	defer c.mu.Unlock()
	e := s.m[key]
	if e == nil {
		return false
	}
	c.unlink(s, e)
	return true
}

// DeletePrefix removes every key that starts with prefix (a purge of a folder of objects) and
// returns how many it removed. It scans the whole cache while holding off Sets.
func (c *Cache[V]) DeletePrefix(prefix string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		for key, e := range s.m {
			if strings.HasPrefix(key, prefix) {
				delete(s.m, key)
				c.pol.remove(e)
				c.bytes -= e.charge
				c.objects--
				n++
			}
		}
		s.mu.Unlock()
	}
	return n
}

// Range calls f for each entry until f returns false, without counting hits or telling the
// policy. It sees a shard at a time, not a snapshot of the whole cache, and holds no lock while
// f runs, so f may call the cache.
func (c *Cache[V]) Range(f func(key string, v V) bool) {
	var batch []*entry[V]
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		batch = batch[:0]
		for _, e := range s.m {
			batch = append(batch, e)
		}
		s.mu.RUnlock()
		for _, e := range batch {
			if !f(e.key, e.val) {
				return
			}
		}
	}
}

// Stats returns the cache's counters.
func (c *Cache[V]) Stats() Stats {
	var st Stats
	for i := range c.shards {
		st.Hits += c.shards[i].hits.Load()
		st.Misses += c.shards[i].misses.Load()
	}
	c.mu.Lock()
	st.Sets = c.sets
	st.Rejected = c.rejected
	st.Evictions = c.evictions
	st.EvictedBytes = c.evictedBytes
	st.Objects = c.objects
	st.Bytes = c.bytes
	c.mu.Unlock()
	return st
}
