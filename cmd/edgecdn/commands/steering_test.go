package commands

import (
	"bytes"
	"strings"
	"testing"
)

// TestSteeringSigningFlags: bad signing flags end the command before it listens, with a message
// that names the flag and a non-zero exit, whether they come from the command line or the
// environment.
func TestSteeringSigningFlags(t *testing.T) {
	const key = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=" // 32 bytes
	for _, c := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"key not base64", []string{"--url-signing-key", "not base64!"}, nil, "--url-signing-key: signing key: want base64"},
		{"key too short", []string{"--url-signing-key", "c2hvcnQ="}, nil, "at least 16 bytes"},
		{"second key bad", []string{"--url-signing-key", key + ",???"}, nil, "--url-signing-key"},
		{"key from the environment", nil, map[string]string{"EDGECDN_URL_SIGNING_KEY": "%%%"}, "--url-signing-key"},
		{"token TTL zero", []string{"--url-signing-key", key, "--token-ttl", "0s"}, nil, "--token-ttl 0s: want at least 1s"},
		{"token TTL not a duration", []string{"--token-ttl", "two hours"}, nil, "token-ttl"},
		{"bind without a key", []string{"--token-bind-client"}, nil, "--token-bind-client needs --url-signing-key"},
		{"bind not a bool", nil, map[string]string{"EDGECDN_TOKEN_BIND_CLIENT": "maybe"}, "EDGECDN_TOKEN_BIND_CLIENT"},
	} {
		t.Run(c.name, func(t *testing.T) {
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			var stdout, stderr bytes.Buffer
			args := append([]string{"steering", "--listen", "127.0.0.1:0", "--log-format", "json"}, c.args...)
			code := Main(args, &stdout, &stderr)
			if code == 0 || !strings.Contains(stderr.String(), c.want) {
				t.Errorf("edgecdn %s: exit %d, stderr %q; want non-zero and %q", strings.Join(args, " "), code, stderr.String(), c.want)
			}
			if strings.Contains(stderr.String(), key) {
				t.Errorf("the key is printed: %s", stderr.String())
			}
		})
	}
}

// TestSteeringHelpNamesSigningFlags: --help lists the signing flags with their variables.
func TestSteeringHelpNamesSigningFlags(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := Main([]string{"help", "steering"}, &stdout, &stderr); code != 0 {
		t.Fatalf("help: exit %d %s", code, stderr.String())
	}
	for _, want := range []string{"--url-signing-key KEYS   [EDGECDN_URL_SIGNING_KEY]", "--token-ttl duration   [EDGECDN_TOKEN_TTL]",
		"(default 2h0m0s)", "--token-bind-client   [EDGECDN_TOKEN_BIND_CLIENT]", "--url-signing-key \"$key\""} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("help lacks %q:\n%s", want, stdout.String())
		}
	}
}
