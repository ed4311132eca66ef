package sim

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseTrace(t *testing.T) {
	tests := []struct {
		name, in string
		wantN    int
		wantErr  string // substring; "" for success
	}{
		{"tabs", "0.5\t3.1\n1.5\t2.0\n", 2, ""},
		{"spaces, blank lines, extra fields", "\n0 1  x\n\n1 2 y z\n2 0\n", 3, ""},
		{"windows line ends", "0 1\r\n1 2\r\n", 2, ""},
		{"one field", "0 1\n1\n", 0, "line 2: want"},
		{"bad time", "zero 1\n1 1\n", 0, "line 1: time"},
		{"bad throughput", "0 1\n1 fast\n", 0, "line 2: throughput"},
		{"infinite", "0 1\n1 Inf\n", 0, "finite"},
		{"nan", "0 NaN\n1 1\n", 0, "finite"},
		{"negative time", "-1 1\n1 1\n", 0, "negative time"},
		{"negative throughput", "0 1\n1 -2\n", 0, "negative throughput"},
		{"time goes back", "0 1\n2 1\n1 1\n", 0, "goes back"},
		{"empty", "", 0, "0 samples"},
		{"one sample", "0 5\n", 0, "1 samples"},
		{"no data after the first sample", "0 5\n1 0\n2 0\n", 0, "carries data"},
		{"zero durations", "1 5\n1 5\n", 0, "carries data"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, err := ParseTrace("x", strings.NewReader(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseTrace(%q) error = %v, want one containing %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseTrace(%q): %v", tt.in, err)
			}
			if len(tr.Time) != tt.wantN || len(tr.Mbps) != tt.wantN {
				t.Fatalf("ParseTrace(%q) = %d/%d samples, want %d", tt.in, len(tr.Time), len(tr.Mbps), tt.wantN)
			}
		})
	}
}

func TestLoadTraces(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("b.txt", "0 1\n1 1\n")
	write("a.txt", "0 2\n1 2\n")
	write(".hidden", "junk")
	write("names.tsv", "junk")
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	ts, err := LoadTraces(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 2 || ts[0].Name != "a.txt" || ts[1].Name != "b.txt" {
		t.Fatalf("LoadTraces = %v, want a.txt then b.txt", ts)
	}

	write("c.txt", "0 1\n1 x\n")
	if _, err := LoadTraces(dir); err == nil || !strings.Contains(err.Error(), "trace c.txt line 2") {
		t.Errorf("LoadTraces with a malformed trace: error = %v, want one naming c.txt line 2", err)
	}
	if _, err := LoadTraces(filepath.Join(dir, "missing")); err == nil {
		t.Error("LoadTraces of a missing folder: no error")
	}
	if _, err := LoadTraces(filepath.Join(dir, "sub")); err == nil || !strings.Contains(err.Error(), "no trace files") {
		t.Errorf("LoadTraces of an empty folder: error = %v, want \"no trace files\"", err)
	}
}

func TestLoadVideo(t *testing.T) {
	v, err := LoadVideo("../../internal/envivio", 48)
	if err != nil {
		t.Fatal(err)
	}
	e := Envivio()
	for q := range e.Sizes {
		for i := range e.Sizes[q] {
			if v.Sizes[q][i] != e.Sizes[q][i] {
				t.Fatalf("level %d chunk %d: loaded %d, embedded %d", q, i, v.Sizes[q][i], e.Sizes[q][i])
			}
		}
	}
	if _, err := LoadVideo("../../internal/envivio", 50); err == nil {
		t.Error("LoadVideo wanting 50 chunks of 49: no error")
	}
	if _, err := LoadVideo(t.TempDir(), 48); err == nil {
		t.Error("LoadVideo of an empty folder: no error")
	}
}

// FuzzParseTrace checks that the parser never panics and that whatever it accepts is a trace
// the simulator can walk: at least two samples, finite, times not going back, some data.
func FuzzParseTrace(f *testing.F) {
	f.Add([]byte("0.474\t3.1686\n0.905\t3.1832\n1.911\t3.1357\n"))
	f.Add([]byte("0 0\n1 0\n2 5\n"))
	f.Add([]byte("1e3 1e-3\n1e3 2\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		tr, err := ParseTrace("fuzz", strings.NewReader(string(b)))
		if err != nil {
			return
		}
		if len(tr.Time) < 2 || len(tr.Time) != len(tr.Mbps) {
			t.Fatalf("accepted %d times, %d throughputs", len(tr.Time), len(tr.Mbps))
		}
		data := false
		for i := range tr.Time {
			if tr.Time[i] < 0 || tr.Mbps[i] < 0 || (i > 0 && tr.Time[i] < tr.Time[i-1]) {
				t.Fatalf("accepted sample %d: %v %v", i, tr.Time[i], tr.Mbps[i])
			}
			if i > 0 && tr.Mbps[i] > 0 && tr.Time[i] > tr.Time[i-1] {
				data = true
			}
		}
		if !data {
			t.Fatal("accepted a trace that carries no data")
		}
	})
}
