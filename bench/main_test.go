package main

import (
	"bytes"
	"context"
	"errors"
	"math"
	"strings"
	"testing"

	"edgecdn/internal/cli"
)

// TestScenarioHelp: every scenario answers --help before it runs anything, and its help, as
// main prints it, lists each flag as --flag VALUE [EDGECDN_FLAG] and ends with an example of
// the scenario itself.
func TestScenarioHelp(t *testing.T) {
	for name, sc := range scenarios {
		_, err := sc.run(context.Background(), []string{"--help"})
		h, ok := errors.AsType[helpAsked](err)
		if !ok {
			t.Errorf("%s --help: %v, want help", name, err)
			continue
		}
		var b bytes.Buffer
		cli.Help{Usage: "go run ./bench " + name + " [flags]", About: sc.summary, Example: sc.example}.Print(&b, h.fs)
		_, example, _ := strings.Cut(b.String(), "Example:\n")
		if !strings.Contains(example, "go run ./bench "+name+" ") || !strings.Contains(b.String(), "   ["+cli.EnvPrefix) {
			t.Errorf("%s --help lacks an example or the environment variables:\n%s", name, b.String())
		}
	}
}

func TestScenarioBadFlag(t *testing.T) {
	_, err := scenarios["ring"].run(context.Background(), []string{"--no-such-flag"})
	if err == nil || !strings.Contains(err.Error(), "no-such-flag") || !strings.Contains(err.Error(), "ring --help") {
		t.Errorf("bad flag: %v", err)
	}
	_, err = scenarios["ring"].run(context.Background(), []string{"extra"})
	if err == nil || !strings.Contains(err.Error(), `unexpected argument "extra"`) {
		t.Errorf("stray argument: %v", err)
	}
}

func TestUsageListsEveryScenario(t *testing.T) {
	var b bytes.Buffer
	usage(&b)
	for name := range scenarios {
		if !strings.Contains(b.String(), "\n  "+name+" ") {
			t.Errorf("usage lacks %s:\n%s", name, b.String())
		}
	}
}

// TestNumbersFlag: list flags parse when the flags are, refuse what is not a positive number
// (a whole one for counts), and print back as typed.
func TestNumbersFlag(t *testing.T) {
	fs := newFlags("t")
	ints := numbersFlag[int](fs, "n", "64,256", "")
	floats := numbersFlag[float64](fs, "f", "1.5,3", "")
	if err := fs.Parse([]string{"--n", "1, 2,30", "--f", "0.8,1.0,1.2"}); err != nil {
		t.Fatal(err)
	}
	if ints.String() != "1,2,30" || floats.String() != "0.8,1,1.2" || (*ints)[2] != 30 || (*floats)[0] != 0.8 {
		t.Errorf("got %v and %v", ints, floats)
	}
	for _, bad := range []string{"", "1,,2", "0", "-3", "2.5", "x", "1e400"} {
		if err := fs.Set("n", bad); err == nil {
			t.Errorf("--n %q accepted: %v", bad, ints)
		}
	}
	if err := fs.Set("f", "NaN"); err == nil {
		t.Errorf("--f NaN accepted")
	}
}

// TestSoakGrowth: RSS counts by percent; goroutines by percent only from soakGoroutineSlack
// goroutines up, so one more of 18 is flat and three more of 18 are not.
func TestSoakGrowth(t *testing.T) {
	for _, c := range []struct {
		r0, r1, g0, g1, want float64
	}{
		{100, 101, 18, 19, 0.01},     // +1 goroutine of 18 (5.6%): not counted
		{100, 101, 18, 21, 3.0 / 18}, // +3 goroutines: counted
		{100, 110, 18, 18, 0.10},     // RSS +10%
		{100, 90, 20, 20, 0},         // shrinking is not growth
		{100, 100, 200, 202, 0.01},   // +2 of 200: counted, 1%
	} {
		if got := soakGrowth(c.r0, c.r1, c.g0, c.g1); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("soakGrowth(%v, %v, %v, %v) = %v, want %v", c.r0, c.r1, c.g0, c.g1, got, c.want)
		}
	}
}
