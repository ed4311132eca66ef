// Package zonemap maps client addresses to zones by longest prefix, as Traffic Router's
// coverage zones do: "10.1.0.0/16=zone-a".
package zonemap

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// Entry sends clients in CIDR to the balancers of Zone first.
type Entry struct {
	CIDR netip.Prefix
	Zone string
}

// Parse parses "CIDR=zone" entries, as the --zone-map flag takes them; an entry may
// hold several, separated by commas ("10.1.0.0/16=zone-a,10.2.0.0/16=zone-b"). Addresses are
// masked to their prefix.
func Parse(s []string) ([]Entry, error) {
	var out []Entry
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
			out = append(out, Entry{CIDR: p.Masked(), Zone: zone})
		}
	}
	return out, nil
}

// Map finds the zone of a client address by longest prefix match.
type Map []Entry

// New validates m and orders it most specific first.
func New(m []Entry) (Map, error) {
	zm := make(Map, 0, len(m))
	for _, e := range m {
		if !e.CIDR.IsValid() || e.Zone == "" {
			return nil, fmt.Errorf("zone map entry %v=%q: want a prefix and a zone", e.CIDR, e.Zone)
		}
		zm = append(zm, Entry{CIDR: e.CIDR.Masked(), Zone: e.Zone})
	}
	slices.SortStableFunc(zm, func(a, b Entry) int { return b.CIDR.Bits() - a.CIDR.Bits() })
	return zm, nil
}

// Lookup returns the zone of addr ("" when no entry holds it) and the RFC 7871 scope prefix
// length of that answer: the shortest prefix of addr over which every address maps alike.
func (zm Map) Lookup(addr netip.Addr) (zone string, scope int) {
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

// Flag is a flag.Value bound to a list of entries: Set parses "CIDR=zone[,...]" (Parse) and
// replaces the list.
type Flag struct{ P *[]Entry }

// String implements flag.Value.
func (f Flag) String() string {
	if f.P == nil {
		return ""
	}
	var s []string
	for _, e := range *f.P {
		s = append(s, e.CIDR.String()+"="+e.Zone)
	}
	return strings.Join(s, ",")
}

// Set implements flag.Value.
func (f Flag) Set(s string) error {
	es, err := Parse([]string{s})
	if err != nil {
		return err
	}
	*f.P = es
	return nil
}
