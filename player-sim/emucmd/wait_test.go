package emucmd

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"edgecdn/origin"
	"edgecdn/origin/packager"
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

// TestJSONOnStdout: --json - prints the JSON report on stdout after the table, from the line
// "{" to the end, with the contract's top-level fields; --json FILE still writes the file.
func TestJSONOnStdout(t *testing.T) {
	dir := t.TempDir()
	quiet := slog.New(slog.DiscardHandler)
	if _, err := packager.Package(context.Background(), packager.Config{Out: dir, Titles: 1, Duration: 8 * time.Second, Ladder: "small", Logger: quiet}); err != nil {
		t.Fatal(err)
	}
	o, err := origin.New(origin.Config{Content: dir, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go o.Serve(ln)
	defer o.Shutdown(context.Background())
	base := "http://" + ln.Addr().String()
	file := filepath.Join(t.TempDir(), "report.json")
	for _, out := range []string{"-", file} {
		var stdout, stderr bytes.Buffer
		if err := Run([]string{"--url", base, "--players", "2", "--duration", "4s", "--wait", "10s", "--json", out}, &stdout, &stderr); err != nil {
			t.Fatalf("--json %s: %v\n%s", out, err, stderr.String())
		}
		text := stdout.String()
		i := strings.Index(text, "\n{")
		if out == file {
			if i >= 0 {
				t.Errorf("--json FILE also printed JSON on stdout")
			}
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			text, i = "\n"+string(b), 0
		} else if i < 0 {
			t.Fatalf("--json -: no JSON report on stdout:\n%s", text)
		}
		var rep map[string]any
		if err := json.Unmarshal([]byte(text[i+1:]), &rep); err != nil {
			t.Fatalf("--json %s: the report from the line { on is not JSON: %v", out, err)
		}
		for _, k := range []string{"players", "qoe_lin_mean", "rebuffer_ratio", "startup_ms_p50", "bitrate_kbps_mean", "switches_mean", "edge_switches", "errors", "per_player"} {
			if _, ok := rep[k]; !ok {
				t.Errorf("--json %s: no %q in the report", out, k)
			}
		}
	}
}
