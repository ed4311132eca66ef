package edge

import (
	"strings"
	"testing"
)

func TestAppendKey(t *testing.T) {
	allow := []string{"v", "lang"}
	tests := []struct {
		path, query string
		allow       []string
		want        string
		bad         bool
	}{
		{"/vod/t/r/s.ts", "", nil, "/vod/t/r/s.ts", false},
		{"/vod/t/r/s.ts", "a=1&b=2", nil, "/vod/t/r/s.ts", false},
		{"/vod/t/r/s.ts", "v=2&x=1&lang=en", allow, "/vod/t/r/s.ts?lang=en&v=2", false},
		{"/vod/t/r/s.ts", "lang=en&v=2", allow, "/vod/t/r/s.ts?lang=en&v=2", false},
		{"/vod/t/r/s.ts", "v=2&v=2", allow, "/vod/t/r/s.ts?v=2", false},
		{"/vod/t/r/s.ts", "x=1", allow, "/vod/t/r/s.ts", false},
		{"/vod/t/r/s.ts", "v", allow, "/vod/t/r/s.ts?v", false},
		{"/vod/t/r/s.ts", "=v&&", allow, "/vod/t/r/s.ts", false},
		{"/vod/%74/r/s.ts", "", nil, "/vod/t/r/s.ts", false},
		{"/vod/../s.ts", "", nil, "", true},
		{"/vod/%2e%2e/s.ts", "", nil, "", true},
	}
	for _, tt := range tests {
		got, err := AppendKey(nil, []byte(tt.path), []byte(tt.query), tt.allow)
		if (err != nil) != tt.bad || (err == nil && string(got) != tt.want) {
			t.Errorf("AppendKey(%q, %q) = %q, %v; want %q, bad=%v", tt.path, tt.query, got, err, tt.want, tt.bad)
		}
	}
	buf := make([]byte, 0, 512)
	path, query := []byte("/vod/t/r/s.ts"), []byte("v=1&z=2&lang=x")
	if n := testing.AllocsPerRun(100, func() { AppendKey(buf[:0], path, query, allow) }); n != 0 {
		t.Errorf("AppendKey allocates %v times", n)
	}
}

// FuzzAppendKey: whatever the request, the key is a clean path plus only allowed parameters,
// and equal requests modulo parameter order and unlisted parameters give equal keys.
func FuzzAppendKey(f *testing.F) {
	for _, s := range [][2]string{{"/vod/t/r/s.ts", "v=1"}, {"/vod/%2e%2e/x", ""}, {"/a", "lang=en&v=2&v=1"}, {"/a//b", "x"}} {
		f.Add(s[0], s[1])
	}
	allow := []string{"v", "lang"}
	f.Fuzz(func(t *testing.T, path, query string) {
		key, err := AppendKey(nil, []byte(path), []byte(query), allow)
		if err != nil {
			return
		}
		p, q, _ := strings.Cut(string(key), "?")
		if strings.Contains(p, "/../") || strings.HasSuffix(p, "/..") || strings.Contains(p, "\x00") || !strings.HasPrefix(p, "/") {
			t.Fatalf("key %q has an unsafe path", key)
		}
		if q != "" {
			for _, kv := range strings.Split(q, "&") {
				name, _, _ := strings.Cut(kv, "=")
				if name != "v" && name != "lang" {
					t.Fatalf("key %q keeps parameter %q", key, name)
				}
			}
		}
		// Reversing the parameters changes nothing.
		parts := strings.Split(query, "&")
		for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
			parts[i], parts[j] = parts[j], parts[i]
		}
		key2, err := AppendKey(nil, []byte(path), []byte(strings.Join(parts, "&")), allow)
		if err != nil || (len(parts) <= 8 && string(key2) != string(key)) {
			t.Fatalf("parameter order changed the key: %q vs %q (%v)", key, key2, err)
		}
	})
}
