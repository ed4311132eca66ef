package emucmd

import "testing"

func TestSplitManifestURL(t *testing.T) {
	for _, tc := range []struct{ in, base, title, proto string }{
		{"http://127.0.0.1:9090", "http://127.0.0.1:9090", "", ""},
		{"http://127.0.0.1:9090/", "http://127.0.0.1:9090", "", ""},
		{"http://127.0.0.1:9090/vod/title-000/manifest.mpd", "http://127.0.0.1:9090", "title-000", "dash"},
		{"http://127.0.0.1:9090/vod/title-000/master.m3u8", "http://127.0.0.1:9090", "title-000", "hls"},
		{"http://127.0.0.1:9090/t/tok/vod/title-000/manifest.mpd", "http://127.0.0.1:9090/t/tok", "title-000", "dash"},
	} {
		base, title, proto, err := splitManifestURL(tc.in)
		if err != nil || base != tc.base || title != tc.title || proto != tc.proto {
			t.Errorf("splitManifestURL(%s) = %s %s %s %v; want %s %s %s", tc.in, base, title, proto, err, tc.base, tc.title, tc.proto)
		}
	}
	for _, bad := range []string{"ftp://x/vod/t/manifest.mpd", "http://x/manifest.mpd", "http://x/vod/t/750k/manifest.mpd", "http://x/vod/../manifest.mpd", "x"} {
		if _, _, _, err := splitManifestURL(bad); err == nil {
			t.Errorf("splitManifestURL(%s): no error", bad)
		}
	}
}
