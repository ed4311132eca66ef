package emucmd

import (
	"strings"
	"testing"
	"time"

	"edgecdn/internal/catalog"
	"edgecdn/player-sim/player"
)

func TestSplitManifestURL(t *testing.T) {
	for _, tc := range []struct{ in, base, title, proto string }{
		{"http://127.0.0.1:9090", "http://127.0.0.1:9090", "", ""},
		{"http://127.0.0.1:9090/", "http://127.0.0.1:9090", "", ""},
		{"http://127.0.0.1:9090/vod/title-000/manifest.mpd", "http://127.0.0.1:9090", "title-000", "dash"},
		{"http://127.0.0.1:9090/vod/title-000/master.m3u8", "http://127.0.0.1:9090", "title-000", "hls"},
		{"http://127.0.0.1:9090/t/tok/vod/title-000/manifest.mpd", "http://127.0.0.1:9090/t/tok", "title-000", "dash"},
		{"http://127.0.0.1:9090/vod/title-000/750k/index.m3u8", "http://127.0.0.1:9090", "title-000", "hls"},
		{"http://127.0.0.1:9090/vod/title-000/master.m3u8?token=x", "http://127.0.0.1:9090", "title-000", "hls"},
	} {
		base, title, proto, err := splitManifestURL(tc.in)
		if err != nil || base != tc.base || title != tc.title || proto != tc.proto {
			t.Errorf("splitManifestURL(%s) = %s %s %s %v; want %s %s %s", tc.in, base, title, proto, err, tc.base, tc.title, tc.proto)
		}
	}
	for _, bad := range []string{"ftp://x/vod/t/manifest.mpd", "http://x/manifest.mpd", "http://x/vod/t/750k/manifest.mpd", "http://x/vod/../manifest.mpd", "x", "http://x/vod/t/a/b/index.m3u8", "http://x/vod/t/../index.m3u8"} {
		if _, _, _, err := splitManifestURL(bad); err == nil {
			t.Errorf("splitManifestURL(%s): no error", bad)
		}
	}
}

func TestParseOffset(t *testing.T) {
	for _, tc := range []struct {
		in     string
		offset float64
		fixed  bool
	}{{"random", 0, false}, {"0", 0, true}, {"12.5", 12.5, true}} {
		o, f, err := parseOffset(tc.in)
		if err != nil || o != tc.offset || f != tc.fixed {
			t.Errorf("parseOffset(%q) = %v %v %v", tc.in, o, f, err)
		}
	}
	for _, bad := range []string{"-1", "NaN", "soon", "1e12"} {
		if _, _, err := parseOffset(bad); err == nil {
			t.Errorf("parseOffset(%q): no error", bad)
		}
	}
}

func TestProgressLine(t *testing.T) {
	b := &progressBar{media: 100, width: 10}
	got := b.line(player.FleetProgress{Done: 1, Started: 4, Total: 4, MediaS: 200, Elapsed: 50 * time.Second})
	// Half the media fetched in 50 s: 50 s more by the share fetched, and 50 s of media to play.
	if want := "[#####.....]  50%  players 1/4 done, 4 started, ~50s left"; got != want {
		t.Errorf("line = %q, want %q", got, want)
	}
	got = b.line(player.FleetProgress{Done: 4, Started: 4, Total: 4, MediaS: 400, Elapsed: 90 * time.Second})
	if !strings.HasPrefix(got, "[##########] 100%") || !strings.HasSuffix(got, "~0s left") {
		t.Errorf("finished: %q", got)
	}
	b = &progressBar{width: 4}
	if got := b.line(player.FleetProgress{Done: 0, Started: 2, Total: 2}); strings.Contains(got, "left") {
		t.Errorf("no estimate possible, yet %q", got)
	}
}

// FuzzParseOffset: --trace-offset never panics and accepts only random or seconds in range.
func FuzzParseOffset(f *testing.F) {
	for _, s := range []string{"random", "0", "12.5", "-1", "NaN", "Inf", "1e12", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		o, fixed, err := parseOffset(s)
		if err == nil && fixed && !(o >= 0 && o <= 1e9) {
			t.Errorf("parseOffset(%q) = %v, accepted out of range", s, o)
		}
	})
}

// FuzzSplitManifestURL: --url never panics, and a title it finds is a valid title name.
func FuzzSplitManifestURL(f *testing.F) {
	for _, s := range []string{"http://127.0.0.1:9090", "http://h/vod/t/master.m3u8", "http://h/vod/t/750k/index.m3u8", "http://h/vod/t/manifest.mpd", "http://h/vod/../x.m3u8", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		base, title, proto, err := splitManifestURL(s)
		if err != nil {
			return
		}
		if title != "" && (!catalog.ValidName(title) || (proto != player.ProtocolHLS && proto != player.ProtocolDASH)) {
			t.Errorf("splitManifestURL(%q) = %q %q %q", s, base, title, proto)
		}
	})
}
