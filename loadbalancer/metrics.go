package loadbalancer

import (
	"fmt"
	"net"

	"github.com/VictoriaMetrics/metrics"

	"edgecdn/internal/promhist"
)

type lbMetrics struct {
	retries, failed, redirects *metrics.Counter
	// handoffs counts the client connections the event loop gave to the fasthttp server (a
	// request off its hot path); edgecdn_lb_loop_connections{loop} gauges those each loop holds.
	handoffs *metrics.Counter
	// yields counts the times the loop gave its core away (Config.YieldCPU).
	yields *metrics.Counter
}

func (m *lbMetrics) init(s *Server) {
	m.retries = s.set.NewCounter("edgecdn_lb_retries_total")
	m.failed = s.set.NewCounter("edgecdn_lb_failed_requests_total")
	m.redirects = s.set.NewCounter("edgecdn_lb_redirects_total")
	m.handoffs = s.set.NewCounter("edgecdn_lb_loop_handoffs_total")
	m.yields = s.set.NewCounter("edgecdn_lb_loop_cpu_yields_total")
	s.set.NewGauge("edgecdn_lb_healthy_edges", func() float64 { l, _ := s.Healthy(); return float64(l) })
	s.set.NewGauge("edgecdn_lb_healthy_remote_edges", func() float64 { _, r := s.Healthy(); return float64(r) })
}

type upstreamMetrics struct {
	requests, errors, ejections *metrics.Counter
	latency                     *promhist.Histogram
}

func (m *upstreamMetrics) init(set *metrics.Set, u *upstream) {
	l := fmt.Sprintf(`edge=%q,zone=%q`, u.name, u.zone)
	m.requests = set.GetOrCreateCounter(fmt.Sprintf(`edgecdn_lb_upstream_requests_total{%s}`, l))
	m.errors = set.GetOrCreateCounter(fmt.Sprintf(`edgecdn_lb_upstream_errors_total{%s}`, l))
	m.ejections = set.GetOrCreateCounter(fmt.Sprintf(`edgecdn_lb_upstream_ejections_total{%s}`, l))
	m.latency = promhist.New(set, "edgecdn_lb_upstream_response_seconds", l, promhist.LatencyBuckets)
}

func fmtIP(ip []byte) string { return net.IP(ip).String() }
