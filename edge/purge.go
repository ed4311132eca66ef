package edge

import (
	"encoding/json"
	"sync"
	"time"

	"edgecdn/internal/cluster"
	"edgecdn/internal/purge"
)

// purgeRefill is how long after a purge an edge fills the objects it covered from the origins
// rather than from a peer: a peer the purge has not reached yet would hand back the old bytes.
const purgeRefill = 10 * time.Second

// maxPurgeLog bounds the purges remembered for fills in flight; a fill older than all of them
// is not stored (as if a purge had covered it).
const maxPurgeLog = 256

// purges is the edge's purge generation: each purge bumps it, and a fill started under an
// older generation is not stored when a purge since then covers its key.
type purges struct {
	// mu is held for reading across a fill's check and store, and for writing by a purge
	// (generation bump and cache scan): a purge cannot fall between the check and the store.
	mu  sync.RWMutex
	gen uint64
	log []purgeRec // the last maxPurgeLog purges, oldest first
}

type purgeRec struct {
	gen uint64
	at  time.Time
	req purge.Request
}

// purgeGen returns the current purge generation, which a new fill records.
func (s *Server) purgeGen() uint64 {
	s.purges.mu.RLock()
	defer s.purges.mu.RUnlock()
	return s.purges.gen
}

// purgeLocal drops what r covers from this edge (memory and disk) and from the fills in
// flight (a request after the purge starts a new fill), and returns how many objects it dropped.
func (s *Server) purgeLocal(r purge.Request) int {
	p := &s.purges
	p.mu.Lock()
	p.gen++
	p.log = append(p.log, purgeRec{gen: p.gen, at: time.Now(), req: r})
	if len(p.log) > maxPurgeLog {
		p.log = p.log[len(p.log)-maxPurgeLog:]
	}
	var n int
	if r.Path != "" {
		n = s.cache.DeletePrefix(r.Path + "?") // allowlisted-query variants
		if s.cache.Delete(r.Path) {
			n++
		}
	} else {
		n = s.cache.DeletePrefix(r.Prefix)
	}
	if s.disk != nil {
		s.disk.deletePrefix(r.Path + r.Prefix)
	}
	p.mu.Unlock()

	s.mu.Lock()
	for fk := range s.inflight {
		if r.Matches(fk.key) {
			delete(s.inflight, fk) // it runs on for its clients, but nobody new joins it
		}
	}
	s.mu.Unlock()
	s.m.purged.Add(n)
	s.m.purges.Inc()
	return n
}

// cacheUnlessPurged stores a filled object unless a purge since the fill began covers it.
func (s *Server) cacheUnlessPurged(f *fill, o *object) bool {
	p := &s.purges
	p.mu.RLock()
	defer p.mu.RUnlock()
	if f.gen != p.gen && s.purgedSinceLocked(f.gen, f.key) {
		s.m.purgeDiscarded.Inc()
		return false
	}
	return s.cache.Set(o.key, o)
}

func (s *Server) purgedSinceLocked(gen uint64, key string) bool {
	log := s.purges.log
	if len(log) > 0 && log[0].gen > gen+1 {
		return true // purges since gen were forgotten: do not take the chance
	}
	for i := len(log) - 1; i >= 0 && log[i].gen > gen; i-- {
		if log[i].req.Matches(key) {
			return true
		}
	}
	return false
}

// purgedLately reports whether a purge in the last purgeRefill covered key.
func (s *Server) purgedLately(key string) bool {
	p := &s.purges
	p.mu.RLock()
	defer p.mu.RUnlock()
	since := time.Now().Add(-purgeRefill)
	for i := len(p.log) - 1; i >= 0 && p.log[i].at.After(since); i-- {
		if p.log[i].req.Matches(key) {
			return true
		}
	}
	return false
}

// ClusterEvent applies a cluster-wide event (cluster.Config.OnEvent) and returns the answer
// that goes back to its publisher: a purge, a fill plan, or a request for the edge's counts.
func (s *Server) ClusterEvent(ev cluster.Event) []byte {
	switch ev.Kind {
	case purge.Kind:
		var r purge.Request
		if json.Unmarshal(ev.Body, &r) != nil || !r.Valid() {
			s.log.Warn("cluster purge unreadable", "id", ev.ID, "from", ev.From)
			return nil
		}
		n := s.purgeLocal(r)
		s.log.Info("purged", "path", r.Path, "prefix", r.Prefix, "objects", n, "id", ev.ID, "from", ev.From,
			"after", time.Since(ev.At).Round(time.Microsecond))
		b, _ := json.Marshal(purge.Answer{Purged: n})
		return b
	}
	if h := s.eventHandlers[ev.Kind]; h != nil {
		return h(ev)
	}
	return nil
}

// initEventMetrics exports the cluster's event counters (purges and fill plans received,
// and those refused).
func (s *Server) initEventMetrics() {
	stat := func(f func(cluster.EventStats) int64) func() float64 {
		return func() float64 {
			if c := s.cluster.Load(); c != nil {
				return float64(f(c.EventStats()))
			}
			return 0
		}
	}
	for _, r := range []struct {
		result string
		f      func(cluster.EventStats) int64
	}{
		{"published", func(st cluster.EventStats) int64 { return st.Published }},
		{"applied", func(st cluster.EventStats) int64 { return st.Applied }},
		{"duplicate", func(st cluster.EventStats) int64 { return st.Duplicates }},
		{"forged", func(st cluster.EventStats) int64 { return st.Forged }},
		{"expired", func(st cluster.EventStats) int64 { return st.Expired }},
		{"unreadable", func(st cluster.EventStats) int64 { return st.Unknown }},
	} {
		s.set.NewGauge(`edgecdn_edge_cluster_events_total{result="`+r.result+`"}`, stat(r.f))
	}
}
