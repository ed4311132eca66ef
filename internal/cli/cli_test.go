package cli

import (
	"flag"
	"testing"
)

func TestParseEnvironment(t *testing.T) {
	env := map[string]string{"EDGECDN_TITLES": "5", "EDGECDN_CACHE_SIZE": "2GiB", "EDGECDN_NAME": "from-env"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	titles := fs.Int("titles", 1, "")
	name := fs.String("name", "default", "")
	var size Bytes
	fs.Var(&size, "cache-size", "")
	other := fs.String("other", "default", "")
	if err := Parse(fs, []string{"--name", "from-flag"}, lookup); err != nil {
		t.Fatal(err)
	}
	if *titles != 5 || *name != "from-flag" || size != 2<<30 || *other != "default" {
		t.Errorf("titles %d name %q size %d other %q; want 5, from-flag, 2GiB, default", *titles, *name, size, *other)
	}
	env["EDGECDN_TITLES"] = "many"
	fs2 := flag.NewFlagSet("x", flag.ContinueOnError)
	fs2.Int("titles", 1, "")
	if err := Parse(fs2, nil, lookup); err == nil {
		t.Error("a bad environment value was accepted")
	}
}

func TestParseBytes(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"1GiB", 1 << 30, true}, {"512MiB", 512 << 20, true}, {"10MB", 10e6, true}, {"4096", 4096, true},
		{"1.5KiB", 1536, true}, {"2g", 2 << 30, true}, {"0", 0, true}, {"100B", 100, true},
		{"", 0, false}, {"-1GiB", 0, false}, {"GiB", 0, false}, {"1XB", 0, false}, {"1e30", 0, false}, {"NaN", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseBytes(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseBytes(%q) = %d, %v; want %d, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
	if got := FormatBytes(1 << 30); got != "1GiB" {
		t.Errorf("FormatBytes(1GiB) = %q", got)
	}
}

func FuzzParseBytes(f *testing.F) {
	for _, s := range []string{"1GiB", "512MiB", "10MB", "1.5k", "-1", "NaN", "1e308"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseBytes(s)
		if err == nil && n < 0 {
			t.Fatalf("ParseBytes(%q) = %d", s, n)
		}
	})
}
