package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"edgecdn/player-sim/player"
)

// TestDemo runs a bounded demo to its report: every player plays to the end, no segment is
// corrupt, and the CDN report is printed.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("the demo takes about 20 s")
	}
	var out bytes.Buffer
	jsonPath := filepath.Join(t.TempDir(), "report.json")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	err := Run(ctx, Config{Titles: 2, Duration: 16 * time.Second, Players: 8, Rate: 20, FFmpeg: false, JSON: jsonPath, Out: &out,
		TraceDir: "../player-sim/testdata/traces/oboe"})
	if err != nil && !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	if err != nil {
		// No trace sample in this checkout: unshaped links.
		out.Reset()
		if err := Run(ctx, Config{Titles: 2, Duration: 16 * time.Second, Players: 8, Rate: 20, JSON: jsonPath, Out: &out}); err != nil {
			t.Fatalf("demo: %v\n%s", err, out.String())
		}
	}
	b, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var rep player.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Players != 8 || rep.Failed != 0 || rep.Corrupt != 0 || rep.Segments < 8*4 {
		t.Errorf("report: %d players, %d failed, %d corrupt, %d segments\n%s", rep.Players, rep.Failed, rep.Corrupt, rep.Segments, out.String())
	}
	for _, want := range []string{"what the players saw", "what the CDN did", "origin offload", "edge-a1"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	t.Logf("\n%s", out.String())
}
