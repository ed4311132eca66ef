package dns

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// ZoneMapping sends clients in CIDR to the balancers of Zone first.
type ZoneMapping struct {
	CIDR netip.Prefix
	Zone string
}

// ParseZoneMap parses "CIDR=zone" entries, as the --zone-map flag takes them; an entry may
// hold several, separated by commas ("10.1.0.0/16=zone-a,10.2.0.0/16=zone-b"). Addresses are
// masked to their prefix.
func ParseZoneMap(s []string) ([]ZoneMapping, error) {
	var out []ZoneMapping
	for _, entry := range s {
		for part := range strings.SplitSeq(entry, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			cidr, zone, ok := strings.Cut(part, "=")
			cidr, zone = strings.TrimSpace(cidr), strings.TrimSpace(zone)
			if !ok || zone == "" {
				return nil, fmt.Errorf("zone map %q: want CIDR=zone", part)
			}
			p, err := netip.ParsePrefix(cidr)
			if err != nil {
				return nil, fmt.Errorf("zone map %q: %w", part, err)
			}
			out = append(out, ZoneMapping{CIDR: p.Masked(), Zone: zone})
		}
	}
	return out, nil
}

// zoneMap finds the zone of a client address by longest prefix match.
type zoneMap []ZoneMapping

// newZoneMap validates m and orders it most specific first.
func newZoneMap(m []ZoneMapping) (zoneMap, error) {
	zm := make(zoneMap, 0, len(m))
	for _, e := range m {
		if !e.CIDR.IsValid() || e.Zone == "" {
			return nil, fmt.Errorf("zone map entry %v=%q: want a prefix and a zone", e.CIDR, e.Zone)
		}
		zm = append(zm, ZoneMapping{CIDR: e.CIDR.Masked(), Zone: e.Zone})
	}
	slices.SortStableFunc(zm, func(a, b ZoneMapping) int { return b.CIDR.Bits() - a.CIDR.Bits() })
	return zm, nil
}

// lookup returns the zone of addr ("" when no entry holds it) and the RFC 7871 scope prefix
// length of that answer: the shortest prefix of addr over which every address maps alike.
func (zm zoneMap) lookup(addr netip.Addr) (zone string, scope int) {
	if !addr.IsValid() {
		return "", 0
	}
	addr = addr.Unmap()
	for _, e := range zm {
		p := e.CIDR
		if p.Addr().Is4() != addr.Is4() {
			continue
		}
		if p.Contains(addr) {
			if zone == "" {
				zone = e.Zone // the first holder is the most specific
			}
			scope = max(scope, p.Bits())
			continue
		}
		// A prefix that does not hold addr splits its neighbourhood one bit below where they
		// part: a shorter scope would cover addresses that map elsewhere.
		scope = max(scope, commonBits(addr, p.Addr())+1)
	}
	return zone, scope
}

// commonBits returns how many leading bits a and b (of one family) share.
func commonBits(a, b netip.Addr) int {
	x, y := a.As16(), b.As16()
	skip := 0
	if a.Is4() {
		skip = 12 // As16 puts an IPv4 address in the last four bytes
	}
	n := 0
	for i := skip; i < 16; i++ {
		d := x[i] ^ y[i]
		if d == 0 {
			n += 8
			continue
		}
		for d&0x80 == 0 {
			n++
			d <<= 1
		}
		break
	}
	return n
}
