// Package health keeps the health of a server requests are sent to (an edge's origins, a zone
// balancer's edges) from the requests themselves (passive) and from probes (active), under one
// ejection rule: Failures failures in a row take it out of service for EjectFor, doubled on each
// further failure up to MaxEjectFor; one success, of a request or a probe, brings it back.
package health

import (
	"sync"
	"sync/atomic"
	"time"
)

// Rule is when and for how long failures take an upstream out of service.
type Rule struct {
	Failures    int           // failures in a row that eject; 1 when less
	EjectFor    time.Duration // the first ejection
	MaxEjectFor time.Duration // further failures double the ejection up to this; EjectFor when less
}

// State is one upstream's health. The zero value is in service.
type State struct {
	until atomic.Int64 // unix nanoseconds until which it is out of service; 0 in service

	mu      sync.Mutex
	fails   int // in a row
	backoff time.Duration
}

// Available reports whether the upstream is in service at now (unix nanoseconds). It takes no
// lock: it is on every request's path.
func (h *State) Available(now int64) bool { return h.until.Load() <= now }

// Fail records a failed request or probe at now. It reports whether the failure took an
// upstream that was in service out of it, and for how long.
func (h *State) Fail(now time.Time, r Rule) (ejected bool, d time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.fails++
	if h.fails < max(r.Failures, 1) {
		return false, 0
	}
	switch {
	case h.backoff == 0:
		h.backoff = r.EjectFor
	case h.backoff < r.MaxEjectFor:
		h.backoff = min(2*h.backoff, r.MaxEjectFor)
	}
	was := h.until.Swap(now.Add(h.backoff).UnixNano())
	return was <= now.UnixNano(), h.backoff
}

// OK records a successful request or probe: the upstream is in service again, its failures and
// backoff forgotten. It reports whether it was out of service at now.
func (h *State) OK(now time.Time) (wasEjected bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.fails, h.backoff = 0, 0
	return h.until.Swap(0) > now.UnixNano()
}
