package player

import (
	"net/url"
	"strings"
	"testing"

	"edgecdn/internal/steerapi"
)

func TestContentBase(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"http://127.0.0.11:9000/vod/title-000/300k/index.m3u8", "http://127.0.0.11:9000"},
		{"http://127.0.0.11:9000/t/v1~1700000000~L3ZvZC8~~AbC-_d/vod/title-000/300k/index.m3u8", "http://127.0.0.11:9000/t/v1~1700000000~L3ZvZC8~~AbC-_d"},
		{"https://edge.example:443/t/tok/vod/x/y", "https://edge.example:443/t/tok"},
		{"http://127.0.0.1:1234", "http://127.0.0.1:1234"},
		{"http://127.0.0.1:1234/", "http://127.0.0.1:1234"},
		{"http://127.0.0.1:1234/t/tok", "http://127.0.0.1:1234/t/tok"},
		{"http://127.0.0.1:1234/t/tok/", "http://127.0.0.1:1234/t/tok"},
		{"http://[::1]:80/vod/a", "http://[::1]:80"},
		{"http://h/other/playlist.m3u8", "http://h"}, // not under /vod/: the host's own /vod/
		{"javascript:alert(1)", ""},
		{"file:///etc/passwd", ""},
		{"file://localhost/etc/passwd", ""},
		{"ftp://127.0.0.1/vod/a", ""},
		{"//127.0.0.1/vod/a", ""},
		{"/vod/a/b", ""},
		{"http://user:pw@127.0.0.1/vod/a", ""},
		{"http://127.0.0.1:80@192.0.2.1/vod/a", ""},
		{"http://127.0.0.1/t/../../etc/vod/a", ""},
		{"http://127.0.0.1/t/a%2Fb/vod/a", ""},
		{"http://127.0.0.1/x/vod/a", ""},
		{"http://127.0.0.1/t//vod/a", ""},
		{"http://127.0.0.1/t/" + strings.Repeat("a", 600) + "/vod/a", ""},
		{"http://:80/vod/a", ""},
		{"http://127.0.0.1/t/tok/more", ""},
	} {
		got, ok := contentBase(c.in)
		if got != c.want || ok != (c.want != "") {
			t.Errorf("contentBase(%q) = %q, %v; want %q", c.in, got, ok, c.want)
		}
	}
}

// FuzzSteeringManifest: whatever clones a steering manifest that parses carries, HOST and
// PARAMS change a URI's host name and query, never its port, its path (the token) or its user
// information.
func FuzzSteeringManifest(f *testing.F) {
	for _, s := range []string{
		`{"VERSION":1,"TTL":10,"PATHWAY-PRIORITY":["zone-b"],"PATHWAY-CLONES":[{"BASE-ID":"zone-b","ID":"zone-c","URI-REPLACEMENT":{"HOST":"127.0.0.13:8080"}}]}`,
		`{"VERSION":1,"PATHWAY-PRIORITY":["a"],"PATHWAY-CLONES":[{"BASE-ID":"a","ID":"b","URI-REPLACEMENT":{"HOST":"x@192.0.2.1/p"}}]}`,
		`{"VERSION":1,"PATHWAY-PRIORITY":["a"],"PATHWAY-CLONES":[{"BASE-ID":"a","ID":"b","URI-REPLACEMENT":{"PARAMS":{"a":"#x","b":"1?2"}}}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := steerapi.ParseManifest(b)
		if err != nil {
			return
		}
		for _, c := range m.PathwayClones {
			r := c.URIReplacement
			got, ok := cloneURI("http://127.0.0.1:1/t/tok/vod/x/400k/index.m3u8", "", r)
			back, err := url.Parse(got)
			if !ok || err != nil || back.Port() != "1" || back.User != nil || back.Path != "/t/tok/vod/x/400k/index.m3u8" || back.Fragment != "" || back.Hostname() == "" {
				t.Fatalf("clone HOST %q PARAMS %q makes %q", r.Host, r.Params, got)
			}
			if r.Host == "" && back.Hostname() != "127.0.0.1" {
				t.Fatalf("no HOST changes the host: %q", got)
			}
		}
	})
}

// FuzzCMSD: parseCMSD never panics, never reports a negative throughput, and reports nothing
// for a header that names neither key.
func FuzzCMSD(f *testing.F) {
	for _, s := range []string{
		`"edge-a1";etp=52000`, `"edge-a1";etp=100;du`, `"e";du=?1;etp=7`, ``, `"e";etp=-5;du=?0`,
		`garbage;;;=`, `etp=99999999999999999999999`, `etp=9223372036854775807`, `etp=0x10;du=?2`,
		`"e"; etp = 5 ; du`, strings.Repeat(";etp=1", 1000), "\x00etp=1\xff",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		etp, du := parseCMSD(v)
		if etp < 0 {
			t.Fatalf("parseCMSD(%q): etp %d", v, etp)
		}
		if !strings.Contains(v, "etp") && etp != 0 {
			t.Fatalf("parseCMSD(%q): etp %d from no etp", v, etp)
		}
		if !strings.Contains(v, "du") && du {
			t.Fatalf("parseCMSD(%q): duress from no du", v)
		}
		if e2, d2 := parseCMSD(v); e2 != etp || d2 != du {
			t.Fatalf("parseCMSD(%q) not deterministic", v)
		}
	})
}

// TestCloneURI: a clone's URIs are what hls.js 1.7 makes of them (performUriReplacement, a
// browser's URL hostname setter and hls.js's setQueryParam).
func TestCloneURI(t *testing.T) {
	const base = "http://127.0.0.11:8000/t/tok~x/vod/title-000/400k/index.m3u8?a=1&b=x~y"
	tests := []struct {
		name     string
		stableID string
		c        steerapi.URIReplacement
		want     string
	}{
		{"HOST is a host name: the port stays", "", steerapi.URIReplacement{Host: "127.0.0.13"}, "http://127.0.0.13:8000/t/tok~x/vod/title-000/400k/index.m3u8?a=1&b=x~y"},
		{"HOST:PORT changes nothing", "", steerapi.URIReplacement{Host: "127.0.0.13:9000"}, base},
		{"a name, lower-cased", "", steerapi.URIReplacement{Host: "Edge.Example"}, "http://edge.example:8000/t/tok~x/vod/title-000/400k/index.m3u8?a=1&b=x~y"},
		{"IPv6", "", steerapi.URIReplacement{Host: "[::1]"}, "http://[::1]:8000/t/tok~x/vod/title-000/400k/index.m3u8?a=1&b=x~y"},
		{"IPv6 with a port changes nothing", "", steerapi.URIReplacement{Host: "[::1]:9000"}, base},
		{"the host name ends at a slash", "", steerapi.URIReplacement{Host: "127.0.0.13/x"}, "http://127.0.0.13:8000/t/tok~x/vod/title-000/400k/index.m3u8?a=1&b=x~y"},
		{"userinfo changes nothing", "", steerapi.URIReplacement{Host: "x@127.0.0.13"}, base},
		{"IPv4 in hex", "", steerapi.URIReplacement{Host: "0x7f.1"}, "http://127.0.0.1:8000/t/tok~x/vod/title-000/400k/index.m3u8?a=1&b=x~y"},
		{"a bad IPv4 changes nothing", "", steerapi.URIReplacement{Host: "1.2.3.256"}, base},
		{"PARAMS set in key order, the rest left byte for byte", "", steerapi.URIReplacement{Params: map[string]string{"b": "2", "c": "a b/~"}},
			"http://127.0.0.11:8000/t/tok~x/vod/title-000/400k/index.m3u8?a=1&b=2&c=a%20b%2F~"},
		{"PER-VARIANT-URIS by STABLE-VARIANT-ID", "400k", steerapi.URIReplacement{Host: "127.0.0.13", PerVariantURIs: map[string]string{"400k": "http://127.0.0.14:9000/vod/title-000/400k/index.m3u8"}},
			"http://127.0.0.14:9000/vod/title-000/400k/index.m3u8"},
		{"PER-VARIANT-URIS without this variant's ID: HOST", "750k", steerapi.URIReplacement{Host: "127.0.0.13", PerVariantURIs: map[string]string{"400k": "http://127.0.0.14:9000/x"}},
			"http://127.0.0.13:8000/t/tok~x/vod/title-000/400k/index.m3u8?a=1&b=x~y"},
		{"PER-VARIANT-URIS, variant without an ID: HOST", "", steerapi.URIReplacement{Host: "127.0.0.13", PerVariantURIs: map[string]string{"": "http://127.0.0.14:9000/x"}},
			"http://127.0.0.13:8000/t/tok~x/vod/title-000/400k/index.m3u8?a=1&b=x~y"},
	}
	for _, tt := range tests {
		got, ok := cloneURI(base, tt.stableID, tt.c)
		if !ok || got != tt.want {
			t.Errorf("%s: %q %v, want %q", tt.name, got, ok, tt.want)
		}
	}
}

// FuzzCloneHost: whatever a clone's HOST holds, the cloned URI keeps its scheme, port, path
// and query, has no user information, and names a host; applying the same HOST again changes
// nothing more.
func FuzzCloneHost(f *testing.F) {
	for _, s := range []string{"127.0.0.13", "127.0.0.13:9000", "[::1]", "[::1]:80", "a/b", "x@y", "0x7f.1", "1.2.3.256",
		"Edge.Example", "a\tb", "a\\b", "[", "]", "", "%41", "é.example", "1.2.3.4.5", "09.1"} {
		f.Add(s)
	}
	const base = "http://127.0.0.11:8000/t/tok/vod/title-000/400k/index.m3u8?a=1"
	f.Fuzz(func(t *testing.T, host string) {
		c := steerapi.URIReplacement{Host: host}
		got, ok := cloneURI(base, "", c)
		u, err := url.Parse(got)
		if !ok || err != nil || u.Scheme != "http" || u.Port() != "8000" || u.User != nil || u.Hostname() == "" ||
			u.EscapedPath() != "/t/tok/vod/title-000/400k/index.m3u8" || u.RawQuery != "a=1" {
			t.Fatalf("HOST %q made %q", host, got)
		}
		if again, _ := cloneURI(got, "", c); again != got {
			t.Fatalf("HOST %q: %q, then %q", host, got, again)
		}
	})
}
