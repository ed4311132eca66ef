package signing

import (
	"errors"
	"strings"
	"testing"
	"time"
)

var (
	oldKey = []byte("0123456789abcdef0123456789abcdef")
	newKey = []byte("fedcba9876543210fedcba9876543210")
	now    = time.Unix(1_800_000_000, 0)
)

func TestCheck(t *testing.T) {
	tok := Sign(newKey, Claims{Prefix: "/vod/title-000/", Expires: now.Add(time.Hour)})
	bound := Sign(newKey, Claims{Prefix: "/vod/", Expires: now.Add(time.Hour), IP: "10.0.0.1"})
	expired := Sign(newKey, Claims{Prefix: "/vod/", Expires: now.Add(-time.Second)})
	byOld := Sign(oldKey, Claims{Prefix: "/vod/", Expires: now.Add(time.Hour)})
	tampered := strings.Replace(tok, "~", "~1", 1)
	tests := []struct {
		path, client string
		keys         [][]byte
		want         string
		err          error
	}{
		{"/t/" + tok + "/vod/title-000/750k/seg00001.ts", "10.9.9.9", [][]byte{newKey}, "/vod/title-000/750k/seg00001.ts", nil},
		{"/t/" + tok + "/vod/title-001/master.m3u8", "10.9.9.9", [][]byte{newKey}, "", ErrScope},
		{"/t/" + bound + "/vod/x.ts", "10.0.0.1", [][]byte{newKey}, "/vod/x.ts", nil},
		{"/t/" + bound + "/vod/x.ts", "10.0.0.2", [][]byte{newKey}, "", ErrScope},
		{"/t/" + expired + "/vod/x.ts", "", [][]byte{newKey}, "", ErrExpired},
		{"/t/" + byOld + "/vod/x.ts", "", [][]byte{newKey, oldKey}, "/vod/x.ts", nil}, // rotation: both keys
		{"/t/" + byOld + "/vod/x.ts", "", [][]byte{newKey}, "", ErrInvalid},           // the old key retired
		{"/t/" + tampered + "/vod/title-000/x.ts", "", [][]byte{newKey}, "", ErrInvalid},
		{"/vod/title-000/x.ts", "", [][]byte{newKey}, "", ErrMissing},
		{"/t//vod/x.ts", "", [][]byte{newKey}, "", ErrInvalid},
		{"/t/garbage/vod/x.ts", "", [][]byte{newKey}, "", ErrInvalid},
		{"/t/" + strings.Repeat("a", 600) + "/vod/x.ts", "", [][]byte{newKey}, "", ErrInvalid},
	}
	for _, tt := range tests {
		got, err := Check(tt.keys, tt.path, tt.client, now)
		if !errors.Is(err, tt.err) || got != tt.want {
			t.Errorf("Check(%.60q) = %q, %v; want %q, %v", tt.path, got, err, tt.want, tt.err)
		}
	}
}

func TestParseKeys(t *testing.T) {
	ks, err := ParseKeys("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=, ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA=")
	if err != nil || len(ks) != 2 || string(ks[0]) != string(oldKey) {
		t.Fatalf("ParseKeys: %v %d", err, len(ks))
	}
	if _, err := ParseKeys("c2hvcnQ="); err == nil {
		t.Error("a 5-byte key was accepted")
	}
}

func FuzzCheck(f *testing.F) {
	f.Add("/t/" + Sign(newKey, Claims{Prefix: "/vod/", Expires: now.Add(time.Hour)}) + "/vod/x.ts")
	f.Add("/t/v1~1~Lw~~AAAAAAAAAAAAAAAAAAAAAA/vod/x")
	f.Add("/t/~~~/")
	f.Fuzz(func(t *testing.T, path string) {
		inner, err := Check([][]byte{newKey}, path, "", now)
		if err != nil {
			return
		}
		// Whatever passes was signed by the key for a prefix of the inner path.
		if !strings.HasPrefix(path, PathPrefix) || !strings.HasSuffix(path, inner) || !strings.HasPrefix(inner, "/") {
			t.Fatalf("Check(%q) passed with inner path %q", path, inner)
		}
	})
}

// TestOneSpelling: the last character of a signature carries 4 padding bits; a token that sets
// them decodes to the same signature in lenient base64 but is refused, so a token has one spelling.
func TestOneSpelling(t *testing.T) {
	tok := Sign(newKey, Claims{Prefix: "/vod/", Expires: now.Add(time.Hour)})
	if _, err := Parse([][]byte{newKey}, tok); err != nil {
		t.Fatal(err)
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, tok[len(tok)-1])
	respelled := tok[:len(tok)-1] + string(alphabet[last|1]) // same 2 data bits, one padding bit set
	if _, err := Parse([][]byte{newKey}, respelled); !errors.Is(err, ErrInvalid) {
		t.Errorf("a token with padding bits set: %v, want ErrInvalid", err)
	}
}
