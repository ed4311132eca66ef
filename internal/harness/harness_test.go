package harness

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestMedian(t *testing.T) {
	for _, tt := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{10, 1, 2}, 2}, {[]float64{10, 1, 4, 2}, 3}} {
		if got := Median(tt.in); got != tt.want {
			t.Errorf("Median(%v) = %v; want %v", tt.in, got, tt.want)
		}
	}
	ds := []time.Duration{3 * time.Second, time.Second, 2 * time.Second}
	if got := Median(ds); got != 2*time.Second || ds[0] != 3*time.Second {
		t.Errorf("Median(%v) = %v; want 2s and the input unchanged", ds, got)
	}
}

func TestMetric(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "edgecdn_lb_healthy_edges 2\nedgecdn_lb_healthy_edges_remote 7\n"+
			"edgecdn_edge_requests_total{kind=\"segment\",result=\"hit\"} 5\nedgecdn_edge_requests_total{kind=\"segment\",result=\"miss\"} 1.5\n")
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	for series, want := range map[string]float64{
		"edgecdn_lb_healthy_edges":                                 2,
		"edgecdn_lb_healthy_edges ":                                2,
		"edgecdn_edge_requests_total":                              6.5,
		"edgecdn_edge_requests_total{":                             0,
		`edgecdn_edge_requests_total{kind="segment",result="hit"}`: 5,
		"edgecdn_none":                                             0,
	} {
		if got, err := Metric(srv.Client(), addr, series); err != nil || got != want {
			t.Errorf("Metric(%q) = %v, %v; want %v", series, got, err, want)
		}
	}
}

func TestFreePorts(t *testing.T) {
	ports, err := FreePorts(4)
	if err != nil || len(ports) != 4 {
		t.Fatalf("FreePorts(4) = %v, %v", ports, err)
	}
	for _, p := range ports {
		l, err := net.ListenPacket("udp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			t.Errorf("UDP port %d: %v", p, err)
			continue
		}
		l.Close()
	}
}

func TestPoll(t *testing.T) {
	n := 0
	if _, err := Poll(context.Background(), 5*time.Second, time.Millisecond, func() (bool, string) { n++; return n == 3, strconv.Itoa(n) }); err != nil || n != 3 {
		t.Errorf("Poll: %v after %d calls; want done after 3", err, n)
	}
	_, err := Poll(context.Background(), 20*time.Millisecond, time.Millisecond, func() (bool, string) { return false, "never" })
	if err == nil || !strings.Contains(err.Error(), "never") {
		t.Errorf("Poll that never holds: %v; want an error with the last status", err)
	}
}

func TestEach(t *testing.T) {
	asked := make([]int, 3)
	start := time.Now()
	when, all := Each(3, start, func(i int) (bool, string) {
		asked[i]++
		return asked[i] > i, "thing " + strconv.Itoa(i)
	})
	if ok, st := all(); ok || st != "thing 1; thing 2" {
		t.Errorf("first poll: %v, %q; want not done, waiting for things 1 and 2", ok, st)
	}
	if when[0] == 0 || when[1] != 0 {
		t.Errorf("after the first poll, when = %v; want only thing 0 done", when)
	}
	if _, err := Poll(context.Background(), 5*time.Second, time.Millisecond, all); err != nil {
		t.Fatal(err)
	}
	// Done things are not asked again.
	if !slices.Equal(asked, []int{1, 2, 3}) || slices.Contains(when, 0) || slices.Max(when) > time.Since(start) {
		t.Errorf("asked %v, when %v", asked, when)
	}
}

// httpServer is a net/http server as a Server.
type httpServer struct{ *http.Server }

func (s httpServer) Serve(ln net.Listener) error { return s.Server.Serve(ln) }

func TestServeLoopback(t *testing.T) {
	srv := httpServer{&http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") })}}
	var base string
	t.Run("serving", func(t *testing.T) {
		base = ServeLoopback(t, srv)
		resp, err := http.Get(base + "/")
		if err != nil || resp.StatusCode != http.StatusOK || !strings.HasPrefix(base, "http://127.0.0.1:") {
			t.Fatalf("GET %s: %v %v", base, resp, err)
		}
		resp.Body.Close()
	})
	// The subtest's end shut the server down.
	if resp, err := http.Get(base + "/"); err == nil {
		resp.Body.Close()
		t.Errorf("%s still answers after the test's end", base)
	}
	took := Eventually(t, 5*time.Second, "three calls", func() bool { base += "."; return strings.HasSuffix(base, "...") })
	if took <= 0 || took > 5*time.Second {
		t.Errorf("Eventually took %v", took)
	}
}

// TestStart runs this test binary as a process that logs a listening line (the helper below).
func TestStart(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=TestHelperProcess")
	cmd.Env = append(os.Environ(), "HARNESS_HELPER=listen")
	p, err := Start(cmd, "helper", "helper listening", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { p.Cmd.Process.Kill(); <-p.Done }()
	if p.Addr != "127.0.0.1:1234" || !strings.Contains(p.Log.String(), "starting") {
		t.Errorf("addr %q, log %q", p.Addr, p.Log)
	}
	cmd = exec.Command(os.Args[0], "-test.run=TestHelperProcess")
	cmd.Env = append(os.Environ(), "HARNESS_HELPER=exit")
	if _, err := Start(cmd, "quitter", "helper listening", 10*time.Second); err == nil || !strings.Contains(err.Error(), "exited before listening") {
		t.Errorf("a process that exits: %v", err)
	}
}

func TestHelperProcess(t *testing.T) {
	switch os.Getenv("HARNESS_HELPER") {
	case "listen":
		fmt.Println(`{"msg":"starting"}`)
		fmt.Fprintln(os.Stderr, `{"msg":"helper listening","addr":"127.0.0.1:1234"}`)
		select {} // serving until killed
	case "exit":
		fmt.Println(`{"msg":"giving up"}`)
		os.Exit(1)
	}
}
