package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"edgecdn/internal/harness"
)

// workWithBinary makes a temporary folder for a scenario (the caller removes it) and builds the
// edgecdn binary into it.
func workWithBinary(ctx context.Context, scenario string) (work, bin string, err error) {
	if work, err = os.MkdirTemp("", "edgecdn-bench-"+scenario+"-"); err != nil {
		return "", "", err
	}
	if bin, err = buildEdgecdn(ctx, work); err != nil {
		os.RemoveAll(work)
		return "", "", err
	}
	return work, bin, nil
}

// buildEdgecdn builds the edgecdn binary into dir and returns its path.
func buildEdgecdn(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "edgecdn")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/edgecdn")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v: %s", err, out)
	}
	return bin, nil
}

// proc is a server process the bench started.
type proc struct {
	name string
	cmd  *exec.Cmd
	addr string
	done chan struct{} // closed when it has exited
}

// startProc starts cmd (a server the bench drives but did not build: nginx, HAProxy, Varnish)
// and returns its proc, whose done closes when the process has exited and been waited for.
func startProc(cmd *exec.Cmd, name, addr string) (*proc, error) {
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &proc{name: name, cmd: cmd, addr: addr, done: make(chan struct{})}
	go func() { cmd.Wait(); close(p.done) }()
	return p, nil
}

func (p *proc) stop() {
	if p == nil || p.cmd == nil || p.cmd.Process == nil {
		return
	}
	p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// procGOGC is the GOGC of the processes startEdgecdn starts: 400 trades memory for throughput in
// the throughput scenarios; "" leaves Go's default (the soak measures memory as deployed).
var procGOGC = "400"

// startEdgecdn runs an edgecdn subcommand on a free loopback port, waiting for the line that
// logs its address.
func startEdgecdn(ctx context.Context, bin, name, sub string, args ...string) (*proc, error) {
	// Stopped only at the end of a scenario, with no traffic left to drain.
	args = append([]string{sub, "--listen", "127.0.0.1:0", "--drain-delay", "0s", "--log-format", "json", "--log-level", "info"}, args...)
	cmd := serverCommand(ctx, bin, args...)
	cmd.Env = os.Environ()
	if procGOGC != "" {
		cmd.Env = append(cmd.Env, "GOGC="+procGOGC)
	}
	p, err := harness.Start(cmd, name, sub+" listening", 60*time.Second)
	if err != nil {
		return nil, err
	}
	return &proc{name: name, cmd: cmd, addr: p.Addr, done: p.Done}, nil
}

// freePort returns a loopback port that was free a moment ago.
func freePort() (int, error) { return harness.FreePort() }

// waitHTTP polls url until it answers 200 or d passes.
func waitHTTP(url string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		resp, err := http.Get(url)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not answering 200 within %v (last: %v)", url, d, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// warm fetches url n times, so caches hold it before measuring.
func warm(url string, n int) error {
	for i := 0; i < n; i++ {
		resp, err := http.Get(url)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("warming %s: %s", url, resp.Status)
		}
	}
	return nil
}

var httpClient = &http.Client{Timeout: 30 * time.Second}
