package dns

import (
	"net"
	"os/exec"
	"strings"
	"testing"

	"edgecdn/internal/testenv"

	"edgecdn/internal/zonemap"
)

// TestDig asks the real dig (package dnsutils), as an operator would.
func TestDig(t *testing.T) {
	dig := testenv.Tool(t, "dig")
	zm, err := zonemap.Parse([]string{"10.1.2.0/24=zone-a"})
	if err != nil {
		t.Fatal(err)
	}
	_, addr := serve(t, Config{Source: &fakeSource{bs: balancers(3, 10, "zone-a", "zone-b", "zone-c")}, ZoneMap: zm})
	host, port, _ := net.SplitHostPort(addr)
	run := func(args ...string) string {
		t.Helper()
		args = append([]string{"@" + host, "-p", port, "+time=2", "+tries=1"}, args...)
		out, err := exec.Command(dig, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("dig %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}

	first := map[string]bool{}
	for range 3 {
		lines := strings.Fields(run("video.edgecdn.local", "A", "+short"))
		if len(lines) != 3 {
			t.Fatalf("dig +short: %q, want 3 addresses", lines)
		}
		first[lines[0]] = true
	}
	if len(first) != 3 {
		t.Errorf("first addresses %v over 3 digs, want 3 different", first)
	}

	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"tcp", []string{"video.edgecdn.local", "A", "+tcp"}, []string{"status: NOERROR", "flags: qr aa rd;", "ANSWER: 3"}},
		{"NXDOMAIN", []string{"nope.video.edgecdn.local"}, []string{"status: NXDOMAIN", "AUTHORITY: 1", "IN\tSOA\tns1.video.edgecdn.local. hostmaster.video.edgecdn.local."}},
		{"REFUSED", []string{"example.com"}, []string{"status: REFUSED"}},
		{"ECS echoed", []string{"video.edgecdn.local", "+subnet=10.1.2.0/24"}, []string{"CLIENT-SUBNET: 10.1.2.0/24/24", "ANSWER: 3"}},
		{"ECS opt-out", []string{"video.edgecdn.local", "+subnet=0"}, []string{"CLIENT-SUBNET: 0.0.0.0/0/0", "ANSWER: 3"}},
		{"NS", []string{"video.edgecdn.local", "NS", "+norecurse"}, []string{"status: NOERROR", "IN\tNS\tns1.video.edgecdn.local."}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := run(tc.args...)
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("dig %s: no %q in\n%s", strings.Join(tc.args, " "), w, out)
				}
			}
		})
	}
}
