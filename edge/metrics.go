package edge

import (
	"fmt"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"edgecdn/internal/promhist"
)

type edgeMetrics struct {
	hits, misses, collapsed, stale, revalidated, passed, errors [numKinds]*metrics.Counter
	servedBytes, originFetches, peerFetches                     [numKinds]*metrics.Counter
	peerBytes, peerErrors                                       *metrics.Counter
	originBytes, originErrors, fillRejected, badRequests        *metrics.Counter
	fillResumed                                                 *metrics.Counter
	diskHits, purged, forbidden                                 *metrics.Counter
	purges, purgeDiscarded                                      *metrics.Counter
	prefillPlanned, prefillFetched, prefillBytes                *metrics.Counter
	prefillSkipped                                              map[string]*metrics.Counter
	originLatency                                               *promhist.Histogram
	// The event loop engine: hits it answered itself, requests it gave the fasthttp server
	// (one visiting, a connection handed over for good), and how often a loop gave its core
	// away (Config.YieldCPU).
	loopHits, loopHandoffs, loopVisits, loopYields *metrics.Counter
}

func (m *edgeMetrics) init(s *Server) {
	set := s.set
	for k := kind(0); k < numKinds; k++ {
		l := kindNames[k]
		req := func(result string) *metrics.Counter {
			return set.NewCounter(fmt.Sprintf(`edgecdn_edge_requests_total{kind=%q,result=%q}`, l, result))
		}
		m.hits[k] = req("hit")
		m.misses[k] = req("miss")
		m.collapsed[k] = set.NewCounter(fmt.Sprintf(`edgecdn_edge_collapsed_requests_total{kind=%q}`, l))
		m.stale[k] = req("stale")
		m.revalidated[k] = req("revalidated")
		m.passed[k] = req("pass")
		m.errors[k] = req("error")
		m.servedBytes[k] = set.NewCounter(fmt.Sprintf(`edgecdn_edge_served_bytes_total{kind=%q}`, l))
		m.originFetches[k] = set.NewCounter(fmt.Sprintf(`edgecdn_edge_origin_fetches_total{kind=%q}`, l))
		m.peerFetches[k] = set.NewCounter(fmt.Sprintf(`edgecdn_edge_peer_fetches_total{kind=%q}`, l))
	}
	m.originBytes = set.NewCounter("edgecdn_edge_origin_bytes_total")
	m.originErrors = set.NewCounter("edgecdn_edge_origin_errors_total")
	m.peerBytes = set.NewCounter("edgecdn_edge_peer_bytes_total")
	m.peerErrors = set.NewCounter("edgecdn_edge_peer_errors_total")
	m.fillRejected = set.NewCounter("edgecdn_edge_fill_rejected_total")
	m.fillResumed = set.NewCounter("edgecdn_edge_fill_resumed_total")
	m.badRequests = set.NewCounter("edgecdn_edge_bad_requests_total")
	m.diskHits = set.NewCounter("edgecdn_edge_disk_hits_total")
	m.purged = set.NewCounter("edgecdn_edge_purged_objects_total")
	m.purges = set.NewCounter("edgecdn_edge_purges_total")
	m.purgeDiscarded = set.NewCounter("edgecdn_edge_purge_discarded_fills_total")
	s.initEventMetrics()
	m.prefillSkipped = map[string]*metrics.Counter{}
	s.initPrefill()
	m.forbidden = set.NewCounter("edgecdn_edge_forbidden_requests_total")
	m.loopHits = set.NewCounter("edgecdn_edge_loop_hits_total")
	m.loopHandoffs = set.NewCounter("edgecdn_edge_loop_handoffs_total")
	m.loopVisits = set.NewCounter("edgecdn_edge_loop_visits_total")
	m.loopYields = set.NewCounter("edgecdn_edge_loop_cpu_yields_total")
	m.originLatency = promhist.New(set, "edgecdn_edge_origin_fetch_duration_seconds", "", promhist.LatencyBuckets)
	set.NewGauge("edgecdn_edge_cache_bytes", func() float64 { return float64(s.cache.Stats().Bytes) })
	set.NewGauge("edgecdn_edge_cache_objects", func() float64 { return float64(s.cache.Stats().Objects) })
	set.NewGauge("edgecdn_edge_cache_capacity_bytes", func() float64 { return float64(s.cfg.CacheBytes) })
	set.NewGauge("edgecdn_edge_memfd_bodies", func() float64 { return float64(memfds.n.Load()) })
	set.NewGauge("edgecdn_edge_memfd_bytes", func() float64 { return float64(memfds.bytes.Load()) })
	set.NewGauge("edgecdn_edge_cache_evictions_total", func() float64 { return float64(s.cache.Stats().Evictions) })
	set.NewGauge("edgecdn_edge_cache_rejected_total", func() float64 { return float64(s.cache.Stats().Rejected) })
	set.NewGauge("edgecdn_edge_inflight_fills", func() float64 {
		s.mu.Lock()
		defer s.mu.Unlock()
		return float64(len(s.inflight))
	})
	for _, o := range s.origins.list {
		set.NewGauge(fmt.Sprintf(`edgecdn_edge_origin_up{origin=%q}`, o.base), func() float64 {
			if o.up(time.Now()) {
				return 1
			}
			return 0
		})
		set.NewGauge(fmt.Sprintf(`edgecdn_edge_origin_addresses{origin=%q}`, o.base), func() float64 {
			if p := o.pods.Load(); p != nil {
				return float64(len(*p))
			}
			return 0
		})
		set.NewGauge(fmt.Sprintf(`edgecdn_edge_origin_requests_total{origin=%q}`, o.base), func() float64 { return float64(o.fetches.Load()) })
		set.NewGauge(fmt.Sprintf(`edgecdn_edge_origin_failures_total{origin=%q}`, o.base), func() float64 { return float64(o.errs.Load()) })
	}
	if s.disk != nil {
		set.NewGauge("edgecdn_edge_disk_bytes", func() float64 { b, _, _ := s.disk.stats(); return float64(b) })
		set.NewGauge("edgecdn_edge_disk_objects", func() float64 { _, n, _ := s.disk.stats(); return float64(n) })
		set.NewGauge("edgecdn_edge_disk_corrupt_total", func() float64 { _, _, c := s.disk.stats(); return float64(c) })
	}
}
