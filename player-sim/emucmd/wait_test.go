package emucmd

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"edgecdn/player-sim/player"
)

// TestWaitEntry: with --wait, player-sim waits while steering answers 503 on /readyz and then
// while its ranked edge does not serve the title yet, and starts once both do; without it, or
// past the deadline, it fails with the reason.
func TestWaitEntry(t *testing.T) {
	var readyAfter, servingAfter atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now().UnixNano()
		switch {
		case r.URL.Path == "/readyz" && now < readyAfter.Load():
			http.Error(w, "not ready", http.StatusServiceUnavailable)
		case r.URL.Path == "/readyz":
			w.Write([]byte("ready\n"))
		case strings.HasPrefix(r.URL.Path, "/steer/"):
			w.Write([]byte(`{"edges":[{"url":"http://` + r.Host + `","healthy":true}]}`))
		case r.URL.Path == "/vod/t/master.m3u8" && now >= servingAfter.Load():
			w.Write([]byte("#EXTM3U\n"))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	entry := func(int) player.Entry { return &player.SteeringEntry{URL: srv.URL} }
	ctx := context.Background()

	readyAfter.Store(time.Now().Add(time.Hour).UnixNano())
	if _, err := waitEntry(ctx, 0, srv.URL, entry, []string{"t"}, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("no --wait, steering not ready: %v, want an error naming the 503", err)
	}
	if _, err := waitEntry(ctx, time.Second, srv.URL, entry, []string{"t"}, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "--wait 1s") {
		t.Errorf("--wait 1s, steering never ready: %v, want an error naming --wait", err)
	}

	start := time.Now()
	readyAfter.Store(start.Add(1500 * time.Millisecond).UnixNano())
	servingAfter.Store(start.Add(3 * time.Second).UnixNano())
	var log bytes.Buffer
	ts, err := waitEntry(ctx, 20*time.Second, srv.URL, entry, []string{"t"}, &log)
	waited := time.Since(start)
	if err != nil || len(ts) != 1 || ts[0] != "t" {
		t.Fatalf("waitEntry = %q, %v", ts, err)
	}
	if waited < 3*time.Second {
		t.Errorf("started after %v, before the edge served the title (3 s)", waited)
	}
	if !strings.Contains(log.String(), "503") || !strings.Contains(log.String(), "404") {
		t.Errorf("the wait's log does not say what it waited for:\n%s", log.String())
	}
}
