package purge

import "testing"

func TestParseAndMatch(t *testing.T) {
	for _, c := range []struct {
		path, prefix string
		ok           bool
		want         Request
	}{
		{"/vod/t/a/1.m4s", "", true, Request{Path: "/vod/t/a/1.m4s"}},
		{"/vod/t%2Fa", "", true, Request{Path: "/vod/t/a"}},
		{"", "/vod/t/", true, Request{Prefix: "/vod/t/"}},
		{"", "", false, Request{}},
		{"/a", "/b", false, Request{}},
		{"/vod/../etc", "", false, Request{}},
		{"", "/", false, Request{}},
		{"vod", "", false, Request{}},
	} {
		got, err := Parse([]byte(c.path), []byte(c.prefix))
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("Parse(%q, %q) = %+v, %v; want %+v, ok %v", c.path, c.prefix, got, err, c.want, c.ok)
		}
		if c.ok && !got.Valid() {
			t.Errorf("%+v not Valid", got)
		}
	}
	if (Request{Path: "/a/../b"}).Valid() || (Request{Path: "/a", Prefix: "/b"}).Valid() {
		t.Error("an unclean request is Valid")
	}
	p := Request{Path: "/vod/t/a.m4s"}
	for key, want := range map[string]bool{"/vod/t/a.m4s": true, "/vod/t/a.m4s?v=1": true, "/vod/t/a.m4sx": false, "/vod/t/b.m4s": false} {
		if p.Matches(key) != want {
			t.Errorf("%+v matches %q: %v", p, key, !want)
		}
	}
	if !(Request{Prefix: "/vod/t/"}).Matches("/vod/t/x/1.m4s") || (Request{Prefix: "/vod/t/"}).Matches("/vod/u/1") {
		t.Error("prefix match")
	}
}

func FuzzParse(f *testing.F) {
	f.Add("/vod/t/a/1.m4s", "")
	f.Add("", "/vod/t/")
	f.Add("/vod/%2e%2e/x", "")
	f.Fuzz(func(t *testing.T, path, prefix string) {
		r, err := Parse([]byte(path), []byte(prefix))
		if err != nil {
			return
		}
		if !r.Valid() {
			t.Fatalf("Parse(%q, %q) = %+v, not Valid", path, prefix, r)
		}
		if r.Path != "" && !r.Matches(r.Path) {
			t.Fatalf("%+v does not match its own path", r)
		}
	})
}
