package main

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"edgecdn/cmd/edgecdn/commands"
	"edgecdn/internal/catalog"
	"edgecdn/internal/testenv"
)

var bin string

// TestMain builds the real binary once; the tests run it as users do.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "edgecdn-bin-")
	if err != nil {
		panic(err)
	}
	bin = filepath.Join(dir, "edgecdn")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		panic("go build: " + err.Error() + "\n" + string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func run(t *testing.T, env []string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return stdout.String(), stderr.String(), code
}

func TestVersionAndHelp(t *testing.T) {
	out, _, code := run(t, nil, "--version")
	if code != 0 || !strings.HasPrefix(out, "edgecdn ") {
		t.Errorf("--version: %q, exit %d", out, code)
	}
	for name := range commands.Commands() {
		out, _, code := run(t, nil, name, "--help")
		_, example, _ := strings.Cut(out, "Example:\n")
		if code != 0 || !strings.Contains(example, "edgecdn "+name+" ") || !strings.Contains(out, "[EDGECDN_") {
			t.Errorf("%s --help (exit %d) lacks an example or the environment variables:\n%s", name, code, out)
		}
	}
	if _, errOut, code := run(t, nil, "nope"); code != 2 || !strings.Contains(errOut, "unknown command") {
		t.Errorf("unknown command: exit %d, %q", code, errOut)
	}
	if _, errOut, code := run(t, nil, "package", "--no-such-flag"); code == 0 || !strings.Contains(errOut, "no-such-flag") {
		t.Errorf("bad flag: exit %d, %q", code, errOut)
	}
	if _, errOut, code := run(t, []string{"EDGECDN_TITLES=many"}, "package", "--out", t.TempDir()); code == 0 || !strings.Contains(errOut, "EDGECDN_TITLES") {
		t.Errorf("bad environment value: exit %d, %q", code, errOut)
	}
}

func TestPackageFromEnvironment(t *testing.T) {
	dir := t.TempDir()
	// Flags from the environment; the command line wins over it (--titles 2 beats EDGECDN_TITLES=5).
	_, errOut, code := run(t, []string{"EDGECDN_OUT=" + dir, "EDGECDN_LADDER=small", "EDGECDN_DURATION=8s", "EDGECDN_TITLES=5"},
		"package", "--titles", "2", "--log-level", "warn")
	if code != 0 {
		t.Fatalf("package: exit %d: %s", code, errOut)
	}
	cat, err := catalog.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(cat.Titles) != 2 || cat.Titles[0].Ladder != "small" || cat.Titles[0].DurationS != 8 {
		t.Errorf("catalog: %d titles, ladder %s, %v s; want 2, small, 8", len(cat.Titles), cat.Titles[0].Ladder, cat.Titles[0].DurationS)
	}
}

// startOrigin runs `edgecdn origin` on a free loopback port and returns it and its base URL.
func startOrigin(t *testing.T, content string) (*proc, string) {
	t.Helper()
	p := startProc(t, "origin", "origin listening", bin, "origin", "--content", content, "--listen", "127.0.0.1:0", "--log-format", "json")
	return p, "http://" + p.Addr
}

func TestOriginProcess(t *testing.T) {
	dir := t.TempDir()
	if _, errOut, code := run(t, nil, "package", "--out", dir, "--titles", "1", "--ladder", "small", "--duration", "8s"); code != 0 {
		t.Fatal(errOut)
	}
	origin, base := startOrigin(t, dir)
	for _, p := range []string{"/healthz", "/readyz", "/vod/title-000/master.m3u8", "/catalog.json"} {
		resp, err := http.Get(base + p)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("GET %s: %d", p, resp.StatusCode)
		}
	}
	// SIGTERM: a clean exit.
	origin.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-origin.Done:
		if !origin.Cmd.ProcessState.Success() {
			t.Errorf("origin after SIGTERM: %v", origin.Cmd.ProcessState)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("origin did not exit within 30 s of SIGTERM")
	}
}

func TestOriginBadContent(t *testing.T) {
	_, errOut, code := run(t, nil, "origin", "--content", "/nonexistent/edgecdn", "--listen", "127.0.0.1:0")
	if code == 0 || !strings.Contains(errOut, "/nonexistent/edgecdn") {
		t.Errorf("origin on a missing folder: exit %d, %q", code, errOut)
	}
}

// TestFFmpegReadsTitleThroughOrigin: a real player-grade client (ffmpeg's HLS demuxer) reads a
// whole ffmpeg-packaged title, every rendition, through the origin over HTTP.
func TestFFmpegReadsTitleThroughOrigin(t *testing.T) {
	ffmpeg := testenv.Tool(t, "ffmpeg")
	dir := t.TempDir()
	if _, errOut, code := run(t, nil, "package", "--out", dir, "--ffmpeg", "--duration", "8s", "--preset", "ultrafast"); code != 0 {
		t.Fatal(errOut)
	}
	_, base := startOrigin(t, dir)
	cat, err := catalog.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	title := cat.Titles[0]
	args := []string{"-hide_banner", "-nostdin", "-v", "error", "-xerror", "-i", base + "/vod/" + title.Name + "/master.m3u8"}
	for i := range title.Renditions {
		args = append(args, "-map", "0:p:"+strconv.Itoa(i))
	}
	args = append(args, "-c", "copy", "-f", "null", "-")
	cmd := exec.Command(ffmpeg, args...)
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "" {
		t.Fatalf("ffmpeg -i %s/vod/%s/master.m3u8: %v\n%s", base, title.Name, err, out)
	}
}
