package zonemap

import (
	"net/netip"
	"testing"
)

func TestLookup(t *testing.T) {
	es, err := Parse([]string{"10.0.0.0/8=zone-a,10.1.0.0/16=zone-b", "2001:db8::/32=zone-c"})
	if err != nil {
		t.Fatal(err)
	}
	m, err := New(es)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		addr, zone string
	}{{"10.1.2.3", "zone-b"}, {"10.2.0.1", "zone-a"}, {"192.168.0.1", ""}, {"2001:db8::1", "zone-c"}, {"::ffff:10.1.0.1", "zone-b"}} {
		if z, _ := m.Lookup(netip.MustParseAddr(c.addr)); z != c.zone {
			t.Errorf("Lookup(%s) = %q, want %q", c.addr, z, c.zone)
		}
	}
	for _, bad := range []string{"10.0.0.0/8", "nope=zone", "10.0.0.0/33=z", "=z"} {
		if _, err := Parse([]string{bad}); err == nil {
			t.Errorf("Parse(%q) succeeded", bad)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add("10.0.0.0/8=zone-a,10.1.0.0/16=zone-b")
	f.Add("::/0=z")
	f.Fuzz(func(t *testing.T, s string) {
		es, err := Parse([]string{s})
		if err != nil {
			return
		}
		m, err := New(es)
		if err != nil {
			return
		}
		for _, e := range es {
			if z, _ := m.Lookup(e.CIDR.Addr()); z == "" {
				t.Fatalf("%v maps to no zone", e.CIDR)
			}
		}
	})
}
