// Package evloop holds what edgecdn's event loop engines share (the zone balancer's and the
// edge's): epoll loops that serve a TCP listener as HAProxy and nginx do, one goroutine per
// loop making its own non-blocking system calls outside Go's poller (Linux only); the hand-over
// of a connection to a fasthttp server (HandoffListener); and the scanning of HTTP/1.1 heads
// as bytes.
package evloop

import (
	"bytes"
	"strings"

	"edgecdn/internal/httpx"
)

// HeadEnd returns the length of the head at the start of b (through its empty line), or -1.
func HeadEnd(b []byte) int {
	i := bytes.Index(b, crlfcrlf)
	if i < 0 {
		return -1
	}
	return i + 4
}

var (
	crlf     = []byte("\r\n")
	crlfcrlf = []byte("\r\n\r\n")
)

// NextField cuts the n-th field line (from 1) off rest, the fields of a head after its first
// line: the line, its name and its value (OWS trimmed). end: the empty line that ends the head;
// ok false: not a well-formed field (obs-fold, a bare LF, a space before the colon, a control
// character) or more than httpx.MaxHeaders of them.
func NextField(rest []byte, n int) (line, name, value, after []byte, end, ok bool) {
	line, after, _ = bytes.Cut(rest, crlf)
	if len(line) == 0 {
		return nil, nil, nil, after, true, false
	}
	name, value, found := bytes.Cut(line, []byte(":"))
	if n > httpx.MaxHeaders || !found || !IsToken(name) || !FieldValueOK(value) {
		return line, nil, nil, after, false, false
	}
	return line, name, TrimOWS(value), after, false, true
}

// tokenChar holds the characters of an RFC 9110 token: visible ASCII but the delimiters.
var tokenChar = func() (t [256]bool) {
	for c := '!'; c <= '~'; c++ {
		t[c] = !strings.ContainsRune(`"(),/:;<=>?@[\]{}`, c)
	}
	return t
}()

// IsToken reports whether b is a non-empty RFC 9110 token (a field name or method).
func IsToken(b []byte) bool {
	for _, c := range b {
		if !tokenChar[c] {
			return false
		}
	}
	return len(b) > 0
}

// FieldValueOK reports whether v holds only visible characters, spaces and tabs.
func FieldValueOK(v []byte) bool {
	for _, c := range v {
		if (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// TrimOWS trims a field value's optional white space.
func TrimOWS(v []byte) []byte { return bytes.Trim(v, " \t") }

// HasToken reports whether the comma-separated list v holds tok (case-insensitive).
func HasToken(v, tok []byte) bool {
	for len(v) > 0 {
		var t []byte
		if i := bytes.IndexByte(v, ','); i >= 0 {
			t, v = v[:i], v[i+1:]
		} else {
			t, v = v, nil
		}
		if bytes.EqualFold(TrimOWS(t), tok) {
			return true
		}
	}
	return false
}

// RequestTarget reports whether target may be served from a loop: an origin-form path of
// visible ASCII (a target with spaces, controls or bytes outside ASCII is the fasthttp
// server's, which refuses or cleans it).
func RequestTarget(target []byte) bool {
	if len(target) == 0 || target[0] != '/' {
		return false
	}
	for _, c := range target {
		if c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

// HostOK reports whether v is a Host field a loop takes: a name of letters, digits, '-', '.' and
// '_', or an IPv6 address in brackets, and an optional port of digits. Any other Host is
// fasthttp's to judge (it refuses some, reads others its own way).
func HostOK(v []byte) bool {
	host, port := v, []byte(nil)
	bracketed := len(v) > 0 && v[0] == '['
	if bracketed {
		i := bytes.IndexByte(v, ']')
		if i < 2 {
			return false
		}
		for _, c := range v[1:i] {
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' || c == ':' || c == '.') {
				return false
			}
		}
		host, port = nil, v[i+1:]
		if len(port) > 0 {
			if port[0] != ':' {
				return false
			}
			port = port[1:]
			if len(port) == 0 {
				return false
			}
		}
	} else if i := bytes.LastIndexByte(v, ':'); i >= 0 {
		host, port = v[:i], v[i+1:]
		if len(port) == 0 {
			return false
		}
	}
	for _, c := range port {
		if c < '0' || c > '9' {
			return false
		}
	}
	if bracketed {
		return true // the address, checked above
	}
	for _, c := range host {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '.' || c == '_') {
			return false
		}
	}
	return len(host) > 0
}

// AppendInt appends the decimal form of n >= 0.
func AppendInt(dst []byte, n int64) []byte {
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

// AppendCORS appends a server's CORS fields for a response that is not a preflight's, as
// httpx.CORS sets them: origins nil allows any origin; sawVary means the response has a Vary
// field that names Origin already.
func AppendCORS(dst []byte, origins httpx.CORSOrigins, origin []byte, sawVary bool) []byte {
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
