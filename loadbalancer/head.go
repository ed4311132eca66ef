package loadbalancer

import (
	"bytes"
	"strings"

	"edgecdn/internal/httpx"
)

// The event loop (loop_linux.go) reads request and response heads as bytes and writes the
// heads it forwards without building fasthttp headers: a request it can forward as is (GET or
// HEAD of a content path, HTTP/1.1, no body, at most httpx.MaxHeaders fields, well-formed
// lines) is rewritten here; anything else goes to the fasthttp server, which answers it (or
// refuses it) as the goroutine engine does. The heads written are those of the goroutine
// engine: hop-by-hop fields dropped, X-Forwarded-For appended to, Via added; on the way back
// the edge's CORS fields and hop-by-hop fields dropped, the balancer's own CORS fields and Date
// written.

// headEnd returns the length of the head at the start of b (through its empty line), or -1.
func headEnd(b []byte) int {
	i := bytes.Index(b, crlfcrlf)
	if i < 0 {
		return -1
	}
	return i + 4
}

var (
	crlf     = []byte("\r\n")
	crlfcrlf = []byte("\r\n\r\n")
	mGET     = []byte("GET")
	mHEAD    = []byte("HEAD")
	vHTTP11  = []byte("HTTP/1.1")
	vHTTP10  = []byte("HTTP/1.0")
)

// nextField cuts the n-th field line (from 1) off rest, the fields of a head after its first
// line: the line, its name and its value (OWS trimmed). end: the empty line that ends the head;
// ok false: not a well-formed field (obs-fold, a bare LF, a space before the colon, a control
// character) or more than httpx.MaxHeaders of them.
func nextField(rest []byte, n int) (line, name, value, after []byte, end, ok bool) {
	line, after, _ = bytes.Cut(rest, crlf)
	if len(line) == 0 {
		return nil, nil, nil, after, true, false
	}
	name, value, found := bytes.Cut(line, []byte(":"))
	if n > httpx.MaxHeaders || !found || !isToken(name) || !fieldValueOK(value) {
		return line, nil, nil, after, false, false
	}
	return line, name, trimOWS(value), after, false, true
}

// reqInfo is what the loop needs of a request it forwards.
type reqInfo struct {
	head       bool   // HEAD: no body in the answer
	closeAfter bool   // Connection: close
	origin     []byte // the Origin field, within the head read
}

// tokenChar holds the characters of an RFC 9110 token: visible ASCII but the delimiters.
var tokenChar = func() (t [256]bool) {
	for c := '!'; c <= '~'; c++ {
		t[c] = !strings.ContainsRune(`"(),/:;<=>?@[\]{}`, c)
	}
	return t
}()

// isToken reports whether b is a non-empty RFC 9110 token (a field name or method).
func isToken(b []byte) bool {
	for _, c := range b {
		if !tokenChar[c] {
			return false
		}
	}
	return len(b) > 0
}

// fieldValueOK reports whether v holds only visible characters, spaces and tabs.
func fieldValueOK(v []byte) bool {
	for _, c := range v {
		if (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

func trimOWS(v []byte) []byte { return bytes.Trim(v, " \t") }

// hasToken reports whether the comma-separated list v holds tok (case-insensitive).
func hasToken(v, tok []byte) bool {
	for len(v) > 0 {
		var t []byte
		if i := bytes.IndexByte(v, ','); i >= 0 {
			t, v = v[:i], v[i+1:]
		} else {
			t, v = v, nil
		}
		if bytes.EqualFold(trimOWS(t), tok) {
			return true
		}
	}
	return false
}

var (
	hConnection       = []byte("Connection")
	hContentLength    = []byte("Content-Length")
	hTransferEncoding = []byte("Transfer-Encoding")
	hExpect           = []byte("Expect")
	hOrigin           = []byte("Origin")
	hDate             = []byte("Date")
	hServer           = []byte("Server")
	hVary             = []byte("Vary")
	vClose            = []byte("close")
	acPrefix          = []byte("Access-Control-")
)

func isHopByHop(name []byte) bool {
	for _, h := range hopByHop {
		if bytes.EqualFold(name, h) {
			return true
		}
	}
	return false
}

// forwardRequest appends to dst the head to send an edge for the client's request head (as
// headEnd cut it), the client's address ip and the balancer's via; ok false means the request
// is not one the loop forwards (the fasthttp server gets it).
func forwardRequest(dst, head, ip, via []byte) (_ []byte, info reqInfo, ok bool) {
	line, rest, _ := bytes.Cut(head, crlf)
	method, line, ok1 := bytes.Cut(line, []byte(" "))
	target, version, ok2 := bytes.Cut(line, []byte(" "))
	switch {
	case !ok1 || !ok2, !bytes.Equal(version, vHTTP11):
		return dst, info, false
	case bytes.Equal(method, mGET):
	case bytes.Equal(method, mHEAD):
		info.head = true
	default:
		return dst, info, false
	}
	// Content paths only (/vod/...): the probes, admin paths and anything else are the fasthttp
	// server's, as is a target with spaces, controls or bytes outside ASCII.
	if len(target) < 2 || target[0] != '/' || target[1] != 'v' {
		return dst, info, false
	}
	for _, c := range target {
		if c <= ' ' || c >= 0x7f {
			return dst, info, false
		}
	}
	start := len(dst)
	dst = append(dst, head[:len(head)-len(rest)]...) // the request line as received
	var xff []byte
	for n := 1; ; n++ {
		l, name, value, after, end, ok := nextField(rest, n)
		if end {
			break
		}
		if !ok {
			return dst[:start], info, false // obs-fold, a bare LF, a space before the colon, too many
		}
		rest = after
		switch {
		case bytes.EqualFold(name, hContentLength), bytes.EqualFold(name, hTransferEncoding), bytes.EqualFold(name, hExpect):
			return dst[:start], info, false // a request body
		case bytes.EqualFold(name, hConnection):
			if hasToken(value, vClose) {
				info.closeAfter = true
			}
			continue
		case bytes.EqualFold(name, hXFF):
			if xff == nil {
				xff = value
			}
			continue
		case bytes.EqualFold(name, hOrigin):
			info.origin = value
		case isHopByHop(name):
			continue
		}
		dst = append(dst, l...)
		dst = append(dst, crlf...)
	}
	dst = append(dst, hXFF...)
	dst = append(dst, ": "...)
	if len(xff) > 0 {
		dst = append(append(dst, xff...), ", "...)
	}
	dst = append(dst, ip...)
	dst = append(dst, "\r\nVia: "...)
	dst = append(dst, via...)
	dst = append(dst, crlfcrlf...)
	return dst, info, true
}

// respInfo is what the loop needs of an edge's response head.
type respInfo struct {
	status int
	length int64 // Content-Length; -1 without one
	keep   bool  // the edge keeps the connection open
}

// parseResponse reads an edge's response head (as headEnd cut it); ok false is a malformed
// head, which is the edge's failure (502, and another edge when the request may be retried).
func parseResponse(head []byte) (info respInfo, ok bool) {
	line, rest, _ := bytes.Cut(head, crlf)
	if len(line) < 12 || line[8] != ' ' || (len(line) > 12 && line[12] != ' ') || !fieldValueOK(line) {
		return info, false
	}
	switch {
	case bytes.Equal(line[:8], vHTTP11):
		info.keep = true
	case bytes.Equal(line[:8], vHTTP10):
	default:
		return info, false
	}
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return info, false
		}
		info.status = info.status*10 + int(c-'0')
	}
	if info.status < 100 {
		return info, false
	}
	info.length = -1
	coded := false
	for n := 1; ; n++ {
		_, name, value, after, end, ok := nextField(rest, n)
		if end {
			break
		}
		if !ok {
			return info, false
		}
		rest = after
		switch {
		case bytes.EqualFold(name, hContentLength):
			cl, ok := parseLength(value)
			if !ok || (info.length >= 0 && info.length != cl) {
				return info, false
			}
			info.length = cl
		case bytes.EqualFold(name, hTransferEncoding):
			coded = coded || !bytes.EqualFold(value, []byte("identity"))
		case bytes.EqualFold(name, hConnection):
			if hasToken(value, vClose) {
				info.keep = false
			}
		}
	}
	if coded {
		// Chunked (or another coding): Transfer-Encoding wins over Content-Length (RFC 9112
		// section 6.3); the body is read by the fasthttp path.
		info.length = -2
	}
	return info, true
}

// parseLength parses a Content-Length value: digits only, at most 18 of them.
func parseLength(v []byte) (int64, bool) {
	if len(v) == 0 || len(v) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// bodyless reports whether a response to a request carries no body whatever its fields say.
func (ri respInfo) bodyless(head bool) bool {
	return head || ri.status < 200 || ri.status == 204 || ri.status == 304
}

// clientHead appends to dst the head to send the client for an edge's response head (parsed
// by parseResponse): the edge's fields but its hop-by-hop and CORS ones, Date set to date,
// then the balancer's CORS fields (origins nil: any origin) for the request's origin, and
// Connection: close when the client connection closes after it.
func clientHead(dst, head, date []byte, origins httpx.CORSOrigins, origin []byte, closeAfter bool) []byte {
	line, rest, _ := bytes.Cut(head, crlf)
	dst = append(dst, line...)
	dst = append(dst, crlf...)
	sawDate, sawServer, sawVary := false, false, false
	for {
		var l []byte
		l, rest, _ = bytes.Cut(rest, crlf)
		if len(l) == 0 {
			break
		}
		name, value, _ := bytes.Cut(l, []byte(":"))
		switch {
		case bytes.EqualFold(name, hConnection), isHopByHop(name):
			continue
		case len(name) > len(acPrefix) && bytes.EqualFold(name[:len(acPrefix)], acPrefix):
			continue
		case bytes.EqualFold(name, hDate):
			if sawDate {
				continue
			}
			sawDate = true
			dst = append(dst, "Date: "...)
			dst = append(dst, date...)
			dst = append(dst, crlf...)
			continue
		case bytes.EqualFold(name, hServer):
			sawServer = true
		case bytes.EqualFold(name, hVary) && origins != nil:
			if sawVary {
				break
			}
			sawVary = true
			v := trimOWS(value)
			if !hasToken(v, hOrigin) && !hasToken(v, []byte("*")) {
				dst = append(dst, name...)
				dst = append(dst, ": "...)
				dst = append(dst, v...)
				dst = append(dst, ", Origin\r\n"...)
				continue
			}
		}
		dst = append(dst, l...)
		dst = append(dst, crlf...)
	}
	if !sawServer {
		dst = append(dst, "Server: edgecdn-lb\r\n"...)
	}
	if !sawDate {
		dst = append(dst, "Date: "...)
		dst = append(dst, date...)
		dst = append(dst, crlf...)
	}
	dst = appendCORS(dst, origins, origin, sawVary)
	if closeAfter {
		dst = append(dst, "Connection: close\r\n"...)
	}
	return append(dst, crlf...)
}

// appendCORS appends the balancer's CORS fields for a response that is not a preflight's, as
// httpx.CORS sets them.
func appendCORS(dst []byte, origins httpx.CORSOrigins, origin []byte, sawVary bool) []byte {
	if origins == nil {
		dst = append(dst, "Access-Control-Allow-Origin: *\r\n"...)
	} else {
		if !sawVary {
			dst = append(dst, "Vary: Origin\r\n"...)
		}
		if !origins.Allowed(origin) {
			return dst
		}
		dst = append(dst, "Access-Control-Allow-Origin: "...)
		dst = append(dst, origin...)
		dst = append(dst, "\r\nAccess-Control-Allow-Credentials: true\r\n"...)
	}
	dst = append(dst, "Access-Control-Expose-Headers: "+httpx.CORSExposeHeaders+"\r\n"...)
	return dst
}

// errorResponse appends a whole answer of the balancer's own (a failure: 502, 503, 504), as
// httpx.Fail writes it.
func errorResponse(dst []byte, status int, msg string, retryAfter bool, date []byte, origins httpx.CORSOrigins, origin []byte, closeAfter bool) []byte {
	dst = append(dst, "HTTP/1.1 "...)
	dst = appendStatus(dst, status)
	dst = append(dst, "\r\nServer: edgecdn-lb\r\nDate: "...)
	dst = append(dst, date...)
	dst = append(dst, "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: "...)
	dst = appendInt(dst, int64(len(msg)+1))
	dst = append(dst, "\r\nCache-Control: no-store\r\n"...)
	if retryAfter {
		dst = append(dst, "Retry-After: 1\r\n"...)
	}
	dst = appendCORS(dst, origins, origin, false)
	if closeAfter {
		dst = append(dst, "Connection: close\r\n"...)
	}
	dst = append(dst, crlf...)
	dst = append(dst, msg...)
	return append(dst, '\n')
}

func appendStatus(dst []byte, status int) []byte {
	dst = appendInt(dst, int64(status))
	switch status {
	case 502:
		return append(dst, " Bad Gateway"...)
	case 503:
		return append(dst, " Service Unavailable"...)
	case 504:
		return append(dst, " Gateway Timeout"...)
	}
	return dst
}

func appendInt(dst []byte, n int64) []byte {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	return append(dst, b[i:]...)
}
