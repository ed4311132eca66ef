package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"edgecdn/internal/harness"
)

const sampleTraces = "../player-sim/testdata/traces"

func TestTraceSetsCapped(t *testing.T) {
	sets, notes, err := traceSets(sampleTraces, 7)
	if err != nil {
		t.Fatal(err)
	}
	if len(notes) != 0 || len(sets) != 4 {
		t.Fatalf("sets %d, notes %q: want fcc-train, norway-train, oboe and puffer-220218", len(sets), notes)
	}
	for _, s := range sets {
		if s.name != "oboe" && s.name != "puffer-220218" {
			if len(s.traces) != 7 {
				t.Errorf("%s: %d traces loaded, want the cap of 7", s.name, len(s.traces))
			}
			continue
		}
		if s.files != 20 || len(s.traces) != 7 {
			t.Errorf("%s: %d files, %d traces loaded; want 20 and the cap of 7", s.name, s.files, len(s.traces))
		}
		if s.traces[0].Name != "0001.txt" {
			t.Errorf("%s: first trace %s, want 0001.txt (sorted order)", s.name, s.traces[0].Name)
		}
	}
	// A folder of traces (no sub-folder) is one set; notes (README.md) are skipped.
	sets, _, err = traceSets(filepath.Join(sampleTraces, "oboe"), 0)
	if err != nil || len(sets) != 1 || len(sets[0].traces) != 20 {
		t.Fatalf("oboe alone: %v, %+v", err, sets)
	}
	// A sub-folder that is not a trace set is skipped with a note.
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "good"), 0o755)
	os.Mkdir(filepath.Join(dir, "bad"), 0o755)
	os.WriteFile(filepath.Join(dir, "good", "a.txt"), []byte("0 1\n1 2\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "bad", "a.txt"), []byte("0 1\n1 x\n"), 0o644)
	sets, notes, err = traceSets(dir, 0)
	if err != nil || len(sets) != 1 || sets[0].name != "good" || len(notes) != 1 || !strings.Contains(notes[0], "bad") {
		t.Fatalf("sets %+v, notes %q, err %v", sets, notes, err)
	}
}

func TestABRVirtualFallback(t *testing.T) {
	var b strings.Builder
	out := t.TempDir()
	sum, err := abrVirtual(&b, out, filepath.Join(out, "missing"), sampleTraces, 5, []string{"bba", "targetmpc"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(sum, "sample") || !strings.Contains(sum, "oboe (5 traces) targetmpc") {
		t.Errorf("summary %q", sum)
	}
	r := b.String()
	for _, want := range []string{"is not there", "#### oboe", "#### puffer-220218", "#### norway-train", "capped** at 5 of 20", "| bba | 5 |", "targetmpc", "abr-virtual-oboe.png", "% of optimal", "*offline optimal*"} {
		if !strings.Contains(r, want) {
			t.Errorf("report lacks %q:\n%s", want, r)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "abr-virtual-puffer-220218.png")); err != nil {
		t.Error(err)
	}
}

func TestFailoverHelpers(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/metrics":
			fmt.Fprint(w, "edgecdn_lb_retries_total 3\nedgecdn_lb_healthy_edges 2\nedgecdn_lb_healthy_remote_edges 0\n")
		case "/cluster":
			if r.Header.Get("Authorization") != "Bearer tok" {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			fmt.Fprint(w, `{"members":[{"name":"edge-a1","state":"dead"},{"name":"edge-a2","state":"alive"}],"rings":{"zone-a":["edge-a2"]}}`)
		}
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	if n, err := foLBHealthy(srv.Client(), addr); err != nil || n != 2 {
		t.Errorf("healthy = %d, %v", n, err)
	}
	v, err := foCluster(srv.Client(), addr, "tok")
	if err != nil || v.State("edge-a1") != "dead" || v.State("edge-a2") != "alive" || v.State("x") != "" || len(v.Rings["zone-a"]) != 1 {
		t.Errorf("cluster = %+v, %v", v, err)
	}
	if _, err := foCluster(srv.Client(), addr, "wrong"); err == nil {
		t.Error("a wrong token should fail")
	}
	ports, err := harness.FreePorts(3)
	if err != nil || len(ports) != 3 {
		t.Errorf("ports %v, %v", ports, err)
	}
}
