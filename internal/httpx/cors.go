package httpx

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/VictoriaMetrics/metrics"
	"github.com/valyala/fasthttp"
)

// CORSConfig configures CORS, which answers browsers whose page comes from another origin (the
// Fetch standard's CORS protocol), so that a player in a web page (hls.js, dash.js) can read
// playlists, segments and steering manifests, and the headers a page shows: every response
// carries Access-Control-Allow-Origin and Access-Control-Expose-Headers, errors included; a
// preflight (OPTIONS) is answered 204 at once, never reaching the handler (no cache, no
// origin, no error counted). The zero value allows every origin.
type CORSConfig struct {
	// Origins are the origins whose pages may read responses, as browsers send them in the
	// Origin header: "https://player.example.com", "http://127.0.0.1:3000". Empty allows every
	// origin: Access-Control-Allow-Origin: *, without credentials, right for public content.
	// With a list, a listed Origin is echoed with Access-Control-Allow-Credentials: true (a
	// page may then send cookies or HTTP authentication), an unlisted one gets no
	// Access-Control-Allow-Origin (the browser refuses the response to the page), and every
	// response carries Vary: Origin. Parse a flag's value with ParseCORSOrigins.
	Origins []string
	// Preflights counts the preflights answered; optional.
	Preflights *metrics.Counter
}

// CORSExposeHeaders are the response headers a page may read beyond the CORS-safelisted ones:
// what players and monitoring pages use (the serving node's name, RFC 9211 Cache-Status,
// CTA-5006 CMSD, validators and ranges).
const CORSExposeHeaders = "Accept-Ranges, Age, Cache-Status, CMSD-Dynamic, CMSD-Static, Content-Length, Content-Range, Date, ETag, Retry-After, Server-Timing, Via, X-Served-By"

// CORSAllowHeaders are the request headers a preflight allows: ranges and conditional requests,
// CTA-5004 CMCD sent as headers, and what players set on their requests.
const CORSAllowHeaders = "Range, If-Match, If-None-Match, If-Modified-Since, If-Range, If-Unmodified-Since, CMCD-Request, CMCD-Object, CMCD-Status, CMCD-Session, Content-Type, Cache-Control, Pragma"

// CORSAllowMethods are the methods a preflight allows: every server reads only.
const CORSAllowMethods = "GET, HEAD, OPTIONS"

// CORSMaxAge is how long (seconds) a browser may reuse a preflight's answer: Chromium's cap.
const CORSMaxAge = 7200

var (
	hOrigin  = []byte("Origin")
	hVary    = []byte("Vary")
	hAllow   = []byte("Allow")
	hACAO    = []byte("Access-Control-Allow-Origin")
	hACAC    = []byte("Access-Control-Allow-Credentials")
	hACEH    = []byte("Access-Control-Expose-Headers")
	hACAM    = []byte("Access-Control-Allow-Methods")
	hACAH    = []byte("Access-Control-Allow-Headers")
	hACMA    = []byte("Access-Control-Max-Age")
	vAny     = []byte("*")
	vTrue    = []byte("true")
	vOrigin  = []byte("Origin")
	vExpose  = []byte(CORSExposeHeaders)
	vHeaders = []byte(CORSAllowHeaders)
	vMethods = []byte(CORSAllowMethods)
	vMaxAge  = []byte(strconv.Itoa(CORSMaxAge))
)

// CORS wraps next with the CORS protocol of cfg. It refuses an allowlist entry that
// ParseCORSOrigins would refuse. next must not set Access-Control-* headers itself: a proxy
// removes an upstream's with StripCORS.
func CORS(cfg CORSConfig, next fasthttp.RequestHandler) (fasthttp.RequestHandler, error) {
	c := &cors{next: next, preflights: cfg.Preflights}
	for _, o := range cfg.Origins {
		n, err := normalizeOrigin(o)
		if err != nil {
			return nil, err
		}
		c.origins = append(c.origins, []byte(n))
	}
	return c.serve, nil
}

type cors struct {
	origins    [][]byte // normalized; empty: any origin
	next       fasthttp.RequestHandler
	preflights *metrics.Counter
}

func (c *cors) serve(ctx *fasthttp.RequestCtx) {
	if ctx.IsOptions() {
		// A preflight, or any OPTIONS: what the server allows, nothing else.
		if c.preflights != nil {
			c.preflights.Inc()
		}
		ctx.SetStatusCode(fasthttp.StatusNoContent)
		ctx.Response.Header.SetBytesKV(hAllow, vMethods)
		c.set(ctx, true)
		return
	}
	c.next(ctx)
	c.set(ctx, false)
}

// set puts this server's CORS headers on the response. Each is set, not added, so it appears
// once; a proxy removes the upstream's first (StripCORS), whatever their spelling.
func (c *cors) set(ctx *fasthttp.RequestCtx, preflight bool) {
	h := &ctx.Response.Header
	if len(c.origins) == 0 {
		h.SetBytesKV(hACAO, vAny)
	} else {
		addVaryOrigin(h)
		o := ctx.Request.Header.PeekBytes(hOrigin)
		if !c.allowed(o) {
			return
		}
		h.SetBytesKV(hACAO, o)
		h.SetBytesKV(hACAC, vTrue)
	}
	if preflight {
		h.SetBytesKV(hACAM, vMethods)
		h.SetBytesKV(hACAH, vHeaders)
		h.SetBytesKV(hACMA, vMaxAge)
		return
	}
	h.SetBytesKV(hACEH, vExpose)
}

func (c *cors) allowed(o []byte) bool {
	if len(o) == 0 {
		return false
	}
	for _, a := range c.origins {
		if bytes.EqualFold(o, a) {
			return true
		}
	}
	return false
}

// addVaryOrigin adds Origin to the response's Vary unless it is there already.
func addVaryOrigin(h *fasthttp.ResponseHeader) {
	v := h.PeekBytes(hVary)
	if len(v) == 0 {
		h.SetBytesKV(hVary, vOrigin)
		return
	}
	for _, tok := range bytes.Split(v, []byte(",")) {
		tok = bytes.TrimSpace(tok)
		if bytes.EqualFold(tok, vOrigin) || bytes.Equal(tok, vAny) {
			return
		}
	}
	var buf [128]byte
	h.SetBytesKV(hVary, append(append(append(buf[:0], v...), ", "...), vOrigin...))
}

// StripCORS removes the CORS response headers whatever their spelling: a proxy calls it on the
// response it passes on, so that only its own policy answers.
func StripCORS(h *fasthttp.ResponseHeader) {
	const prefix = "Access-Control-"
	var names [8][64]byte
	var lens [8]int
	n := 0
	for k := range h.All() {
		if n < len(names) && len(k) > len(prefix) && len(k) <= len(names[0]) && strings.EqualFold(string(k[:len(prefix)]), prefix) {
			lens[n] = copy(names[n][:], k)
			n++
		}
	}
	for i := range n {
		h.DelBytes(names[i][:lens[i]])
	}
}

// MaxCORSOrigins bounds an allowlist.
const MaxCORSOrigins = 64

// ParseCORSOrigins parses a --cors-origins value: empty or "*" allows every origin (nil);
// otherwise a comma-separated list of origins, scheme://host[:port] with scheme http or https
// and no path, query, fragment or user information. Hosts are compared without case and a
// default port (80, 443) may be omitted or given.
func ParseCORSOrigins(s string) ([]string, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "*" {
		return nil, nil
	}
	var out []string
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if f == "*" {
			return nil, errors.New("cors origins: \"*\" allows every origin, alone, not in a list")
		}
		n, err := normalizeOrigin(f)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
		if len(out) > MaxCORSOrigins {
			return nil, fmt.Errorf("cors origins: more than %d", MaxCORSOrigins)
		}
	}
	return out, nil
}

// normalizeOrigin checks an origin and returns it as a browser serializes it (RFC 6454):
// lower-case scheme and host, no default port.
func normalizeOrigin(o string) (string, error) {
	bad := func(why string) (string, error) {
		return "", fmt.Errorf("cors origin %.80q: %s (want http[s]://host[:port])", o, why)
	}
	if len(o) > 256 {
		return bad("too long")
	}
	scheme, rest, ok := strings.Cut(o, "://")
	if !ok {
		return bad("no scheme")
	}
	scheme = strings.ToLower(scheme)
	if scheme != "http" && scheme != "https" {
		return bad("scheme is not http or https")
	}
	if rest == "" {
		return bad("no host")
	}
	for _, c := range []byte(rest) {
		if c <= ' ' || c >= 0x7f || strings.IndexByte("/?#@\\\"'<>`{}|^%", c) >= 0 {
			return bad("only a host and a port may follow the scheme")
		}
	}
	host, port := rest, ""
	if strings.HasPrefix(rest, "[") {
		i := strings.IndexByte(rest, ']')
		if i < 0 {
			return bad("bad IPv6 address")
		}
		host = rest[1:i]
		if after := rest[i+1:]; after != "" {
			if after[0] != ':' {
				return bad("bad host")
			}
			port = after[1:]
		}
		if !strings.Contains(host, ":") || net.ParseIP(host) == nil {
			return bad("bad IPv6 address")
		}
		host = "[" + host + "]"
	} else {
		if i := strings.LastIndexByte(rest, ':'); i >= 0 {
			host, port = rest[:i], rest[i+1:]
			if port == "" {
				return bad("bad port")
			}
		}
		if host == "" || strings.ContainsAny(host, ":[]") {
			return bad("bad host")
		}
	}
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 || port[0] == '0' || port[0] == '+' || port[0] == '-' {
			return bad("bad port")
		}
	}
	host = strings.ToLower(host)
	if scheme == "http" && port == "80" || scheme == "https" && port == "443" {
		port = ""
	}
	if port != "" {
		return scheme + "://" + host + ":" + port, nil
	}
	return scheme + "://" + host, nil
}

// CORSOrigins is a normalized allowlist for a server that writes its CORS headers itself (the
// balancer's event loop) rather than through CORS: nil allows any origin.
type CORSOrigins [][]byte

// NewCORSOrigins normalizes an allowlist as CORS does.
func NewCORSOrigins(origins []string) (CORSOrigins, error) {
	var c CORSOrigins
	for _, o := range origins {
		n, err := normalizeOrigin(o)
		if err != nil {
			return nil, err
		}
		c = append(c, []byte(n))
	}
	return c, nil
}

// Allowed reports whether origin o may read a response, as CORS decides it.
func (c CORSOrigins) Allowed(o []byte) bool { return (&cors{origins: c}).allowed(o) }
