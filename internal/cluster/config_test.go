package cluster

import "testing"

// TestDefaults: a zero Config gets exactly DefaultConfig's values, the ones the field comments
// name.
func TestDefaults(t *testing.T) {
	c := Config{Name: "m"}
	if err := c.setDefaults(); err != nil {
		t.Fatal(err)
	}
	d := DefaultConfig()
	got := []any{c.GossipListen, c.LoadInterval, c.StaleLoad, c.ProbeInterval, c.ProbeTimeout, c.SuspicionMult, c.RejoinInterval, c.JoinTimeout, c.JoinAttempts, c.ForgetAfter}
	want := []any{d.GossipListen, d.LoadInterval, d.StaleLoad, d.ProbeInterval, d.ProbeTimeout, d.SuspicionMult, d.RejoinInterval, d.JoinTimeout, d.JoinAttempts, d.ForgetAfter}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("default %d: %v; want %v", i, got[i], want[i])
		}
	}
}
