package steerapi

import (
	"encoding/json"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"

	"edgecdn/internal/pathway"
)

const goodManifest = `{"VERSION":1,"TTL":10,"RELOAD-URI":"/steering/abc.json","PATHWAY-PRIORITY":["zone-b","zone-a","zone-c"],` +
	`"PATHWAY-CLONES":[{"BASE-ID":"zone-b","ID":"zone-c","URI-REPLACEMENT":{"HOST":"127.0.0.13:8080"}}]}`

func TestParseManifest(t *testing.T) {
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
		m, err := ParseManifest([]byte(c.in))
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
		if !slices.Equal(m.PathwayPriority, c.prio) || len(m.PathwayClones) != c.clones || m.ReloadURI != c.reload || m.TTL != c.ttl {
			t.Errorf("%s: got %+v; want priority %v, %d clones, reload %q, TTL %d", c.name, m, c.prio, c.clones, c.reload, c.ttl)
		}
	}
}

// TestManifestRoundTrip: what a steering service writes with Manifest reads back the same.
func TestManifestRoundTrip(t *testing.T) {
	want := Manifest{Version: 1, TTL: 10, ReloadURI: "/steering/abc.json", PathwayPriority: []string{"zone-b", "zone-a"},
		PathwayClones: []Clone{{BaseID: "zone-a", ID: "zone-c", URIReplacement: URIReplacement{
			Host: "127.0.0.13", PerVariantURIs: map[string]string{"400k": "http://127.0.0.14:9000/vod/t/400k/index.m3u8"}}}}}
	b, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseManifest(b)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("ParseManifest(%s) = %+v, %v; want %+v", b, got, err, want)
	}
}

// FuzzParseManifest: any input either is refused, leaving the zero Manifest, or gives a
// manifest within the bounds, whose encoding parses back to the same encoding.
func FuzzParseManifest(f *testing.F) {
	for _, s := range []string{
		goodManifest,
		`{"VERSION":1,"TTL":300,"PATHWAY-PRIORITY":["CDN-A","CDN-B"]}`,
		`{"VERSION":1,"TTL":86401,"PATHWAY-PRIORITY":["a"]}`,
		`{"VERSION":2,"TTL":10,"PATHWAY-PRIORITY":["a"]}`,
		`{"VERSION":1,"TTL":10,"PATHWAY-PRIORITY":[]}`,
		`{"VERSION":1,"PATHWAY-PRIORITY":["a","a","b c"],"RELOAD-URI":"file:///etc/passwd"}`,
		`{"VERSION":1,"PATHWAY-PRIORITY":["a"],"PATHWAY-CLONES":[{"BASE-ID":"a","ID":"b","URI-REPLACEMENT":{"HOST":"x@192.0.2.1/p","PARAMS":{"k":"v"}}}]}`,
		`{"version":1,"ttl":5,"pathway-priority":["a"]}`,
		`{"VERSION":1,"VERSION":2,"PATHWAY-PRIORITY":["a"]}`,
		`{"VERSION":1e400}`,
		"\x00\xff{",
		``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseManifest(b)
		if err != nil {
			if !reflect.DeepEqual(m, Manifest{}) {
				t.Fatalf("refused but not empty: %+v", m)
			}
			return
		}
		if m.Version != 1 || m.TTL < 0 || m.TTL > MaxTTL {
			t.Fatalf("VERSION %d, TTL %d", m.Version, m.TTL)
		}
		if len(m.PathwayPriority) == 0 || len(m.PathwayPriority) > MaxPathways || len(m.PathwayClones) > MaxPathways {
			t.Fatalf("%d pathways, %d clones", len(m.PathwayPriority), len(m.PathwayClones))
		}
		seen := map[string]bool{}
		for _, p := range m.PathwayPriority {
			if !pathway.ValidID(p) || seen[p] {
				t.Fatalf("priority %q: invalid or repeated", p)
			}
			seen[p] = true
		}
		for _, c := range m.PathwayClones {
			if !c.valid() {
				t.Fatalf("clone %+v", c)
			}
		}
		if m.ReloadURI != "" {
			u, err := url.Parse(m.ReloadURI)
			if err != nil || len(m.ReloadURI) > MaxReloadURILen || (u.Scheme != "" && u.Scheme != "http" && u.Scheme != "https") {
				t.Fatalf("RELOAD-URI %q", m.ReloadURI)
			}
		}
		enc, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseManifest(enc)
		if err != nil {
			t.Fatalf("own encoding %s refused: %v", enc, err)
		}
		if enc2, _ := json.Marshal(back); string(enc2) != string(enc) {
			t.Fatalf("re-encoding differs:\n%s\n%s", enc, enc2)
		}
	})
}
