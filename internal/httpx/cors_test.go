package httpx

import (
	"strings"
	"testing"

	"github.com/VictoriaMetrics/metrics"
	"github.com/valyala/fasthttp"
)

// corsHandler wraps a handler that answers 200, or 403 for /forbidden, or passes on the CORS
// headers of an upstream for /proxied (as a balancer does).
func corsHandler(t testing.TB, origins []string, preflights *metrics.Counter) (fasthttp.RequestHandler, *int) {
	t.Helper()
	calls := new(int)
	h, err := CORS(CORSConfig{Origins: origins, Preflights: preflights}, func(ctx *fasthttp.RequestCtx) {
		*calls++
		switch string(ctx.Path()) {
		case "/forbidden":
			Fail(ctx, fasthttp.StatusForbidden, "forbidden")
		case "/proxied":
			ctx.Response.Header.Set("Access-Control-Allow-Origin", "https://upstream.example")
			ctx.Response.Header.Set("Access-Control-Expose-Headers", "X-Upstream")
			ctx.Response.Header.Set("Vary", "Accept-Encoding")
			ctx.WriteString("ok")
		default:
			ctx.Response.Header.Set("X-Served-By", "e1")
			ctx.WriteString("ok")
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return h, calls
}

func do(h fasthttp.RequestHandler, method, path string, hdr ...string) *fasthttp.RequestCtx {
	ctx := new(fasthttp.RequestCtx)
	ctx.Request.Header.SetMethod(method)
	ctx.Request.SetRequestURI(path)
	for i := 0; i+1 < len(hdr); i += 2 {
		ctx.Request.Header.Set(hdr[i], hdr[i+1])
	}
	h(ctx)
	return ctx
}

// count returns how many times a header appears in a response, whatever its spelling.
func count(ctx *fasthttp.RequestCtx, name string) int {
	n := 0
	for k := range ctx.Response.Header.All() {
		if strings.EqualFold(string(k), name) {
			n++
		}
	}
	return n
}

func TestCORS(t *testing.T) {
	const page = "http://127.0.0.1:3000"
	tests := []struct {
		name       string
		origins    []string
		method     string
		path       string
		hdr        []string
		wantStatus int
		want       map[string]string // "" means absent
		wantCalls  int
	}{
		{"preflight, any origin", nil, "OPTIONS", "/vod/t/master.m3u8",
			[]string{"Origin", page, "Access-Control-Request-Method", "GET", "Access-Control-Request-Headers", "range,cmcd-request"},
			204, map[string]string{"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Methods": CORSAllowMethods,
				"Access-Control-Allow-Headers": CORSAllowHeaders, "Access-Control-Max-Age": "7200", "Access-Control-Allow-Credentials": "",
				"Access-Control-Expose-Headers": "", "Vary": ""}, 0},
		{"GET, any origin", nil, "GET", "/vod/t/master.m3u8", []string{"Origin", page},
			200, map[string]string{"Access-Control-Allow-Origin": "*", "Access-Control-Expose-Headers": CORSExposeHeaders,
				"Access-Control-Allow-Methods": "", "Vary": "", "X-Served-By": "e1"}, 1},
		{"GET without Origin, any origin", nil, "GET", "/x", nil,
			200, map[string]string{"Access-Control-Allow-Origin": "*"}, 1},
		{"error, any origin", nil, "GET", "/forbidden", []string{"Origin", page},
			403, map[string]string{"Access-Control-Allow-Origin": "*", "Access-Control-Expose-Headers": CORSExposeHeaders}, 1},
		{"preflight, listed origin", []string{page, "https://b.example"}, "OPTIONS", "/x",
			[]string{"Origin", page, "Access-Control-Request-Method", "GET"},
			204, map[string]string{"Access-Control-Allow-Origin": page, "Access-Control-Allow-Credentials": "true",
				"Access-Control-Allow-Methods": CORSAllowMethods, "Vary": "Origin"}, 0},
		{"GET, listed origin", []string{page}, "GET", "/x", []string{"Origin", page},
			200, map[string]string{"Access-Control-Allow-Origin": page, "Access-Control-Allow-Credentials": "true",
				"Access-Control-Expose-Headers": CORSExposeHeaders, "Vary": "Origin"}, 1},
		{"GET, listed origin in other case", []string{"https://Player.Example:443"}, "GET", "/x", []string{"Origin", "https://player.example"},
			200, map[string]string{"Access-Control-Allow-Origin": "https://player.example"}, 1},
		{"GET, unlisted origin", []string{page}, "GET", "/x", []string{"Origin", "http://evil.example"},
			200, map[string]string{"Access-Control-Allow-Origin": "", "Access-Control-Expose-Headers": "", "Vary": "Origin"}, 1},
		{"GET, origin null", []string{page}, "GET", "/x", []string{"Origin", "null"},
			200, map[string]string{"Access-Control-Allow-Origin": "", "Vary": "Origin"}, 1},
		{"GET, a listed origin's prefix", []string{page}, "GET", "/x", []string{"Origin", page + "0"},
			200, map[string]string{"Access-Control-Allow-Origin": ""}, 1},
		{"preflight, unlisted origin", []string{page}, "OPTIONS", "/x", []string{"Origin", "http://evil.example", "Access-Control-Request-Method", "GET"},
			204, map[string]string{"Access-Control-Allow-Origin": "", "Access-Control-Allow-Methods": "", "Vary": "Origin"}, 0},
		{"error, listed origin", []string{page}, "GET", "/forbidden", []string{"Origin", page},
			403, map[string]string{"Access-Control-Allow-Origin": page, "Vary": "Origin"}, 1},
		{"upstream's CORS replaced, any origin", nil, "GET", "/proxied", []string{"Origin", page},
			200, map[string]string{"Access-Control-Allow-Origin": "*", "Access-Control-Expose-Headers": CORSExposeHeaders, "Vary": "Accept-Encoding"}, 1},
		{"upstream's CORS replaced, listed origin", []string{page}, "GET", "/proxied", []string{"Origin", page},
			200, map[string]string{"Access-Control-Allow-Origin": page, "Vary": "Accept-Encoding, Origin"}, 1},
		{"huge Access-Control-Request-Headers", nil, "OPTIONS", "/x",
			[]string{"Origin", page, "Access-Control-Request-Method", "GET", "Access-Control-Request-Headers", strings.Repeat("x-a,", 1500)},
			204, map[string]string{"Access-Control-Allow-Headers": CORSAllowHeaders}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set := metrics.NewSet()
			pre := set.NewCounter("preflights_total")
			h, calls := corsHandler(t, tt.origins, pre)
			ctx := do(h, tt.method, tt.path, tt.hdr...)
			if got := ctx.Response.StatusCode(); got != tt.wantStatus {
				t.Errorf("status %d, want %d", got, tt.wantStatus)
			}
			for k, want := range tt.want {
				if got := string(ctx.Response.Header.Peek(k)); got != want {
					t.Errorf("%s: %q, want %q", k, got, want)
				}
				if n := count(ctx, k); want != "" && n != 1 {
					t.Errorf("%s appears %d times, want once", k, n)
				}
			}
			if *calls != tt.wantCalls {
				t.Errorf("handler called %d times, want %d (a preflight never reaches it)", *calls, tt.wantCalls)
			}
			if wantPre := uint64(1 - tt.wantCalls); tt.method == "OPTIONS" && pre.Get() != wantPre {
				t.Errorf("preflights counted %d, want %d", pre.Get(), wantPre)
			}
		})
	}
}

func TestStripCORS(t *testing.T) {
	var h fasthttp.ResponseHeader
	h.DisableNormalizing()
	h.Set("access-control-allow-origin", "*")
	h.Set("ACCESS-CONTROL-EXPOSE-HEADERS", "X")
	h.Set("Access-Control-Max-Age", "5")
	h.Set("X-Served-By", "e1")
	StripCORS(&h)
	for k := range h.All() {
		if strings.HasPrefix(strings.ToLower(string(k)), "access-control-") {
			t.Errorf("%s left", k)
		}
	}
	if string(h.Peek("X-Served-By")) != "e1" {
		t.Error("other headers dropped")
	}
}

func TestParseCORSOrigins(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{"", nil, false},
		{"*", nil, false},
		{" https://a.example , http://127.0.0.1:3000", []string{"https://a.example", "http://127.0.0.1:3000"}, false},
		{"HTTPS://A.Example:443,http://b.example:80", []string{"https://a.example", "http://b.example"}, false},
		{"http://[::1]:8080,http://[::1]", []string{"http://[::1]:8080", "http://[::1]"}, false},
		{"https://a.example:8443", []string{"https://a.example:8443"}, false},
		{"*,https://a.example", nil, true},
		{"a.example", nil, true},
		{"ftp://a.example", nil, true},
		{"https://a.example/", nil, true},
		{"https://a.example/path", nil, true},
		{"https://a.example?x", nil, true},
		{"https://user@a.example", nil, true},
		{"https://a.example:0", nil, true},
		{"https://a.example:65536", nil, true},
		{"https://a.example:", nil, true},
		{"https://a.example:+80", nil, true},
		{"https://", nil, true},
		{"https://:80", nil, true},
		{"http://[::1", nil, true},
		{"http://[zz::1]", nil, true},
		{"http://[127.0.0.1]", nil, true},
		{"http://a:b:c", nil, true},
		{"null", nil, true},
		{"https://a\x00.example", nil, true},
		{"https://a example", nil, true},
		{"https://" + strings.Repeat("a", 300), nil, true},
		{strings.Repeat("https://a.example,", MaxCORSOrigins+1), nil, true},
	}
	for _, tt := range tests {
		got, err := ParseCORSOrigins(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseCORSOrigins(%.40q): error %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if strings.Join(got, " ") != strings.Join(tt.want, " ") {
			t.Errorf("ParseCORSOrigins(%.40q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzParseCORSOrigins: the parser never panics, and what it accepts is a list of origins that
// parse again to themselves and that the handler accepts.
func FuzzParseCORSOrigins(f *testing.F) {
	for _, s := range []string{"", "*", "https://a.example", "http://127.0.0.1:3000,https://b.example:8443", "http://[::1]:80", "https://a.example/x", "http://a:b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseCORSOrigins(s)
		if err != nil {
			return
		}
		again, err := ParseCORSOrigins(strings.Join(got, ","))
		if err != nil || strings.Join(again, ",") != strings.Join(got, ",") {
			t.Fatalf("%q parsed to %q, which parses to %q, %v", s, got, again, err)
		}
		for _, o := range got {
			_, rest, ok := strings.Cut(o, "://")
			if !ok || !strings.HasPrefix(o, "http") || rest == "" || strings.ContainsAny(rest, "/?#@ \r\n\x00") || strings.ToLower(o) != o {
				t.Fatalf("%q accepted", o)
			}
		}
		if _, err := CORS(CORSConfig{Origins: got}, func(*fasthttp.RequestCtx) {}); err != nil {
			t.Fatalf("handler refuses %q: %v", got, err)
		}
	})
}

// TestCORSNoAllocs: the CORS headers cost a hit no allocation.
func TestCORSNoAllocs(t *testing.T) {
	for _, origins := range [][]string{nil, {"http://127.0.0.1:3000"}} {
		h, err := CORS(CORSConfig{Origins: origins}, func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("ok") })
		if err != nil {
			t.Fatal(err)
		}
		ctx := new(fasthttp.RequestCtx)
		ctx.Request.Header.SetMethod("GET")
		ctx.Request.SetRequestURI("/vod/t/r/seg00001.ts")
		ctx.Request.Header.Set("Origin", "http://127.0.0.1:3000")
		h(ctx)
		if n := testing.AllocsPerRun(100, func() { ctx.Response.Reset(); h(ctx) }); n != 0 {
			t.Errorf("origins %q: %v allocations per request, want 0", origins, n)
		}
	}
}
