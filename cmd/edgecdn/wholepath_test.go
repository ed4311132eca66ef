package main

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"edgecdn/internal/harness"
	"edgecdn/internal/testenv"
)

// TestWholePath: a client resolves the service name with the real dig at edgecdn's DNS server,
// and fetches through a zone balancer, an edge and the origin with the real curl, a Range
// included. Then every edge of zone b dies, and zone b's balancer leaves the DNS answers.
func TestWholePath(t *testing.T) {
	dig := testenv.Tool(t, "dig")
	curl := testenv.Tool(t, "curl")
	if l, err := net.Listen("tcp", "127.0.0.12:0"); err != nil {
		testenv.Missing(t, "no 127.0.0.12 on loopback: "+err.Error())
	} else {
		l.Close()
	}
	dir := t.TempDir()
	if _, errOut, code := run(t, nil, "package", "--out", dir, "--titles", "1", "--ladder", "small", "--duration", "12s"); code != 0 {
		t.Fatal(errOut)
	}
	origin := startProc(t, "origin", "origin listening", bin, "origin", "--content", dir, "--listen", "127.0.0.1:0", "--log-format", "json")
	gp := freeGossipPorts(t, 6)
	seed := "127.0.0.1:" + strconv.Itoa(gp[0])
	edgeArgs := func(name, zone string, port int, join bool) []string {
		a := []string{bin, "edge", "--name", name, "--zone", zone, "--origin", "http://" + origin.Addr, "--listen", "127.0.0.1:0",
			"--gossip-listen", "127.0.0.1:" + strconv.Itoa(port), "--log-format", "json"}
		if join {
			a = append(a, "--join", seed)
		}
		return a
	}
	startProc(t, "edge-a", "edge listening", edgeArgs("edge-a", "zone-a", gp[0], false)...)
	edgeB := startProc(t, "edge-b", "edge listening", edgeArgs("edge-b", "zone-b", gp[1], true)...)
	// One balancer per zone, on one port at two loopback addresses: DNS answers carry no port.
	lbPort := strconv.Itoa(freePort(t))
	for i, z := range []string{"zone-a", "zone-b"} {
		addr := "127.0.0.1" + strconv.Itoa(i+1) + ":" + lbPort
		startProc(t, "lb-"+z, "lb listening", bin, "lb", "--name", "lb-"+z, "--zone", z, "--listen", addr, "--advertise", addr,
			"--gossip-listen", "127.0.0.1:"+strconv.Itoa(gp[2+i]), "--join", seed, "--log-format", "json")
	}
	dnsProc := startProc(t, "dns", "dns listening", bin, "dns", "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0",
		"--gossip-listen", "127.0.0.1:"+strconv.Itoa(gp[4]), "--join", seed, "--log-format", "json")
	_, dnsPort, _ := net.SplitHostPort(dnsProc.Addr)

	answers := func(extra ...string) []string {
		args := append([]string{"@127.0.0.1", "-p", dnsPort, "video.edgecdn.local", "A", "+short", "+time=2", "+tries=1"}, extra...)
		out, err := exec.Command(dig, args...).Output()
		if err != nil {
			return nil
		}
		return strings.Fields(string(out))
	}
	pollUntil(t, 20*time.Second, "both balancers in the DNS answers", func() (bool, string) {
		a := answers()
		slices.Sort(a)
		return slices.Equal(a, []string{"127.0.0.11", "127.0.0.12"}), strings.Join(a, " ")
	})
	// Answers rotate: the first address changes from one query to the next.
	firsts := map[string]bool{}
	for i := 0; i < 4; i++ {
		if a := answers(); len(a) > 0 {
			firsts[a[0]] = true
		}
	}
	if len(firsts) != 2 {
		t.Errorf("first answers over 4 queries: %v, want both balancers", firsts)
	}
	if a := answers("+tcp"); len(a) != 2 {
		t.Errorf("over TCP: %v", a)
	}

	// curl through the whole path: DNS answer -> balancer -> edge -> origin.
	segs := segmentsOf(t, dir)
	seg := segs[len(segs)/2]
	want, err := os.ReadFile(filepath.Join(dir, strings.TrimPrefix(seg.path, "/vod/")))
	if err != nil {
		t.Fatal(err)
	}
	for _, lbIP := range answers() {
		url := "http://video.edgecdn.local:" + lbPort + seg.path
		resolve := "video.edgecdn.local:" + lbPort + ":" + lbIP
		full, err := exec.Command(curl, "-sS", "--fail", "--resolve", resolve, url).Output()
		if err != nil || !bytes.Equal(full, want) {
			t.Fatalf("curl %s via %s: %v, %d bytes (want %d)", url, lbIP, err, len(full), len(want))
		}
		out, err := exec.Command(curl, "-sS", "--fail", "-D", "-", "-r", "100-299", "--resolve", resolve, url).Output()
		if err != nil {
			t.Fatalf("curl range via %s: %v", lbIP, err)
		}
		head, body, _ := bytes.Cut(out, []byte("\r\n\r\n"))
		if !bytes.HasPrefix(head, []byte("HTTP/1.1 206")) || !bytes.Equal(body, want[100:300]) ||
			!bytes.Contains(head, []byte("Content-Range: bytes 100-299/"+strconv.Itoa(len(want)))) {
			t.Errorf("range via %s:\n%s\n(%d body bytes)", lbIP, head, len(body))
		}
		if !bytes.Contains(head, []byte("Cache-Status: edge-")) {
			t.Errorf("range via %s: no edge Cache-Status:\n%s", lbIP, head)
		}
	}

	// Zone b loses its only edge: its balancer leaves the answers.
	edgeB.Cmd.Process.Kill()

	d := pollUntil(t, 20*time.Second, "zone b's balancer gone from the answers", func() (bool, string) {
		a := answers()
		return slices.Equal(a, []string{"127.0.0.11"}), strings.Join(a, " ")
	})
	t.Logf("zone b's balancer left the DNS answers %v after its only edge was killed", d.Round(time.Millisecond))
	// NXDOMAIN inside the domain, REFUSED outside it.
	for _, c := range []struct{ name, status string }{{"nope.video.edgecdn.local", "NXDOMAIN"}, {"example.com", "REFUSED"}} {
		out, _ := exec.Command(dig, "@127.0.0.1", "-p", dnsPort, c.name, "A", "+time=2", "+tries=1").Output()
		if !strings.Contains(string(out), "status: "+c.status) {
			t.Errorf("dig %s: want status %s:\n%s", c.name, c.status, out)
		}
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	port, err := harness.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return port
}
