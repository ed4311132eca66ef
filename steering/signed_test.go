package steering

import (
	"bytes"
	"encoding/json"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"edgecdn/internal/hls"
	"edgecdn/internal/signing"
	"edgecdn/internal/steerapi"
)

var testKey = []byte("0123456789abcdef0123456789abcdef")

// tokenOf returns the token of a signed URL, http://HOST/t/<token>/vod/...
func tokenOf(t *testing.T, u string) string {
	t.Helper()
	m := regexp.MustCompile(`^http://[^/]+/t/([A-Za-z0-9_~-]+)/vod/`).FindStringSubmatch(u)
	if m == nil {
		t.Fatalf("%s: not a signed URL http://HOST/t/<token>/vod/...", u)
	}
	return m[1]
}

// TestSignedPlayback: with a signing key, every variant of the playback manifest carries one
// token for the session, scoped to the title and valid TokenTTL; the edges serve it, and refuse
// the same paths without a token, with an expired one, or with one for another title. A
// pathway clone (a new host) keeps the token.
func TestSignedPlayback(t *testing.T) {
	st := newStackWith(t, stackOpts{titles: 2, keys: [][]byte{testKey}}, "zone-a", "zone-b")
	issued := time.Now()
	mv, uri := playSession(t, st, "zone-b")
	tok := tokenOf(t, mv.Variants[0].URI)
	c, err := signing.Parse(st.keys, tok)
	if err != nil {
		t.Fatalf("token %s: %v", tok, err)
	}
	if want := issued.Add(2 * time.Hour); c.Prefix != "/vod/title-000/" || c.IP != "" || c.Expires.Before(want.Add(-2*time.Second)) || c.Expires.After(want.Add(time.Second)) {
		t.Errorf("claims %+v; want prefix /vod/title-000/, no address, expiry about %v", c, want)
	}
	for _, v := range mv.Variants {
		if got := tokenOf(t, v.URI); got != tok {
			t.Errorf("variant %s: another token than the session's", v.URI)
		}
		if !strings.HasPrefix(v.URI, "http://"+st.lbAddr[v.PathwayID]+"/t/"+tok+"/vod/title-000/") {
			t.Errorf("variant %s of pathway %s: not on its balancer %s", v.URI, v.PathwayID, st.lbAddr[v.PathwayID])
		}
		code, b := getBody(t, v.URI)
		if code != 200 {
			t.Fatalf("variant %s: %d %s", v.URI, code, b)
		}
		media, err := hls.ParseMedia(bytes.NewReader(b))
		if err != nil || len(media.Segments) == 0 {
			t.Fatalf("variant %s: %v", v.URI, err)
		}
		seg := v.URI[:strings.LastIndex(v.URI, "/")+1] + media.Segments[0].URI
		if code, body := getBody(t, seg); code != 200 || len(body) < 8 || body[0] != 0x47 && string(body[4:8]) != "styp" { // MPEG-TS or CMAF
			t.Fatalf("segment %s: %d, %d bytes", seg, code, len(body))
		}
	}

	inner := mv.Variants[0].URI[strings.Index(mv.Variants[0].URI, "/vod/"):]
	edgeURL := st.edgeURL["zone-a"]
	expired := func() string {
		t.Helper()
		// A session that started longer ago than the token TTL: steering's clock moved back.
		st.steer.skew.Store(int64(-3 * time.Hour))
		defer st.steer.skew.Store(0)
		mv, _ := playSession(t, st, "zone-a")
		return tokenOf(t, mv.Variants[0].URI)
	}()
	for _, c := range []struct {
		name, url string
		want      int
	}{
		{"with the session's token, at an edge", edgeURL + "/t/" + tok + inner, 200},
		{"no token, at an edge", edgeURL + inner, 403},
		{"no token, at a balancer", "http://" + st.lbAddr["zone-a"] + inner, 403},
		{"the catalog, outside the token's prefix", edgeURL + "/t/" + tok + "/catalog.json", 403},
		{"expired token", edgeURL + "/t/" + expired + inner, 403},
		{"title-000's token on title-001", edgeURL + "/t/" + tok + "/vod/title-001/master.m3u8", 403},
		{"title-000's token on title-000's master", edgeURL + "/t/" + tok + "/vod/title-000/master.m3u8", 200},
		{"a forged token", edgeURL + "/t/" + forged(tok) + inner, 403},
	} {
		if code, b := getBody(t, c.url); code != c.want {
			t.Errorf("%s: GET %s: %d %s; want %d", c.name, c.url, code, b, c.want)
		}
	}
	if code, _ := getBody(t, st.base+"/play/title-001/master.m3u8?zone=zone-a"); code != 200 {
		t.Fatalf("title-001: %d", code)
	}

	// A new zone mid-session, its balancer on another port than the first pathway's: the clone
	// gives whole URIs by STABLE-VARIANT-ID (HOST cannot change a port), each with a token of
	// the session's title, and they play from the new zone's balancer.
	st.addZone(t, "zone-c")
	st.waitZones(t, "zone-a", "zone-b", "zone-c")
	_, b := getBody(t, st.base+uri+"?_HLS_pathway=zone-b")
	var m steerapi.Manifest
	if err := json.Unmarshal(b, &m); err != nil || len(m.PathwayClones) != 1 {
		t.Fatalf("manifest after a new zone: %v %s", err, b)
	}
	clone := m.PathwayClones[0]
	if clone.URIReplacement.Host != "" {
		t.Errorf("clone to another port by HOST %q", clone.URIReplacement.Host)
	}
	n := 0
	for _, v := range mv.Variants {
		if v.PathwayID != clone.BaseID {
			continue
		}
		n++
		uri, ok := clone.URIReplacement.PerVariantURIs[v.StableVariantID]
		u, err := url.Parse(uri)
		if !ok || err != nil || u.Host != st.lbAddr["zone-c"] {
			t.Fatalf("clone %+v: variant %q (%s): %q", clone, v.StableVariantID, v.URI, uri)
		}
		ctok, _, _ := strings.Cut(strings.TrimPrefix(u.Path, "/t/"), "/")
		if c, err := signing.Parse(st.keys, ctok); err != nil || c.Prefix != "/vod/title-000/" {
			t.Errorf("clone's token %q: %+v %v", ctok, c, err)
		}
		if code, b := getBody(t, uri); code != 200 {
			t.Errorf("variant through the clone %s: %d %s", uri, code, b)
		}
	}
	if n == 0 || len(clone.URIReplacement.PerVariantURIs) != n {
		t.Errorf("clone has %d URIs for %d variants", len(clone.URIReplacement.PerVariantURIs), n)
	}
}

// TestSignedSteer: the ranking gives each edge a signed base a player uses in place of its URL;
// the URL alone is refused.
func TestSignedSteer(t *testing.T) {
	st := newStackWith(t, stackOpts{keys: [][]byte{testKey}, bind: true}, "zone-a", "zone-b")
	r := steer(t, st, "zone-a")
	c, err := signing.Parse(st.keys, r.Token)
	if err != nil {
		t.Fatalf("token %q: %v", r.Token, err)
	}
	exp, err := time.Parse(time.RFC3339, r.TokenExpires)
	if err != nil || !exp.Equal(c.Expires) {
		t.Errorf("token_expires %q, token's expiry %v", r.TokenExpires, c.Expires)
	}
	// Bound to the client: the test's own address, which the edges see too.
	if c.Prefix != "/vod/title-000/" || c.IP != "127.0.0.1" {
		t.Errorf("claims %+v; want prefix /vod/title-000/ and address 127.0.0.1", c)
	}
	if len(r.Edges) != 2 {
		t.Fatalf("edges %+v", r.Edges)
	}
	for _, e := range r.Edges {
		if e.Base != e.URL+"/t/"+r.Token {
			t.Errorf("edge %s: base %q, want its URL with /t/<token>", e.Name, e.Base)
		}
		if code, b := getBody(t, e.Base+"/vod/title-000/master.m3u8"); code != 200 {
			t.Errorf("GET %s/vod/title-000/master.m3u8: %d %s", e.Base, code, b)
		}
		if code, _ := getBody(t, e.URL+"/vod/title-000/master.m3u8"); code != 403 {
			t.Errorf("GET %s/vod/title-000/master.m3u8 without token: %d, want 403", e.URL, code)
		}
	}
}

func TestSigningConfig(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  Config
		want string // in the error; "" for none
	}{
		{"unsigned", Config{}, ""},
		{"signed", Config{SigningKeys: [][]byte{testKey}, TokenTTL: time.Minute, TokenBindClient: true}, ""},
		{"short key", Config{SigningKeys: [][]byte{[]byte("short")}}, "signing key 1"},
		{"TTL under a second", Config{SigningKeys: [][]byte{testKey}, TokenTTL: 500 * time.Millisecond}, "token TTL"},
		{"negative TTL", Config{SigningKeys: [][]byte{testKey}, TokenTTL: -time.Hour}, "token TTL"},
		{"binding without a key", Config{TokenBindClient: true}, "needs a signing key"},
	} {
		c.cfg.Origins, c.cfg.Logger = []string{"http://127.0.0.1:1"}, quiet
		s, err := New(c.cfg)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: error %v, want one about %q", c.name, err, c.want)
		case c.want == "" && s.cfg.TokenTTL <= 0:
			t.Errorf("%s: token TTL %v", c.name, s.cfg.TokenTTL)
		}
	}
}

// forged changes one full 6-bit character of the token's signature (the last characters of
// unpadded base64 carry padding bits, so changing those may leave the decoded bytes alone).
func forged(tok string) string {
	b := []byte(tok)
	i := len(b) - 3
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}
