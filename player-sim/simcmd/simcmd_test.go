package simcmd

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"edgecdn/player-sim/abr"
)

const sample = "../testdata/traces/oboe"

func TestRun(t *testing.T) {
	dir := t.TempDir()
	jsonPath, plotPath := filepath.Join(dir, "out.json"), filepath.Join(dir, "qoe.png")
	var out bytes.Buffer
	if err := Run([]string{"--traces", sample, "--json", jsonPath}, &out, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), abr.Default) || !strings.Contains(out.String(), "QoE_lin mean") {
		t.Errorf("table = %q, want the default ABR's line", out.String())
	}
	var top map[string]any
	b, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &top); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"traces", "qoe_lin_mean", "qoe_lin_median", "bitrate_kbps_mean", "rebuffer_s_mean", "per_trace"} {
		if _, ok := top[k]; !ok {
			t.Errorf("JSON has no top-level %q: %s", k, b[:min(len(b), 300)])
		}
	}
	var r Result
	if err := json.Unmarshal(b, &r); err != nil || r.Traces != 20 || len(r.PerTrace) != 20 || r.PerTrace[0].Name != "0001.txt" {
		t.Errorf("JSON = %+v (%v), want 20 traces, 0001.txt first", r, err)
	}

	out.Reset()
	if err := Run([]string{"--traces", sample, "--abr", "all", "--plot", plotPath, "--video", "../../internal/envivio"}, &out, &out); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"bba", "bola", "dynamic", "mdp", "robustmpc", "targetmpc", "throughput"} {
		if !strings.Contains(out.String(), n) {
			t.Errorf("--abr all table lacks %s:\n%s", n, out.String())
		}
	}
	png, err := os.ReadFile(plotPath)
	if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Errorf("--plot wrote %d bytes (%v), want a PNG", len(png), err)
	}
}

func TestRunBadInput(t *testing.T) {
	dir := t.TempDir()
	mk := func(name string, files map[string]string) string {
		d := filepath.Join(dir, name)
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		for n, s := range files {
			if err := os.WriteFile(filepath.Join(d, n), []byte(s), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return d
	}
	good := "0 1\n1 2\n"
	malformed := mk("malformed", map[string]string{"a.txt": good, "b.txt": "0 1\n1 two\n"})
	empty := mk("empty", map[string]string{"a.txt": ""})
	unreadable := mk("unreadable", map[string]string{"a.txt": good})
	if err := os.Symlink(filepath.Join(dir, "nowhere"), filepath.Join(unreadable, "b.txt")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no traces flag", nil, "--traces DIR is required"},
		{"missing folder", []string{"--traces", filepath.Join(dir, "missing")}, "no such file"},
		{"malformed line", []string{"--traces", malformed}, "trace b.txt line 2: throughput"},
		{"empty trace", []string{"--traces", empty}, "trace a.txt: 0 samples"},
		{"unreadable trace", []string{"--traces", unreadable}, "b.txt"},
		{"bad abr", []string{"--traces", sample, "--abr", "pensieve"}, `unknown ABR "pensieve"`},
		{"bad video", []string{"--traces", sample, "--video", dir}, "video_size_0"},
		{"bad flag", []string{"--trace", sample}, "flag provided but not defined"},
		{"extra argument", []string{"--traces", sample, "oboe"}, "unexpected argument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := Run(tt.args, &out, &out)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Run(%q) error = %v, want one containing %q", tt.args, err, tt.want)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	var out bytes.Buffer
	if err := Run([]string{"--help"}, &out, &out); !errors.Is(err, ErrHelp) {
		t.Fatalf("--help: error = %v, want ErrHelp", err)
	}
	for _, s := range []string{"--traces", "--abr", "EDGECDN_TRACES", "Example:"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("help lacks %q:\n%s", s, out.String())
		}
	}
}
