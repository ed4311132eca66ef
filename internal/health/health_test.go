package health

import (
	"testing"
	"time"
)

func TestRule(t *testing.T) {
	t0 := time.Unix(1000, 0)
	tests := []struct {
		name string
		rule Rule
		// fails at t0, t0+1s, ...; want whether each ejects and the ejection after it
		want []time.Duration
		ej   []bool
	}{
		{"balancer: every failure, fixed", Rule{Failures: 1, EjectFor: 5 * time.Second, MaxEjectFor: 5 * time.Second},
			[]time.Duration{5 * time.Second, 5 * time.Second, 5 * time.Second}, []bool{true, false, false}},
		{"edge origins: two in a row, doubling", Rule{Failures: 2, EjectFor: 2 * time.Second, MaxEjectFor: 5 * time.Second},
			[]time.Duration{0, 2 * time.Second, 4 * time.Second, 5 * time.Second}, []bool{false, true, false, false}},
	}
	for _, tt := range tests {
		var h State
		for i, want := range tt.want {
			now := t0.Add(time.Duration(i) * time.Second)
			ej, d := h.Fail(now, tt.rule)
			if ej != tt.ej[i] || d != want {
				t.Errorf("%s: failure %d: ejected %v for %v; want %v for %v", tt.name, i+1, ej, d, tt.ej[i], want)
			}
			if got := h.Available(now.UnixNano()); got != (want == 0) {
				t.Errorf("%s: failure %d: available %v", tt.name, i+1, got)
			}
		}
		now := t0.Add(time.Minute)
		if !h.Available(now.UnixNano()) {
			t.Errorf("%s: still out of service after the ejection ended", tt.name)
		}
		if h.OK(now) {
			t.Errorf("%s: OK after the ejection ended reports it was out", tt.name)
		}
	}
	var h State
	r := Rule{Failures: 1, EjectFor: time.Minute}
	h.Fail(t0, r)
	if !h.OK(t0.Add(time.Second)) || !h.Available(t0.Add(time.Second).UnixNano()) {
		t.Error("a success did not bring an ejected upstream back at once")
	}
	if ej, d := h.Fail(t0.Add(2*time.Second), r); !ej || d != time.Minute {
		t.Errorf("after a success the backoff starts over: %v %v", ej, d)
	}
}
