package evloop

import (
	"testing"
)

func TestHostOK(t *testing.T) {
	for host, want := range map[string]bool{
		"example.com": true, "cdn-1.example.com:8080": true, "127.0.0.1": true, "[::1]:80": true,
		"[2001:db8::1]": true, "edge_a1": true, "": false, "a b": false, ":80": false, "a:": false,
		"a:8x": false, "[::1": false, "[]": false, "[::1]x": false, "[::1]:": false, "%41": false,
		"a/b": false, "[g::1]": false,
	} {
		if got := HostOK([]byte(host)); got != want {
			t.Errorf("HostOK(%q) = %v, want %v", host, got, want)
		}
	}
}

func TestHasToken(t *testing.T) {
	for _, c := range []struct {
		list, tok string
		want      bool
	}{
		{"close", "close", true}, {"keep-alive, Close", "close", true}, {" close ,x", "close", true},
		{"closed", "close", false}, {"", "close", false}, {"keep-alive", "close", false},
	} {
		if got := HasToken([]byte(c.list), []byte(c.tok)); got != c.want {
			t.Errorf("HasToken(%q, %q) = %v", c.list, c.tok, got)
		}
	}
}

func TestNextField(t *testing.T) {
	rest := []byte("Host: a\r\nX-Y:  b c \t\r\n\r\n")
	_, name, value, after, end, ok := NextField(rest, 1)
	if end || !ok || string(name) != "Host" || string(value) != "a" {
		t.Fatalf("first field: %q %q end %v ok %v", name, value, end, ok)
	}
	_, name, value, after, end, ok = NextField(after, 2)
	if end || !ok || string(name) != "X-Y" || string(value) != "b c" {
		t.Fatalf("second field: %q %q end %v ok %v", name, value, end, ok)
	}
	if _, _, _, _, end, _ = NextField(after, 3); !end {
		t.Fatal("no end after the last field")
	}
	for _, bad := range []string{"X : a\r\n", " X: a\r\n", "X\r\n", "X: a\x01\r\n", "X(: a\r\n"} {
		if _, _, _, _, end, ok := NextField([]byte(bad), 1); end || ok {
			t.Errorf("NextField(%q) took it", bad)
		}
	}
	if _, _, _, _, _, ok := NextField([]byte("X: a\r\n"), 101); ok {
		t.Error("a 101st field was taken")
	}
	if HeadEnd([]byte("GET / HTTP/1.1\r\nHost: a\r\n\r\nrest")) != len("GET / HTTP/1.1\r\nHost: a\r\n\r\n") || HeadEnd([]byte("GET /\r\n")) != -1 {
		t.Error("HeadEnd")
	}
	if !RequestTarget([]byte("/vod/a?b=c")) || RequestTarget([]byte("vod")) || RequestTarget([]byte("/a b")) || RequestTarget([]byte("/\xff")) {
		t.Error("RequestTarget")
	}
	if got := string(AppendInt(nil, 1234567890)); got != "1234567890" || string(AppendInt(nil, 0)) != "0" {
		t.Errorf("AppendInt: %s", got)
	}
}
