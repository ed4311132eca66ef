package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	tests := []struct {
		args     []string
		code     int
		out, err string // substrings of stdout and stderr
	}{
		{[]string{"help"}, 0, "sim ", ""},
		{nil, 2, "", "Usage: player-sim"},
		{[]string{"fly"}, 2, "", `unknown command "fly"`},
		{[]string{"sim", "--help"}, 0, "Usage: player-sim sim", ""},
		{[]string{"help"}, 0, "emulate ", ""},
		{[]string{"emulate", "--help"}, 0, "--trace-offset SECONDS   [EDGECDN_TRACE_OFFSET]", ""},
		{[]string{"--help"}, 0, "Usage: player-sim COMMAND", ""},
		{[]string{"--players", "2", "--help"}, 0, "Usage: player-sim emulate", ""},
		{[]string{"emulate", "--url", "http://127.0.0.1:1", "--trace-offset", "-3"}, 1, "", "--trace-offset"},
		{[]string{"sim", "--traces", "testdata/traces/oboe", "--chunks", "0"}, 1, "", "--chunks"},
		{[]string{"sim", "--traces", "testdata/traces/oboe", "--chunks", "12", "--abr", "bba"}, 0, "bba", ""},
		{[]string{"sim"}, 1, "", "--traces DIR is required"},
		{[]string{"sim", "--traces", "testdata/traces/oboe", "--abr", "bba"}, 0, "optimal (offline)", ""},
		{[]string{"sim", "--traces", "testdata/traces/oboe", "--abr", "bba", "--optimal=false"}, 0, "% of optimal", ""},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		code := run(tt.args, &stdout, &stderr)
		if code != tt.code || !strings.Contains(stdout.String(), tt.out) || !strings.Contains(stderr.String(), tt.err) {
			t.Errorf("run(%q) = %d, stdout %q, stderr %q; want %d, %q, %q", tt.args, code, stdout.String(), stderr.String(), tt.code, tt.out, tt.err)
		}
	}
}
