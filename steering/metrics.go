package steering

import (
	"fmt"
	"sync"

	"github.com/VictoriaMetrics/metrics"
)

type steerMetrics struct {
	set                                                   *metrics.Set
	steers, plays, manifests, pathwayChanges, badRequests *metrics.Counter
	tokens                                                *metrics.Counter
	mu                                                    sync.Mutex
	reasons                                               map[string]*metrics.Counter
}

func (m *steerMetrics) init(set *metrics.Set) {
	m.set = set
	m.steers = set.NewCounter("edgecdn_steering_rankings_total")
	m.plays = set.NewCounter("edgecdn_steering_playback_manifests_total")
	m.manifests = set.NewCounter("edgecdn_steering_manifests_total")
	m.pathwayChanges = set.NewCounter("edgecdn_steering_pathway_changes_total")
	m.badRequests = set.NewCounter("edgecdn_steering_bad_requests_total")
	m.tokens = set.NewCounter("edgecdn_steering_tokens_issued_total")
	m.reasons = map[string]*metrics.Counter{}
}

// reason returns the counter of decisions made for a reason (a fixed, small set of strings).
func (m *steerMetrics) reason(why string) *metrics.Counter {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.reasons[why]
	if c == nil {
		c = m.set.NewCounter(fmt.Sprintf(`edgecdn_steering_decisions_total{reason=%q}`, why))
		m.reasons[why] = c
	}
	return c
}
