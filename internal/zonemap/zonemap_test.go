package zonemap

import (
	"net/netip"
	"slices"
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

func TestParse(t *testing.T) {
	tests := []struct {
		in      []string
		want    []Entry
		wantErr bool
	}{
		{in: nil, want: nil},
		{in: []string{"10.0.0.0/8=zone-a"}, want: []Entry{{netip.MustParsePrefix("10.0.0.0/8"), "zone-a"}}},
		{in: []string{"10.1.2.3/16=zone-a, 2001:db8::/32=zone-b", "192.0.2.0/24=zone-c"}, want: []Entry{
			{netip.MustParsePrefix("10.1.0.0/16"), "zone-a"},
			{netip.MustParsePrefix("2001:db8::/32"), "zone-b"},
			{netip.MustParsePrefix("192.0.2.0/24"), "zone-c"},
		}},
		{in: []string{"10.0.0.0/8"}, wantErr: true},
		{in: []string{"10.0.0.0/8="}, wantErr: true},
		{in: []string{"10.0.0.0=zone-a"}, wantErr: true},
		{in: []string{"nope/8=zone-a"}, wantErr: true},
	}
	for _, tc := range tests {
		got, err := Parse(tc.in)
		if (err != nil) != tc.wantErr {
			t.Errorf("Parse(%q) error %v, want error %v", tc.in, err, tc.wantErr)
			continue
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("Parse(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestScope(t *testing.T) {
	zm, err := New([]Entry{
		{netip.MustParsePrefix("10.1.0.0/16"), "c"},
		{netip.MustParsePrefix("10.1.2.0/24"), "a"},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		addr  string
		zone  string
		scope int
	}{
		{"10.1.2.9", "a", 24},
		{"10.1.3.9", "c", 24}, // 10.1.3.0/24 is c throughout; 10.1.2.0/23 is not
		{"10.1.128.1", "c", 17},
		{"10.2.0.1", "", 15},
		{"11.0.0.1", "", 8},
		{"2001:db8::1", "", 0},
	}
	for _, tc := range tests {
		zone, scope := zm.Lookup(netip.MustParseAddr(tc.addr))
		if zone != tc.zone || scope != tc.scope {
			t.Errorf("lookup(%s) = %q /%d, want %q /%d", tc.addr, zone, scope, tc.zone, tc.scope)
		}
	}
}

// FuzzParse checks that what Parse accepts is usable.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"10.0.0.0/8=a", "10.1.2.3/16=a, 2001:db8::/32=b", "=", "x=y", "10.0.0.0/33=a", ",,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		zm, err := Parse([]string{s})
		if err != nil {
			return
		}
		for _, m := range zm {
			if !m.CIDR.IsValid() || m.CIDR != m.CIDR.Masked() || m.Zone == "" {
				t.Fatalf("Parse(%q) gave %v", s, m)
			}
		}
		if _, err := New(zm); err != nil {
			t.Fatalf("Parse(%q) = %v, refused by New: %v", s, zm, err)
		}
	})
}
