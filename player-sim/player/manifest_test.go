package player

import (
	"net/url"
	"slices"
	"strings"
	"testing"
)

const goodManifest = `{"VERSION":1,"TTL":10,"RELOAD-URI":"/steering/abc.json","PATHWAY-PRIORITY":["zone-b","zone-a","zone-c"],` +
	`"PATHWAY-CLONES":[{"BASE-ID":"zone-b","ID":"zone-c","URI-REPLACEMENT":{"HOST":"127.0.0.13:8080"}}]}`

func TestParseSteeringManifest(t *testing.T) {
	for _, c := range []struct {
		name   string
		in     string
		err    string // in the error; "" for none
		prio   []string
		clones int
		reload string
		ttl    int
	}{
		{name: "steering's own", in: goodManifest, prio: []string{"zone-b", "zone-a", "zone-c"}, clones: 1, reload: "/steering/abc.json", ttl: 10},
		{name: "no TTL", in: `{"VERSION":1,"PATHWAY-PRIORITY":["a"]}`, prio: []string{"a"}},
		{name: "TTL at the bound", in: `{"VERSION":1,"TTL":86400,"PATHWAY-PRIORITY":["a"]}`, prio: []string{"a"}, ttl: 86400},
		{name: "absurd TTL", in: `{"VERSION":1,"TTL":100000000,"PATHWAY-PRIORITY":["a"]}`, err: "TTL"},
		{name: "TTL past int64", in: `{"VERSION":1,"TTL":1e30,"PATHWAY-PRIORITY":["a"]}`, err: "steering manifest"},
		{name: "negative TTL", in: `{"VERSION":1,"TTL":-1,"PATHWAY-PRIORITY":["a"]}`, err: "TTL"},
		{name: "fractional TTL", in: `{"VERSION":1,"TTL":1.5,"PATHWAY-PRIORITY":["a"]}`, err: "steering manifest"},
		{name: "VERSION 2", in: `{"VERSION":2,"TTL":10,"PATHWAY-PRIORITY":["a"]}`, err: "VERSION"},
		{name: "no VERSION", in: `{"TTL":10,"PATHWAY-PRIORITY":["a"]}`, err: "VERSION"},
		{name: "empty priority", in: `{"VERSION":1,"TTL":10,"PATHWAY-PRIORITY":[]}`, err: "PATHWAY-PRIORITY"},
		{name: "no priority", in: `{"VERSION":1,"TTL":10}`, err: "PATHWAY-PRIORITY"},
		{name: "only bad pathway IDs", in: `{"VERSION":1,"PATHWAY-PRIORITY":["a b","<script>",""]}`, err: "PATHWAY-PRIORITY"},
		{name: "bad IDs dropped, duplicates once", in: `{"VERSION":1,"PATHWAY-PRIORITY":["a/b","a","a","b"]}`, prio: []string{"a", "b"}},
		{name: "invalid JSON", in: `{"VERSION":1,`, err: "steering manifest"},
		{name: "not an object", in: `[1,2,3]`, err: "steering manifest"},
		{name: "null", in: `null`, err: "VERSION"},
		{name: "priority not strings", in: `{"VERSION":1,"PATHWAY-PRIORITY":[1,2]}`, err: "steering manifest"},
		{name: "too large", in: `{"VERSION":1,"PATHWAY-PRIORITY":["a"],"X":"` + strings.Repeat("x", 70<<10) + `"}`, err: "bytes"},
		{name: "clone HOST with a path", in: `{"VERSION":1,"PATHWAY-PRIORITY":["a"],"PATHWAY-CLONES":[{"BASE-ID":"a","ID":"b","URI-REPLACEMENT":{"HOST":"192.0.2.1/x"}}]}`, prio: []string{"a"}, clones: 1},
		{name: "clone HOST with userinfo", in: `{"VERSION":1,"PATHWAY-PRIORITY":["a"],"PATHWAY-CLONES":[{"BASE-ID":"a","ID":"b","URI-REPLACEMENT":{"HOST":"127.0.0.1@192.0.2.1"}}]}`, prio: []string{"a"}, clones: 1},
		{name: "clone HOST with a backslash", in: `{"VERSION":1,"PATHWAY-PRIORITY":["a"],"PATHWAY-CLONES":[{"BASE-ID":"a","ID":"b","URI-REPLACEMENT":{"HOST":"127.0.0.1\\\\192.0.2.1"}}]}`, prio: []string{"a"}, clones: 1},
		{name: "clone HOST empty", in: `{"VERSION":1,"PATHWAY-PRIORITY":["a"],"PATHWAY-CLONES":[{"BASE-ID":"a","ID":"b","URI-REPLACEMENT":{}}]}`, prio: []string{"a"}, clones: 1},
		{name: "clone HOST bad port", in: `{"VERSION":1,"PATHWAY-PRIORITY":["a"],"PATHWAY-CLONES":[{"BASE-ID":"a","ID":"b","URI-REPLACEMENT":{"HOST":"127.0.0.1:http"}}]}`, prio: []string{"a"}, clones: 1},
		{name: "clone of a bad ID", in: `{"VERSION":1,"PATHWAY-PRIORITY":["a"],"PATHWAY-CLONES":[{"BASE-ID":"a","ID":"b?c","URI-REPLACEMENT":{"HOST":"127.0.0.1:1"}}]}`, prio: []string{"a"}},
		{name: "IPv6 clone", in: `{"VERSION":1,"PATHWAY-PRIORITY":["a"],"PATHWAY-CLONES":[{"BASE-ID":"a","ID":"b","URI-REPLACEMENT":{"HOST":"[::1]:8080"}}]}`, prio: []string{"a"}, clones: 1},
		{name: "RELOAD-URI file:", in: `{"VERSION":1,"RELOAD-URI":"file:///etc/passwd","PATHWAY-PRIORITY":["a"]}`, prio: []string{"a"}},
		{name: "RELOAD-URI javascript:", in: `{"VERSION":1,"RELOAD-URI":"javascript:alert(1)","PATHWAY-PRIORITY":["a"]}`, prio: []string{"a"}},
		{name: "RELOAD-URI absolute http", in: `{"VERSION":1,"RELOAD-URI":"http://127.0.0.1:1/s.json","PATHWAY-PRIORITY":["a"]}`, prio: []string{"a"}, reload: "http://127.0.0.1:1/s.json"},
		{name: "RELOAD-URI too long", in: `{"VERSION":1,"RELOAD-URI":"/` + strings.Repeat("a", 3000) + `","PATHWAY-PRIORITY":["a"]}`, prio: []string{"a"}},
	} {
		m, err := parseSteeringManifest([]byte(c.in))
		switch {
		case c.err != "":
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: error %v, want one about %q", c.name, err, c.err)
			}
			continue
		case err != nil:
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if !slices.Equal(m.Priority, c.prio) || len(m.Clones) != c.clones || m.Reload != c.reload || m.TTL != c.ttl {
			t.Errorf("%s: got %+v; want priority %v, %d clones, reload %q, TTL %d", c.name, m, c.prio, c.clones, c.reload, c.ttl)
		}
	}
}

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

// FuzzSteeringManifest: any input either is refused or gives a manifest within the bounds the
// player relies on, and parsing its own re-encoding gives the same manifest.
func FuzzSteeringManifest(f *testing.F) {
	for _, s := range []string{
		goodManifest,
		`{"VERSION":1,"TTL":300,"PATHWAY-PRIORITY":["CDN-A","CDN-B"]}`,
		`{"VERSION":1,"TTL":86401,"PATHWAY-PRIORITY":["a"]}`,
		`{"VERSION":2,"TTL":10,"PATHWAY-PRIORITY":["a"]}`,
		`{"VERSION":1,"TTL":10,"PATHWAY-PRIORITY":[]}`,
		`{"VERSION":1,"PATHWAY-PRIORITY":["a"],"RELOAD-URI":"file:///etc/passwd"}`,
		`{"VERSION":1,"PATHWAY-PRIORITY":["a"],"PATHWAY-CLONES":[{"BASE-ID":"a","ID":"b","URI-REPLACEMENT":{"HOST":"x@192.0.2.1/p"}}]}`,
		`{"version":1,"ttl":5,"pathway-priority":["a"]}`,
		`{"VERSION":1,"VERSION":2,"PATHWAY-PRIORITY":["a"]}`,
		`{"VERSION":1e400}`,
		"\x00\xff{",
		``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseSteeringManifest(b)
		if err != nil {
			if len(m.Priority) != 0 || len(m.Clones) != 0 || m.Reload != "" {
				t.Fatalf("refused but not empty: %+v", m)
			}
			return
		}
		if m.TTL < 0 || m.TTL > maxSteeringTTL {
			t.Fatalf("TTL %d out of bounds", m.TTL)
		}
		if len(m.Priority) == 0 || len(m.Priority) > maxPathways || len(m.Clones) > maxPathways {
			t.Fatalf("%d pathways, %d clones", len(m.Priority), len(m.Clones))
		}
		seen := map[string]bool{}
		for _, p := range m.Priority {
			if !validPathwayID(p) || seen[p] {
				t.Fatalf("priority %q: invalid or repeated", p)
			}
			seen[p] = true
		}
		for _, c := range m.Clones {
			if !validPathwayID(c.ID) || !validPathwayID(c.BaseID) {
				t.Fatalf("clone IDs %q %q", c.BaseID, c.ID)
			}
			// HOST and PARAMS change the host name and the query, never the port, the
			// path (its token) or the user information.
			got, ok := cloneURI("http://127.0.0.1:1/t/tok/vod/x/400k/index.m3u8", "", c)
			back, err := url.Parse(got)
			if !ok || err != nil || back.Port() != "1" || back.User != nil || back.Path != "/t/tok/vod/x/400k/index.m3u8" || back.Fragment != "" || back.Hostname() == "" {
				t.Fatalf("clone HOST %q PARAMS %q makes %q", c.Host, c.Params, got)
			}
			if c.Host == "" && back.Hostname() != "127.0.0.1" {
				t.Fatalf("no HOST changes the host: %q", got)
			}
		}
		if m.Reload != "" {
			u, err := url.Parse(m.Reload)
			if err != nil || len(m.Reload) > maxReloadURILen || (u.Scheme != "" && u.Scheme != "http" && u.Scheme != "https") {
				t.Fatalf("RELOAD-URI %q", m.Reload)
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
		c        pathwayClone
		want     string
	}{
		{"HOST is a host name: the port stays", "", pathwayClone{Host: "127.0.0.13"}, "http://127.0.0.13:8000/t/tok~x/vod/title-000/400k/index.m3u8?a=1&b=x~y"},
		{"HOST:PORT changes nothing", "", pathwayClone{Host: "127.0.0.13:9000"}, base},
		{"a name, lower-cased", "", pathwayClone{Host: "Edge.Example"}, "http://edge.example:8000/t/tok~x/vod/title-000/400k/index.m3u8?a=1&b=x~y"},
		{"IPv6", "", pathwayClone{Host: "[::1]"}, "http://[::1]:8000/t/tok~x/vod/title-000/400k/index.m3u8?a=1&b=x~y"},
		{"IPv6 with a port changes nothing", "", pathwayClone{Host: "[::1]:9000"}, base},
		{"the host name ends at a slash", "", pathwayClone{Host: "127.0.0.13/x"}, "http://127.0.0.13:8000/t/tok~x/vod/title-000/400k/index.m3u8?a=1&b=x~y"},
		{"userinfo changes nothing", "", pathwayClone{Host: "x@127.0.0.13"}, base},
		{"IPv4 in hex", "", pathwayClone{Host: "0x7f.1"}, "http://127.0.0.1:8000/t/tok~x/vod/title-000/400k/index.m3u8?a=1&b=x~y"},
		{"a bad IPv4 changes nothing", "", pathwayClone{Host: "1.2.3.256"}, base},
		{"PARAMS set in key order, the rest left byte for byte", "", pathwayClone{Params: map[string]string{"b": "2", "c": "a b/~"}},
			"http://127.0.0.11:8000/t/tok~x/vod/title-000/400k/index.m3u8?a=1&b=2&c=a%20b%2F~"},
		{"PER-VARIANT-URIS by STABLE-VARIANT-ID", "400k", pathwayClone{Host: "127.0.0.13", PerVariant: map[string]string{"400k": "http://127.0.0.14:9000/vod/title-000/400k/index.m3u8"}},
			"http://127.0.0.14:9000/vod/title-000/400k/index.m3u8"},
		{"PER-VARIANT-URIS without this variant's ID: HOST", "750k", pathwayClone{Host: "127.0.0.13", PerVariant: map[string]string{"400k": "http://127.0.0.14:9000/x"}},
			"http://127.0.0.13:8000/t/tok~x/vod/title-000/400k/index.m3u8?a=1&b=x~y"},
		{"PER-VARIANT-URIS, variant without an ID: HOST", "", pathwayClone{Host: "127.0.0.13", PerVariant: map[string]string{"": "http://127.0.0.14:9000/x"}},
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
		c := pathwayClone{Host: host}
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
