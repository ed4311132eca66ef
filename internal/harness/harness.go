// Package harness starts edgecdn processes and watches them: free ports, a process that counts
// as started once it logs its listening line, polling until a condition holds, a metric read
// from /metrics, a median. The binary's process tests and bench share it.
package harness

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// FreePorts returns n loopback ports that were free for both TCP and UDP a moment ago
// (memberlist binds both on its gossip port).
func FreePorts(n int) ([]int, error) {
	var ports []int
	var closers []io.Closer
	defer func() {
		for _, c := range closers {
			c.Close()
		}
	}()
	for tries := 0; len(ports) < n && tries < 200; tries++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		closers = append(closers, l)
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		closers = append(closers, u)
		ports = append(ports, port)
	}
	if len(ports) < n {
		return nil, fmt.Errorf("found %d of %d free TCP+UDP ports", len(ports), n)
	}
	return ports, nil
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// Proc is a started server process.
type Proc struct {
	Name string
	Cmd  *exec.Cmd
	Addr string        // HOST:PORT from its listening line
	Done chan struct{} // closed when the process has exited
	Log  *LogTail      // its stdout and stderr
}

// Start starts cmd and waits, up to d, for its first JSON log line whose msg is want and that
// has an addr (`{"msg":"edge listening","addr":"127.0.0.1:9090"}`): then it is serving. cmd's
// stdout and stderr go to the Proc's LogTail. A process that exits first, or is not listening
// by then (it is killed), is an error that quotes the end of its log.
func Start(cmd *exec.Cmd, name, want string, d time.Duration) (*Proc, error) {
	p := &Proc{Name: name, Cmd: cmd, Done: make(chan struct{}), Log: &LogTail{want: want, found: make(chan string, 1)}}
	cmd.Stdout, cmd.Stderr = p.Log, p.Log
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	go func() { cmd.Wait(); close(p.Done) }()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case p.Addr = <-p.Log.found:
		return p, nil
	case <-p.Done:
		return nil, fmt.Errorf("%s exited before listening (%v):\n%s", name, cmd.ProcessState, p.Log)
	case <-t.C:
		cmd.Process.Kill()
		<-p.Done
		return nil, fmt.Errorf("%s did not log %q within %v:\n%s", name, want, d, p.Log)
	}
}

// LogTail keeps the last lines a process wrote and finds its listening line.
type LogTail struct {
	want  string
	found chan string

	mu    sync.Mutex
	part  []byte
	lines []string
	sent  bool
}

// tailLines is how many of the last lines a LogTail keeps.
const tailLines = 60

// Write implements io.Writer.
func (l *LogTail) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.part = append(l.part, p...)
	for {
		i := bytes.IndexByte(l.part, '\n')
		if i < 0 {
			break
		}
		line := string(l.part[:i])
		l.part = l.part[i+1:]
		if len(l.lines) == tailLines {
			l.lines = l.lines[1:]
		}
		l.lines = append(l.lines, line)
		var rec struct{ Msg, Addr string }
		if !l.sent && json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == l.want && rec.Addr != "" {
			l.sent = true
			l.found <- rec.Addr
		}
	}
	return len(p), nil
}

// String returns the last lines.
func (l *LogTail) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// Poll calls cond every interval until it holds and returns how long that took. After d, or
// once ctx ends, it returns an error with cond's last account of what it saw.
func Poll(ctx context.Context, d, interval time.Duration, cond func() (bool, string)) (time.Duration, error) {
	start := time.Now()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		ok, status := cond()
		if ok {
			return time.Since(start), nil
		}
		if time.Since(start) > d {
			return time.Since(start), fmt.Errorf("not within %v; last seen: %s", d, status)
		}
		select {
		case <-ctx.Done():
			return time.Since(start), ctx.Err()
		case <-t.C:
		}
	}
}

// Each makes a Poll condition over n things that each hold once and then count as done, such
// as every survivor seeing a member dead: cond(i) is asked of each thing not done yet, at every
// poll, and says what it saw when it does not hold. when[i] is how long after since thing i
// first held (0 until it does); all holds once every thing has, with the accounts of the
// others.
func Each(n int, since time.Time, cond func(i int) (bool, string)) (when []time.Duration, all func() (bool, string)) {
	when = make([]time.Duration, n)
	done := make([]bool, n)
	return when, func() (bool, string) {
		var status []string
		for i := range n {
			if done[i] {
				continue
			}
			if ok, st := cond(i); ok {
				done[i], when[i] = true, time.Since(since)
			} else {
				status = append(status, st)
			}
		}
		return len(status) == 0, strings.Join(status, "; ")
	}
}

// T is the part of testing.TB the test helpers here use.
type T interface {
	Helper()
	Fatalf(format string, args ...any)
	Cleanup(func())
}

// Eventually polls cond every 5 ms until it holds and returns how long that took; after d it
// fails the test, saying what it waited for.
func Eventually(t T, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	took, err := Poll(context.Background(), d, 5*time.Millisecond, func() (bool, string) { return cond(), what })
	if err != nil {
		t.Fatalf("not within %v: %s", d, what)
	}
	return took
}

// Server is what each component's server offers to run it: serve a listener, stop gracefully.
type Server interface {
	Serve(ln net.Listener) error
	Shutdown(ctx context.Context) error
}

// ServeLoopback serves srv on a free loopback port until the test ends (then Shutdown, with
// 10 s for in-flight requests, and the end of Serve) and returns its base URL,
// http://127.0.0.1:PORT.
func ServeLoopback(t T, srv Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	done := make(chan struct{})
	go func() { srv.Serve(ln); close(done) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-done
	})
	return "http://" + ln.Addr().String()
}

// Metric returns the sum of the samples of series on the Prometheus text endpoint of addr
// (http://addr/metrics). series is a metric name, which sums every label set
// ("edgecdn_edge_requests_total"), or a name with labels as the endpoint writes them
// (`edgecdn_edge_requests_total{kind="segment",result="hit"}`). A series with no sample is 0.
func Metric(c *http.Client, addr, series string) (float64, error) {
	series = strings.TrimSpace(series)
	resp, err := c.Get("http://" + addr + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET %s/metrics: %s", addr, resp.Status)
	}
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), series)
		if !ok || rest == "" || (rest[0] != ' ' && (rest[0] != '{' || strings.HasSuffix(series, "}"))) {
			continue
		}
		f := strings.Fields(rest)
		if v, err := strconv.ParseFloat(f[len(f)-1], 64); err == nil {
			sum += v
		}
	}
	return sum, sc.Err()
}

// Median returns the median of s (the mean of the two middle values for an even count), 0 for
// none. s is not changed.
func Median[T ~int64 | ~float64](s []T) T {
	if len(s) == 0 {
		return 0
	}
	c := slices.Clone(s)
	slices.Sort(c)
	if len(c)%2 == 1 {
		return c[len(c)/2]
	}
	return (c[len(c)/2-1] + c[len(c)/2]) / 2
}

// BlackHole listens on a loopback port that accepts TCP connections and never answers, as a dead
// pod address whose packets are dropped does to a gossip join: each attempt costs the join
// timeout. It returns its address; the test's end closes it and every connection it took.
func BlackHole(t T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("black hole: %v", err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}
