package urlpath

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestClean(t *testing.T) {
	tests := []struct {
		raw, want string
		err       error
	}{
		{"/vod/t/master.m3u8", "/vod/t/master.m3u8", nil},
		{"/vod/t/300k/seg00001.ts", "/vod/t/300k/seg00001.ts", nil},
		{"/", "/", nil},
		{"/vod/", "/vod/", nil}, // a trailing slash is a folder; the server answers 404
		{"/vod/t%2Dx/a", "/vod/t-x/a", nil},
		{"/caf%C3%A9", "/café", nil},
		{"", "", ErrBad},
		{"vod/t", "", ErrBad},
		{"/vod/../etc/passwd", "", ErrBad},
		{"/vod/./t", "", ErrBad},
		{"/..", "", ErrBad},
		{"/vod/..", "", ErrBad},
		{"/vod/%2e%2e/etc/passwd", "", ErrBad},
		{"/vod/%2E%2E%2Fetc%2Fpasswd", "", ErrBad},
		{"/vod/%252e%252e/etc/passwd", "", ErrBad}, // double encoded
		{"/vod/%25", "", ErrBad},
		{"/vod/..%5c..%5cwin.ini", "", ErrBad},
		{"/vod/a\\b", "", ErrBad},
		{"/vod/a%00.ts", "", ErrBad},
		{"/vod/a\x00.ts", "", ErrBad},
		{"/vod/a%0d%0aX-Injected:1", "", ErrBad},
		{"/vod//etc/passwd", "", ErrBad},
		{"//etc/passwd", "", ErrBad},
		{"/vod/%", "", ErrBad},
		{"/vod/%4", "", ErrBad},
		{"/vod/%zz", "", ErrBad},
		{"/vod/%ff%fe", "", ErrBad}, // invalid UTF-8
		{"/vod/\x7f", "", ErrBad},
		{"/vod/a%3Fv=1", "", ErrBad}, // would read as a path and a query: a cache key collision
		{"/vod/a%23frag", "", ErrBad},
		{"/" + strings.Repeat("a", MaxLen), "", ErrTooLong},
	}
	for _, tt := range tests {
		got, err := Clean(nil, []byte(tt.raw))
		if !errors.Is(err, tt.err) {
			t.Errorf("Clean(%q) error = %v, want %v", tt.raw, err, tt.err)
			continue
		}
		if err == nil && string(got) != tt.want {
			t.Errorf("Clean(%q) = %q, want %q", tt.raw, got, tt.want)
		}
	}
}

func TestCleanAppends(t *testing.T) {
	got, err := Clean([]byte("prefix:"), []byte("/a/%2e%2e"))
	if err == nil || string(got) != "prefix:" {
		t.Fatalf("failed Clean = %q, %v; want dst untouched and an error", got, err)
	}
}

func TestCleanAllocs(t *testing.T) {
	raw := []byte("/vod/title-000/750k/seg00042.ts")
	buf := make([]byte, 0, 256)
	if n := testing.AllocsPerRun(100, func() { Clean(buf[:0], raw) }); n != 0 {
		t.Errorf("Clean allocates %v times per call, want 0", n)
	}
}

func FuzzClean(f *testing.F) {
	for _, s := range []string{"/vod/t/master.m3u8", "/vod/%2e%2e/x", "/a//b", "/%252e", "/\x00", "/a\\..\\b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got, err := Clean(nil, []byte(raw))
		if err != nil {
			return
		}
		p := string(got)
		if !strings.HasPrefix(p, "/") || strings.ContainsAny(p, "\\\x00%?#") {
			t.Fatalf("Clean(%q) = %q: unsafe", raw, p)
		}
		for _, seg := range strings.Split(p, "/")[1:] {
			if seg == "." || seg == ".." {
				t.Fatalf("Clean(%q) = %q: dot segment", raw, p)
			}
		}
		// A clean path is a fixed point: cleaning it again changes nothing.
		again, err := Clean(nil, got)
		if err != nil || string(again) != p {
			t.Fatalf("Clean(Clean(%q)) = %q, %v; want %q", raw, again, err, p)
		}
	})
}

func ExampleClean() {
	for _, raw := range []string{"/vod/title-000/master.m3u8", "/vod/%2e%2e/%2e%2e/etc/passwd"} {
		p, err := Clean(nil, []byte(raw))
		fmt.Printf("%q %v\n", p, err)
	}
	// Output:
	// "/vod/title-000/master.m3u8" <nil>
	// "" urlpath: bad path
}
