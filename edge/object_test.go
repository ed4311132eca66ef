package edge

import "testing"

func TestKindOf(t *testing.T) {
	for key, want := range map[string]kind{
		"/vod/t/master.m3u8":         kindPlaylist,
		"/vod/t/manifest.mpd":        kindPlaylist,
		"/vod/t/manifest.mpd?x=1":    kindPlaylist,
		"/vod/t/750k/init.mp4":       kindSegment,
		"/vod/t/750k/seg00000.m4s":   kindSegment,
		"/vod/t/750k/seg00000.ts":    kindSegment,
		"/vod/t/750k/seg00000.m4s/x": kindOther,
	} {
		if got := kindOf([]byte(key)); got != want {
			t.Errorf("kindOf(%s) = %s, want %s", key, kindNames[got], kindNames[want])
		}
	}
}
