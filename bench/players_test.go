package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// countingServer serves dir under /vod/ and counts the requests for each path.
type countingServer struct {
	*httptest.Server
	mu   sync.Mutex
	hits map[string]int
}

func newCountingServer(t *testing.T, h http.Handler) *countingServer {
	cs := &countingServer{hits: map[string]int{}}
	cs.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cs.mu.Lock()
		cs.hits[r.URL.Path]++
		cs.mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(cs.Close)
	return cs
}

func (cs *countingServer) count(path string) int {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return cs.hits[path]
}

func (cs *countingServer) total() int {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	n := 0
	for _, c := range cs.hits {
		n += c
	}
	return n
}

// TestPlayerLoadFollowsRedirectOnce: through a tier 2 that answers every request with a 302 to
// the edge, each session sends exactly one request to the tier 2 (the multivariant playlist)
// and fetches the media playlist and every segment from the edge, relative to the URL the
// playlists came from; straight to the edge nothing is redirected.
func TestPlayerLoadFollowsRedirectOnce(t *testing.T) {
	content := t.TempDir()
	if err := os.MkdirAll(filepath.Join(content, "bench", "r"), 0o755); err != nil {
		t.Fatal(err)
	}
	titles, err := writePlayerTitles(content)
	if err != nil {
		t.Fatal(err)
	}
	title := titles[0] // 100 KB
	if err := os.WriteFile(filepath.Join(content, "bench", "r", "100k.ts"), make([]byte, title.segment), 0o644); err != nil {
		t.Fatal(err)
	}
	edge := newCountingServer(t, http.StripPrefix("/vod/", http.FileServer(http.Dir(content))))
	tier2 := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, edge.URL+r.URL.RequestURI(), http.StatusFound)
	}))

	const players, sessions, segments = 3, 4, 5
	for _, tc := range []struct {
		name          string
		start         *countingServer
		redirects     int
		startRequests int
	}{
		{"redirect", tier2, players * sessions, players * sessions},
		{"direct", edge, 0, players * sessions * (2 + segments)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := edge.total()
			l := &playerLoad{Start: tc.start.URL + title.master, Players: players, Segments: segments, Duration: time.Minute,
				MaxSessions: sessions, Timeout: 10 * time.Second}
			r, err := l.run(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if r.Errors != 0 {
				t.Fatalf("%d errors, first: %v", r.Errors, r.FirstErr)
			}
			want := playerResult{Sessions: players * sessions, Segments: players * sessions * segments,
				Bytes: int64(players * sessions * segments * title.segment), Redirects: tc.redirects, StartRequests: tc.startRequests}
			got := playerResult{Sessions: r.Sessions, Segments: r.Segments, Bytes: r.Bytes, Redirects: r.Redirects, StartRequests: r.StartRequests}
			if got != want {
				t.Errorf("got %+v, want %+v", got, want)
			}
			if r.SegP50 <= 0 || r.SegP99 < r.SegP50 || r.StartP50 <= 0 {
				t.Errorf("latencies p50 %v p99 %v start %v", r.SegP50, r.SegP99, r.StartP50)
			}
			if got := edge.total() - before; got != players*sessions*(2+segments) {
				t.Errorf("edge answered %d requests, want %d", got, players*sessions*(2+segments))
			}
		})
	}
	// Only the multivariant playlist went to the tier 2; the rest resolved to the edge.
	if got := tier2.count(title.master); got != players*sessions || tier2.total() != got {
		t.Errorf("tier 2 answered %d requests (%d for %s), want %d, all for the multivariant playlist", tier2.total(), got, title.master, players*sessions)
	}
	if got := edge.count("/vod/bench/r/media-100k.m3u8"); got != 2*players*sessions {
		t.Errorf("edge served the media playlist %d times, want %d", got, 2*players*sessions)
	}
	if got := edge.count("/vod/bench/r/100k.ts"); got != 2*players*sessions*segments {
		t.Errorf("edge served the segment %d times, want %d", got, 2*players*sessions*segments)
	}
}

// TestPlayerLoadRefuses: a redirect off loopback is not followed, and a second redirect in one
// request is an error; each counts as a failed session.
func TestPlayerLoadRefuses(t *testing.T) {
	var loop *countingServer
	loop = newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, loop.URL+r.URL.RequestURI(), http.StatusFound)
	}))
	away := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://192.0.2.1:80"+r.URL.RequestURI(), http.StatusFound)
	}))
	for _, tc := range []struct {
		name, start, want string
	}{
		{"loop", loop.URL, "redirected twice"},
		{"off loopback", away.URL, "only http://LOOPBACK-IP:PORT/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := &playerLoad{Start: tc.start + "/vod/t/master.m3u8", Players: 2, Segments: 2, Duration: time.Minute, MaxSessions: 3, Timeout: 10 * time.Second}
			r, err := l.run(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if r.Errors != 6 || r.Sessions != 0 || r.Segments != 0 || r.FirstErr == nil || !strings.Contains(r.FirstErr.Error(), tc.want) {
				t.Errorf("errors %d sessions %d segments %d first %v, want 6 errors naming %q", r.Errors, r.Sessions, r.Segments, r.FirstErr, tc.want)
			}
		})
	}
	if _, err := (&playerLoad{Start: "http://example.com/x", Players: 1, Segments: 1, Duration: time.Second, MaxSessions: 1, Timeout: time.Second}).run(context.Background()); err == nil {
		t.Error("a start URL off loopback was accepted")
	}
}
