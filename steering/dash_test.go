package steering

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"edgecdn/internal/dash"
	"edgecdn/internal/fmp4"
	"edgecdn/internal/steerapi"
)

func TestDASHPlaybackManifest(t *testing.T) {
	st := newStack(t, "zone-a", "zone-b", "zone-c")
	resp, err := http.Get(st.base + "/play/title-000/manifest.mpd?zone=zone-c")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != "application/dash+xml" {
		t.Fatalf("/play/title-000/manifest.mpd: %d %s", resp.StatusCode, ct)
	}
	code, b := getBody(t, st.base+"/play/title-000/manifest.mpd?zone=zone-c")
	if code != 200 {
		t.Fatalf("%d %s", code, b)
	}
	mpd, err := dash.Parse(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("playback MPD does not parse: %v\n%s", err, b)
	}
	cs := mpd.ContentSteering
	if cs == nil || !cs.QueryBeforeStart || cs.DefaultServiceLocation != "zone-c" || !strings.HasPrefix(cs.URL, st.base+"/steering/") {
		t.Fatalf("ContentSteering %+v", cs)
	}
	var locs []string
	for _, bu := range mpd.BaseURLs {
		locs = append(locs, bu.ServiceLocation)
		if want := "http://" + st.lbAddr[bu.ServiceLocation] + "/vod/title-000/"; bu.URL != want {
			t.Errorf("BaseURL %s: %s, want %s", bu.ServiceLocation, bu.URL, want)
		}
		// The templates resolve against every pathway to the title's files.
		as := &mpd.Periods[0].AdaptationSets[0]
		r := &as.Representations[0]
		st := as.Template(r)
		init, _ := dash.Expand(st.Initialization, r.ID, r.Bandwidth, 0, 0)
		code, body := getBody(t, bu.URL+init)
		if _, err := fmp4.CheckInit(body); code != 200 || err != nil {
			t.Fatalf("%s%s: %d, %v", bu.URL, init, code, err)
		}
		segs, _ := st.Segments(mpd.MediaPresentationDuration.Seconds())
		media, _ := dash.Expand(st.Media, r.ID, r.Bandwidth, segs[0].Number, segs[0].Time)
		code, body = getBody(t, bu.URL+media)
		if _, err := fmp4.CheckMedia(body); code != 200 || err != nil {
			t.Fatalf("%s%s: %d, %v", bu.URL, media, code, err)
		}
	}
	if !slices.Equal(locs, []string{"zone-c", "zone-a", "zone-b"}) {
		t.Errorf("service locations %v, want zone-c first", locs)
	}

	// The steering manifest answers DASH's query as dash.js writes it.
	uri := strings.TrimPrefix(cs.URL, st.base)
	prio := func(q string) []string {
		t.Helper()
		code, b := getBody(t, st.base+uri+q)
		var m steerapi.Manifest
		if code != 200 || json.Unmarshal(b, &m) != nil || m.Version != 1 || !strings.HasPrefix(m.ReloadURI, "/steering/") {
			t.Fatalf("manifest%s: %d %s", q, code, b)
		}
		return m.PathwayPriority
	}
	for q, want := range map[string][]string{
		"": {"zone-c", "zone-a", "zone-b"},
		"?_DASH_pathway=%22zone-c%22&_DASH_throughput=5000000": {"zone-c", "zone-a", "zone-b"},
		// A session's first report is no evidence (steering's pathway decisions): it stays.
		"?_DASH_pathway=%22zone-c%22&_DASH_throughput=1000":             {"zone-c", "zone-a", "zone-b"},
		"?_DASH_pathway=%22zone-a%2Czone-c%22&_DASH_throughput=%2C1000": {"zone-c", "zone-a", "zone-b"},
		"?_DASH_pathway=zone-c&_DASH_throughput=":                       {"zone-c", "zone-a", "zone-b"},
	} {
		if got := prio(q); !slices.Equal(got, want) {
			t.Errorf("manifest%s: PATHWAY-PRIORITY %v, want %v", q, got, want)
		}
	}
	for _, q := range []string{
		"?_DASH_pathway=%22%3Cscript%3E%22",
		"?_DASH_pathway=%22zone-a,,zone-b%22",
		"?_DASH_pathway=%22zone-a%22&_DASH_throughput=1,2",
		"?_DASH_pathway=%22zone-a%22&_DASH_throughput=abc",
		"?_DASH_pathway=%22zone-a%22&_DASH_throughput=-1",
		"?_DASH_pathway=" + strings.Repeat("a,", 3000),
	} {
		if code, _ := getBody(t, st.base+uri+q); code != 400 {
			t.Errorf("manifest%s: %d, want 400", q, code)
		}
	}
	for p, want := range map[string]int{
		"/play/nope/manifest.mpd":               404,
		"/play/..%2F..%2Fetc/manifest.mpd":      400,
		"/play/title-000/manifest.mpd?zone=%00": 400,
	} {
		if code, _ := getBody(t, st.base+p); code != want {
			t.Errorf("GET %s: %d, want %d", p, code, want)
		}
	}
}

func TestDASHPathway(t *testing.T) {
	for _, tc := range []struct {
		p, t    string
		current string
		thr     int64
		ok      bool
	}{
		{"", "", "", 0, true},
		{`"a"`, "", "a", 0, true},
		{`"a,b"`, "10,20", "b", 20, true},
		{`"a,b"`, "10,", "b", 0, true},
		{`"a,b"`, ",20", "b", 20, true},
		{"a", "7", "a", 7, true},
		{`"a"`, "1,2", "", 0, false},
		{`"a,"`, "", "", 0, false},
		{`"a b"`, "", "", 0, false},
		{`"a"`, "x", "", 0, false},
		{`""`, "", "", 0, true},
	} {
		cur, thr, ok := dashPathway([]byte(tc.p), []byte(tc.t))
		if string(cur) != tc.current || thr != tc.thr || ok != tc.ok {
			t.Errorf("dashPathway(%q, %q) = %q, %d, %v; want %q, %d, %v", tc.p, tc.t, cur, thr, ok, tc.current, tc.thr, tc.ok)
		}
	}
}

// FuzzDASHPathway: the query parser never panics and what it accepts is a valid pathway and a
// non-negative throughput.
func FuzzDASHPathway(f *testing.F) {
	f.Add([]byte(`"zone-a,zone-b"`), []byte("1000,2000"))
	f.Add([]byte(`"zone-a"`), []byte(""))
	f.Fuzz(func(t *testing.T, p, thr []byte) {
		cur, n, ok := dashPathway(p, thr)
		if ok && (len(cur) > 0 && !validID(cur) || n < 0) {
			t.Fatalf("accepted %q %q as %q %d", p, thr, cur, n)
		}
	})
}

// TestDASHSignedPlayback: with a signing key, every BaseURL of the DASH playback manifest carries
// the session's token; the templates resolve through it to segments the edges serve, and the
// same paths without the token are refused.
func TestDASHSignedPlayback(t *testing.T) {
	st := newStackWith(t, stackOpts{keys: [][]byte{testKey}}, "zone-a", "zone-b")
	code, b := getBody(t, st.base+"/play/title-000/manifest.mpd?zone=zone-b")
	if code != 200 {
		t.Fatalf("%d %s", code, b)
	}
	mpd, err := dash.Parse(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	as := &mpd.Periods[0].AdaptationSets[0]
	r := &as.Representations[0]
	init, _ := dash.Expand(as.Template(r).Initialization, r.ID, r.Bandwidth, 0, 0)
	tok := ""
	for _, bu := range mpd.BaseURLs {
		got := tokenOf(t, bu.URL)
		if tok == "" {
			tok = got
		}
		if got != tok || bu.URL != "http://"+st.lbAddr[bu.ServiceLocation]+"/t/"+tok+"/vod/title-000/" {
			t.Errorf("BaseURL %s: %s", bu.ServiceLocation, bu.URL)
		}
		if code, body := getBody(t, bu.URL+init); code != 200 || len(body) == 0 {
			t.Errorf("%s%s: %d", bu.URL, init, code)
		}
		unsigned := "http://" + st.lbAddr[bu.ServiceLocation] + "/vod/title-000/" + init
		if code, _ := getBody(t, unsigned); code != 403 {
			t.Errorf("%s without a token: %d, want 403", unsigned, code)
		}
	}
}
