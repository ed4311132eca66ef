package player

import "testing"

func TestParseCMSD(t *testing.T) {
	for _, c := range []struct {
		in  string
		etp int
		du  bool
	}{
		{`"edge-a1";etp=52000`, 52000, false},
		{`"edge-a1";etp=100;du`, 100, true},
		{`"e";du=?1;etp=7`, 7, true},
		{``, 0, false},
		{`"e";etp=-5;du=?0`, 0, false},
		{`garbage;;;=`, 0, false},
	} {
		etp, du := parseCMSD(c.in)
		if etp != c.etp || du != c.du {
			t.Errorf("parseCMSD(%q) = %d, %v; want %d, %v", c.in, etp, du, c.etp, c.du)
		}
	}
}
