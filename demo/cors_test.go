package demo

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"edgecdn/internal/httpx"
	"edgecdn/internal/signing"
	"edgecdn/origin/packager"
)

// TestCORS: with an allowlist, a web page on an allowed origin can read what every server
// answers, errors (a signed-URL 403, a 404) included, and its preflights get 204 without
// reaching a cache or an origin; a page on another origin gets no Access-Control-Allow-Origin.
// With the default, any page reads everything, without credentials. Each CORS header appears
// exactly once, through the balancer too (which passes on an edge's response).
func TestCORS(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the whole CDN")
	}
	dir := t.TempDir()
	if _, err := packager.Package(context.Background(), packager.Config{Out: dir, Titles: 1, Duration: 8 * time.Second, Ladder: "small"}); err != nil {
		t.Fatal(err)
	}
	const page = "http://127.0.0.1:3000"
	t.Run("allowlist", func(t *testing.T) { testCORS(t, dir, []string{page}) })
	t.Run("any origin", func(t *testing.T) { testCORS(t, dir, nil) })
}

func testCORS(t *testing.T, dir string, origins []string) {
	ctx := context.Background()
	const page, stranger = "http://127.0.0.1:3000", "http://127.0.0.2:3000"
	key := []byte("0123456789abcdef0123456789abcdef")
	st, err := Start(ctx, StackConfig{Content: dir, Zones: []string{"zone-a"}, EdgesPerZone: 1, Origins: 1,
		SigningKeys: [][]byte{key}, CORSOrigins: origins})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Stop(ctx)
	any := len(origins) == 0
	allowed := func(o string) string { // the Access-Control-Allow-Origin a page on o gets
		switch {
		case any:
			return "*"
		case o == page:
			return page
		}
		return ""
	}
	tok := signing.Sign(key, signing.Claims{Prefix: "/vod/title-000/", Expires: time.Now().Add(time.Hour)})
	seg := "/vod/title-000/400k/seg00000.m4s"
	signed := signing.PathPrefix + tok + seg
	lb := "http://" + st.LBs["zone-a"]
	servers := []struct {
		name, base, ok, fail string
		failCode             int
	}{
		{"origin", st.Origins[0], seg, "/vod/title-000/none.ts", 404},
		{"edge", st.Edges[0].URL, signed, seg, 403}, // unsigned: refused
		{"balancer", lb, signed, seg, 403},
		{"steering", st.Steering, "/steer/title-000?zone=zone-a", "/steer/no-such-title!", 400},
	}
	type check struct {
		name      string
		method    string
		path      func(okPath, failPath string) string
		hdr       []string
		wantCode  func(failCode int) int
		wantACAO  string
		preflight bool
	}
	ok := func(o, _ string) string { return o }
	bad := func(_, f string) string { return f }
	is := func(c int) func(int) int { return func(int) int { return c } }
	checks := []check{
		{"preflight", "OPTIONS", ok, []string{"Origin", page, "Access-Control-Request-Method", "GET", "Access-Control-Request-Headers", "range,cmcd-request"}, is(204), allowed(page), true},
		{"preflight of a failing path", "OPTIONS", bad, []string{"Origin", page, "Access-Control-Request-Method", "GET"}, is(204), allowed(page), true},
		{"preflight from another origin", "OPTIONS", ok, []string{"Origin", stranger, "Access-Control-Request-Method", "GET"}, is(204), allowed(stranger), true},
		{"GET", "GET", ok, []string{"Origin", page, "Range", "bytes=0-99"}, func(int) int { return 0 }, allowed(page), false},
		{"GET from another origin", "GET", ok, []string{"Origin", stranger}, func(int) int { return 0 }, allowed(stranger), false},
		{"error", "GET", bad, []string{"Origin", page}, func(c int) int { return c }, allowed(page), false},
		{"HEAD", "HEAD", ok, []string{"Origin", page}, func(int) int { return 0 }, allowed(page), false},
	}
	client := &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: 10 * time.Second}
	before := st.Edges[0].Server.Stats()
	for _, srv := range servers {
		for _, c := range checks {
			t.Run(srv.name+"/"+c.name, func(t *testing.T) {
				req, _ := http.NewRequest(c.method, srv.base+c.path(srv.ok, srv.fail), nil)
				for i := 0; i+1 < len(c.hdr); i += 2 {
					req.Header.Set(c.hdr[i], c.hdr[i+1])
				}
				resp, err := client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				want := c.wantCode(srv.failCode)
				if want == 0 {
					want = resp.StatusCode // 200 or 206
					if want != 200 && want != 206 {
						t.Errorf("status %d, want 200 or 206", want)
					}
				}
				if resp.StatusCode != want {
					t.Errorf("status %d, want %d", resp.StatusCode, want)
				}
				h := resp.Header
				if got := h.Values("Access-Control-Allow-Origin"); c.wantACAO == "" && len(got) != 0 || c.wantACAO != "" && (len(got) != 1 || got[0] != c.wantACAO) {
					t.Errorf("Access-Control-Allow-Origin %q, want exactly [%s]", got, c.wantACAO)
				}
				if vary := h.Values("Vary"); !any && (len(vary) != 1 || !strings.Contains(vary[0], "Origin")) {
					t.Errorf("Vary %q, want one header naming Origin", vary)
				}
				once := map[string]string{}
				switch {
				case c.wantACAO == "":
				case c.preflight:
					once = map[string]string{"Access-Control-Allow-Methods": httpx.CORSAllowMethods, "Access-Control-Allow-Headers": httpx.CORSAllowHeaders,
						"Access-Control-Max-Age": "7200"}
				default:
					once = map[string]string{"Access-Control-Expose-Headers": httpx.CORSExposeHeaders}
				}
				if c.wantACAO != "" && !any {
					once["Access-Control-Allow-Credentials"] = "true"
				}
				for k, v := range once {
					if got := h.Values(k); len(got) != 1 || got[0] != v {
						t.Errorf("%s %q, want exactly [%s]", k, got, v)
					}
				}
				if got := h.Values("Access-Control-Allow-Credentials"); any && len(got) != 0 {
					t.Errorf("credentials allowed to any origin: %q", got)
				}
			})
		}
	}
	// The preflights reached neither the cache nor an origin, and were no errors: the edge
	// counted only the GETs and HEADs.
	after := st.Edges[0].Server.Stats()
	if got := after.OriginFetches - before.OriginFetches; got > 1 {
		t.Errorf("the edge fetched from the origin %d times for one segment", got)
	}
}
