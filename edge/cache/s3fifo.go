package cache

// S3-FIFO (Yang et al., "FIFO queues are all you need for cache eviction", SOSP 2023), weighted
// by bytes. New objects enter a small FIFO holding about 10% of the bytes; most objects in a
// video catalog's long tail are requested once and leave from there without disturbing the main
// FIFO. An object hit while in the small FIFO moves to the main FIFO when it reaches the tail;
// the main FIFO gives objects hit since their last pass another lap (CLOCK-like, 2-bit counter).
// Keys evicted from the small FIFO are remembered in a ghost FIFO; a ghost key that comes back
// was evicted too early and goes straight to the main FIFO. A hit only bumps a counter, so Get
// needs no lock on the policy.

const (
	maxFreq = 3 // the 2-bit counter of the paper
	// smallPercent of MaxBytes is the small FIFO's share, as in the paper. 5% and 20% moved
	// byte hit ratios by under a point on the workloads of hitratio_test.go.
	smallPercent = 10
)

type s3fifo[V Sized] struct {
	small, main queue[V]
	smallTarget int64
	ghost       ghost
}

func newS3FIFO[V Sized](maxBytes int64) *s3fifo[V] {
	p := &s3fifo[V]{smallTarget: maxBytes * smallPercent / 100}
	// The ghost remembers as many bytes as the main FIFO holds, as in the paper (which counts
	// objects), and never more keys than the cache holds entries, so its memory stays within
	// what EntryOverhead charges.
	p.ghost.init(maxBytes - p.smallTarget)
	return p
}

func (p *s3fifo[V]) add(e *entry[V], like slot) {
	switch {
	case like.where != inNone: // a replaced object keeps its queue and its hits
		e.freq.Store(like.freq)
		if like.where == inMain {
			p.main.pushFront(e, inMain)
		} else {
			p.small.pushFront(e, inSmall)
		}
	case p.ghost.take(e.hash):
		p.main.pushFront(e, inMain)
	default:
		p.small.pushFront(e, inSmall)
	}
}

func (p *s3fifo[V]) remove(e *entry[V]) slot {
	s := slot{where: e.where, freq: e.freq.Load()}
	if e.where == inSmall {
		p.small.remove(e)
	} else {
		p.main.remove(e)
	}
	return s
}

func (p *s3fifo[V]) hit(*entry[V]) {} // Get counts hits in entry.freq

func (p *s3fifo[V]) evict() *entry[V] {
	for {
		if p.main.len == 0 || (p.small.len > 0 && p.small.bytes >= p.smallTarget) {
			if e := p.evictSmall(); e != nil {
				return e
			}
			continue // the small FIFO was all hot and moved to main
		}
		return p.evictMain()
	}
}

// evictSmall moves hot entries from the tail of the small FIFO to the main FIFO until it finds a
// cold one to evict, or until the main FIFO is over its share and must give one up instead. It
// returns nil if the small FIFO emptied without an eviction.
func (p *s3fifo[V]) evictSmall() *entry[V] {
	for p.small.tail != nil {
		e := p.small.tail
		p.small.remove(e)
		if e.freq.Load() > 0 {
			// Hits in probation do not buy laps in main: the object starts there afresh.
			e.freq.Store(0)
			p.main.pushFront(e, inMain)
			if p.main.bytes > p.ghost.maxBytes {
				return p.evictMain()
			}
			continue
		}
		p.ghost.add(e.hash, e.charge, p.small.len+p.main.len)
		return e
	}
	return nil
}

// evictMain gives each entry at the tail of the main FIFO one more lap per hit (at most
// maxFreq) and evicts the first one without hits. It terminates: every lap lowers a counter.
func (p *s3fifo[V]) evictMain() *entry[V] {
	for {
		e := p.main.tail
		p.main.remove(e)
		if f := e.freq.Load(); f > 0 {
			e.freq.Store(f - 1)
			p.main.pushFront(e, inMain)
			continue
		}
		return e
	}
}

// ghost is a FIFO of key hashes (no keys, no values) bounded by the bytes their objects had.
type ghost struct {
	live     map[uint64]ghostRec // hash -> its current record
	fifo     []ghostRec          // oldest at fifo[head]; records no longer in live are stale
	head     int
	seq      uint64
	bytes    int64 // of live records
	maxBytes int64
}

type ghostRec struct {
	hash   uint64
	seq    uint64 // tells a live record from a stale one for the same hash
	charge int64
}

func (g *ghost) init(maxBytes int64) {
	g.live = make(map[uint64]ghostRec)
	g.maxBytes = maxBytes
}

// add remembers hash, then forgets the oldest hashes while over maxBytes or maxKeys keys.
func (g *ghost) add(hash uint64, charge int64, maxKeys int) {
	g.take(hash)
	g.seq++
	r := ghostRec{hash: hash, seq: g.seq, charge: charge}
	g.live[hash] = r
	g.fifo = append(g.fifo, r)
	g.bytes += charge
	maxKeys = max(maxKeys, 64)
	for g.bytes > g.maxBytes || len(g.live) > maxKeys {
		g.pop()
	}
	g.compact()
}

// take reports whether hash was remembered, and forgets it.
func (g *ghost) take(hash uint64) bool {
	r, ok := g.live[hash]
	if ok {
		delete(g.live, hash)
		g.bytes -= r.charge
	}
	return ok
}

func (g *ghost) pop() {
	r := g.fifo[g.head]
	g.fifo[g.head] = ghostRec{}
	g.head++
	if cur, ok := g.live[r.hash]; ok && cur.seq == r.seq {
		delete(g.live, r.hash)
		g.bytes -= r.charge
	}
}

// compact drops popped and stale records once they outnumber the live ones, so the FIFO stays
// within a constant factor of the live set whatever the mix of ghost hits and evictions.
func (g *ghost) compact() {
	if n := len(g.fifo) - g.head; n <= 2*len(g.live)+64 {
		if g.head > 64 && g.head > len(g.fifo)/2 {
			g.fifo = g.fifo[:copy(g.fifo, g.fifo[g.head:])]
			g.head = 0
		}
		return
	}
	kept := g.fifo[:0]
	for _, r := range g.fifo[g.head:] {
		if cur, ok := g.live[r.hash]; ok && cur.seq == r.seq {
			kept = append(kept, r)
		}
	}
	clear(g.fifo[len(kept):])
	g.fifo = kept
	g.head = 0
}
