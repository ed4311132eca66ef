// Package testenv lets tests that need an outside tool (ffmpeg, dig, nginx, root) skip with a
// clear message when it is missing, except in CI (CI=true), where a missing tool fails the test:
// CI installs every tool, so a skip there would hide a broken test.
package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// CI reports whether the tests run in CI.
func CI() bool { return os.Getenv("CI") == "true" }

// Tool returns the path of the named program, or skips (fails in CI) when it is not installed.
func Tool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(t, name+" is not installed (apt-get install "+debianPackage(name)+")")
	}
	return p
}

// Root skips (fails in CI) unless the test runs as root.
func Root(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		Missing(t, "needs root")
	}
}

// Missing skips the test with reason, or fails it in CI.
func Missing(t testing.TB, reason string) {
	t.Helper()
	if CI() {
		t.Fatalf("CI=true and %s", reason)
	}
	t.Skipf("skipped: %s", reason)
}

func debianPackage(tool string) string {
	switch tool {
	case "ffprobe", "ffplay":
		return "ffmpeg"
	case "dig":
		return "dnsutils"
	case "varnishd":
		return "varnish"
	case "ip":
		return "iproute2"
	}
	return tool
}
