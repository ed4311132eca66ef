package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// runMicro runs every package's Go benchmarks and tabulates them.
func runMicro(ctx context.Context, args []string) (string, error) {
	fs := newFlags("micro")
	benchtime := fs.String("benchtime", "1s", "go test -benchtime")
	pattern := fs.String("bench", ".", "go test -bench pattern")
	if err := parseFlags(fs, args); err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "test", "-run", "NONE", "-bench", *pattern, "-benchmem", "-benchtime", *benchtime, "-timeout", "14m", "./...")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go test -bench: %v\n%s", err, tail(out.String(), 2000))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "## Microbenchmarks\n\n`go test -run NONE -bench %s -benchmem -benchtime %s ./...`: every package's Go benchmarks (what each measures is in its doc comment).\n\n", *pattern, *benchtime)
	fmt.Fprintf(&b, "| package | benchmark | ns/op | B/op | allocs/op | other |\n|---|---|---:|---:|---:|---|\n")
	pkg := ""
	n, zero := 0, 0
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		l := sc.Text()
		if p, ok := strings.CutPrefix(l, "pkg: "); ok {
			pkg = strings.TrimPrefix(p, "edgecdn/")
			continue
		}
		f := strings.Fields(l)
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		var ns, bop, allocs string
		var other []string
		for i := 2; i+1 < len(f); i += 2 {
			switch f[i+1] {
			case "ns/op":
				ns = f[i]
			case "B/op":
				bop = f[i]
			case "allocs/op":
				allocs = f[i]
			default:
				other = append(other, f[i]+" "+f[i+1])
			}
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", pkg, strings.TrimPrefix(f[0], "Benchmark"), ns, bop, allocs, strings.Join(other, ", "))
		n++
		if allocs == "0" {
			zero++
		}
	}
	fmt.Fprintf(&b, "\nSummary: %d Go benchmarks over every package, %d of them with 0 allocations per operation.\n", n, zero)
	return b.String(), nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
