package sim

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Trace is a throughput trace: sample i says the link delivered Mbps[i] megabits per second
// (10^6 bits) during the interval that ends at Time[i] seconds.
type Trace struct {
	Name string    // file name, without the folder
	Time []float64 // seconds, non-decreasing, Time[0] >= 0
	Mbps []float64 // throughput of each sample, >= 0
}

// ParseTrace reads a trace in the Pensieve/Mahimahi "cooked" format: one sample per line,
// `time_s throughput_Mbps`, separated by blanks or tabs. Blank lines are skipped; anything after
// the second field is ignored, as Pensieve's load_trace.py does.
//
// The simulator needs at least two samples, times that never go back, and one interval that
// carries data; anything else is an error naming the line.
func ParseTrace(name string, r io.Reader) (*Trace, error) {
	t := &Trace{Name: name}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for n := 1; sc.Scan(); n++ {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if len(f) < 2 {
			return nil, fmt.Errorf("trace %s line %d: want \"time_s throughput_Mbps\", got %q", name, n, sc.Text())
		}
		ts, err := parseFloat(f[0])
		if err != nil {
			return nil, fmt.Errorf("trace %s line %d: time: %w", name, n, err)
		}
		bw, err := parseFloat(f[1])
		if err != nil {
			return nil, fmt.Errorf("trace %s line %d: throughput: %w", name, n, err)
		}
		switch {
		case ts < 0:
			return nil, fmt.Errorf("trace %s line %d: negative time %v", name, n, ts)
		case bw < 0:
			return nil, fmt.Errorf("trace %s line %d: negative throughput %v", name, n, bw)
		case len(t.Time) > 0 && ts < t.Time[len(t.Time)-1]:
			return nil, fmt.Errorf("trace %s line %d: time %v goes back (previous %v)", name, n, ts, t.Time[len(t.Time)-1])
		}
		t.Time = append(t.Time, ts)
		t.Mbps = append(t.Mbps, bw)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("trace %s: %w", name, err)
	}
	if len(t.Time) < 2 {
		return nil, fmt.Errorf("trace %s: %d samples, want at least 2", name, len(t.Time))
	}
	// The simulator walks samples 1..n-1 over and over; one of them must carry data or a
	// download would never end.
	for i := 1; i < len(t.Time); i++ {
		if t.Mbps[i] > 0 && t.Time[i] > t.Time[i-1] {
			return t, nil
		}
	}
	return nil, fmt.Errorf("trace %s: no sample after the first carries data (zero throughput or zero duration)", name)
}

func parseFloat(s string) (float64, error) {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	if math.IsInf(v, 0) || math.IsNaN(v) {
		return 0, fmt.Errorf("%q is not a finite number", s)
	}
	return v, nil
}

// TraceFiles lists the trace files of dir in sorted order: every file but sub-folders, names
// starting with a dot, and *.md or *.tsv notes.
func TraceFiles(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("traces: %w", err)
	}
	var names []string
	for _, e := range ents {
		n := e.Name()
		if e.IsDir() || strings.HasPrefix(n, ".") || strings.HasSuffix(n, ".md") || strings.HasSuffix(n, ".tsv") {
			continue
		}
		names = append(names, n)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("traces: no trace files in %s", dir)
	}
	sort.Strings(names)
	return names, nil
}

// LoadTraces reads every file TraceFiles lists in dir as a trace.
func LoadTraces(dir string) ([]*Trace, error) {
	names, err := TraceFiles(dir)
	if err != nil {
		return nil, err
	}
	out := make([]*Trace, 0, len(names))
	for _, n := range names {
		t, err := loadTrace(filepath.Join(dir, n))
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

func loadTrace(path string) (*Trace, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("trace: %w", err)
	}
	defer f.Close()
	return ParseTrace(filepath.Base(path), f)
}
