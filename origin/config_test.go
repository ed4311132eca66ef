package origin

import (
	"flag"
	"testing"
)

// TestPlaylistMaxAgeZero: --playlist-max-age 0 sends max-age=0 on playlists and catalog.json
// (it sent the default max-age=2).
func TestPlaylistMaxAgeZero(t *testing.T) {
	dir, cat := testContent(t)
	cfg := DefaultConfig()
	fs := flag.NewFlagSet("origin", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	if err := fs.Parse([]string{"--content", dir, "--playlist-max-age", "0"}); err != nil {
		t.Fatal(err)
	}
	_, base := start(t, cfg)
	for _, p := range []string{"/catalog.json", "/vod/" + cat.Titles[0].Name + "/master.m3u8"} {
		if got := do(t, "GET", base+p, nil).header.Get("Cache-Control"); got != "public, max-age=0" {
			t.Errorf("%s: Cache-Control %q; want public, max-age=0", p, got)
		}
	}
}
