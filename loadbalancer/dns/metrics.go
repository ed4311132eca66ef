package dns

import (
	"fmt"
	"sync"

	"github.com/VictoriaMetrics/metrics"
	mdns "github.com/miekg/dns"
)

// qtypes are the query types counted by name; the rest count as "other".
var qtypes = [...]uint16{mdns.TypeA, mdns.TypeAAAA, mdns.TypeSOA, mdns.TypeNS, mdns.TypeANY, 0}

const numQtypes = len(qtypes)

func qtypeIndex(t uint16) int {
	for i, x := range qtypes[:numQtypes-1] {
		if x == t {
			return i
		}
	}
	return numQtypes - 1
}

// rcodes are the response codes the server answers with.
var rcodes = [...]int{mdns.RcodeSuccess, mdns.RcodeFormatError, mdns.RcodeServerFailure,
	mdns.RcodeNameError, mdns.RcodeNotImplemented, mdns.RcodeRefused, mdns.RcodeBadVers}

const numRcodes = len(rcodes)

func rcodeIndex(rc int) int {
	for i, x := range rcodes {
		if x == rc {
			return i
		}
	}
	return 2 // SERVFAIL: never sent
}

type serverMetrics struct {
	set       *metrics.Set
	queries   [numQtypes][numRcodes]*metrics.Counter
	answers   sync.Map // zone → *metrics.Counter
	failOpen  *metrics.Counter
	truncated *metrics.Counter
	invalid   *metrics.Counter
}

func (m *serverMetrics) init(set *metrics.Set, src Source) {
	m.set = set
	for i, t := range qtypes {
		qt := "other"
		if t != 0 {
			qt = mdns.TypeToString[t]
		}
		for j, rc := range rcodes {
			m.queries[i][j] = set.NewCounter(fmt.Sprintf(`edgecdn_dns_queries_total{qtype=%q,rcode=%q}`, qt, mdns.RcodeToString[rc]))
		}
	}
	m.failOpen = set.NewCounter("edgecdn_dns_failopen_total")
	m.truncated = set.NewCounter("edgecdn_dns_truncated_total")
	m.invalid = set.NewCounter("edgecdn_dns_invalid_total")
	set.NewGauge("edgecdn_dns_balancers", func() float64 { return float64(len(src.Balancers())) })
	set.NewGauge("edgecdn_dns_healthy_balancers", func() float64 {
		n := 0
		for _, b := range src.Balancers() {
			if b.Healthy {
				n++
			}
		}
		return float64(n)
	})
}

// answer counts an A or AAAA answer whose first address is a balancer of zone.
func (m *serverMetrics) answer(zone string) {
	if c, ok := m.answers.Load(zone); ok {
		c.(*metrics.Counter).Inc()
		return
	}
	c := m.set.GetOrCreateCounter(fmt.Sprintf(`edgecdn_dns_answers_total{zone=%q}`, zone))
	m.answers.Store(zone, c)
	c.Inc()
}
