package player_test

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"edgecdn/origin/packager"
	"edgecdn/player-sim/player"
)

// bases is an entry that always gives the same list, in order.
type bases []string

func (b bases) Bases(context.Context, string) ([]string, error)   { return b, nil }
func (b bases) Refresh(context.Context, string) ([]string, error) { return b, nil }

// TestSilentBodyMovesOn: an edge that sends a segment's head and half its body, then nothing
// (its zone cut off mid-segment), costs the player HeaderTimeout, not the whole segment
// Timeout: it takes the segment from the next edge.
func TestSilentBodyMovesOn(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	cat, err := packager.Package(ctx, packager.Config{Out: dir, Titles: 1, Duration: 8 * time.Second, Ladder: "small"})
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	defer close(release)
	serve := func(h http.Handler) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
		go srv.Serve(ln)
		t.Cleanup(func() { srv.Close() })
		return "http://" + ln.Addr().String()
	}
	files := http.StripPrefix("/vod/", http.FileServer(http.Dir(dir)))
	silent := serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := strings.TrimPrefix(r.URL.Path, "/vod/")
		if !strings.HasSuffix(p, ".ts") && !strings.HasSuffix(p, ".m4s") {
			files.ServeHTTP(w, r)
			return
		}
		b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(p)))
		if err != nil || strings.Contains(p, "..") {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		w.Write(b[:len(b)/2])
		w.(http.Flusher).Flush()
		select { // then silence, with the connection open
		case <-release:
		case <-r.Context().Done():
		}
	}))
	good := serve(files)
	done := make(chan *player.Result, 1)
	go func() {
		r, _ := player.Play(ctx, player.Config{Title: cat.Titles[0].Name, Entry: bases{silent, good},
			MaxChunks: 2, Timeout: 10 * time.Minute, HeaderTimeout: 300 * time.Millisecond})
		done <- r
	}()
	select {
	case r := <-done:
		if r == nil || r.Failed || len(r.Chunks) != 2 {
			t.Fatalf("after a silent edge: %+v, want 2 segments from the next edge", r)
		}
		for _, c := range r.Chunks {
			if c.Base != good {
				t.Errorf("segment from %s, want %s", c.Base, good)
			}
		}
		if r.Errors == 0 || !strings.Contains(strings.Join(r.ErrorSamples, "\n"), "no byte in 300ms") {
			t.Errorf("errors %d %q: want the silent body counted", r.Errors, r.ErrorSamples)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("a player still waits on a silent body after 60 s (segment timeout 10 min)")
	}
}
