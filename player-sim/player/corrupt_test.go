package player_test

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"edgecdn/origin/packager"
	"edgecdn/player-sim/player"
)

// corruptingServer serves the content folder, flipping a byte of every segment.
func corruptingServer(t *testing.T, dir, title string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := strings.TrimPrefix(r.URL.Path, "/vod/")
		if r.URL.Path == "/catalog.json" {
			p = "catalog.json"
		}
		b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(p)))
		if err != nil || strings.Contains(p, "..") {
			http.NotFound(w, r)
			return
		}
		if strings.HasSuffix(p, ".ts") || strings.HasSuffix(p, ".m4s") {
			b[len(b)/2] ^= 0xff
		}
		w.Write(b)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

// TestDeadLinkTimesOut: on a link of 1 kbit/s every segment takes minutes; the per-segment
// timeout must cut each wait, so the session ends (failed) within a few timeouts, not minutes.
func TestDeadLinkTimesOut(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	cat, err := packager.Package(ctx, packager.Config{Out: dir, Titles: 1, Duration: 8 * time.Second, Ladder: "small"})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.StripPrefix("/vod/", http.FileServer(http.Dir(dir)))}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	start := time.Now()
	done := make(chan *player.Result, 1)
	go func() {
		// Playlists are read unshaped; segments go through the 1 kbit/s link.
		r, _ := player.Play(ctx, player.Config{Title: cat.Titles[0].Name, Entry: player.URLEntry{Base: "http://" + ln.Addr().String()},
			Link: player.ConstLink(1e3), Timeout: 500 * time.Millisecond})
		done <- r
	}()
	select {
	case r := <-done:
		if r == nil || !r.Failed || len(r.Chunks) != 0 {
			t.Errorf("a dead link: %+v, want a failed session without segments", r)
		}
		t.Logf("session on a dead link ended after %v", time.Since(start).Round(time.Millisecond))
	case <-time.After(60 * time.Second):
		t.Fatal("a session on a 1 kbit/s link with a 500 ms segment timeout still runs after 60 s")
	}
}
