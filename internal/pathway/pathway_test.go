package pathway

import (
	"strings"
	"testing"
)

func TestValidID(t *testing.T) {
	for id, want := range map[string]bool{
		"zone-a": true, "CDN_1.eu": true, strings.Repeat("a", 64): true,
		"": false, strings.Repeat("a", 65): false, "zone a": false, "zone/a": false, "zoné": false, "a,b": false,
	} {
		if ValidID(id) != want || ValidID([]byte(id)) != want {
			t.Errorf("ValidID(%q) = %v; want %v", id, !want, want)
		}
	}
}

func FuzzValidID(f *testing.F) {
	f.Add("zone-a")
	f.Add("a b")
	f.Fuzz(func(t *testing.T, id string) {
		if ValidID(id) != ValidID([]byte(id)) {
			t.Fatalf("string and bytes disagree on %q", id)
		}
		if ValidID(id) && strings.ContainsAny(id, " /?#,\"") {
			t.Fatalf("accepted %q", id)
		}
	})
}
