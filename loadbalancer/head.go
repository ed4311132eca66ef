package loadbalancer

import (
	"bytes"

	"edgecdn/internal/evloop"
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

var (
	crlf     = []byte("\r\n")
	crlfcrlf = []byte("\r\n\r\n")
	mGET     = []byte("GET")
	mHEAD    = []byte("HEAD")
	vHTTP11  = []byte("HTTP/1.1")
	vHTTP10  = []byte("HTTP/1.0")
)

// reqInfo is what the loop needs of a request it forwards.
type reqInfo struct {
	head       bool   // HEAD: no body in the answer
	closeAfter bool   // Connection: close
	origin     []byte // the Origin field, within the head read
}

var (
	hConnection       = []byte("Connection")
	hContentLength    = []byte("Content-Length")
	hTransferEncoding = []byte("Transfer-Encoding")
	hExpect           = []byte("Expect")
	hOrigin           = []byte("Origin")
	hHost             = []byte("Host")
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
	hosts := 0
	for n := 1; ; n++ {
		l, name, value, after, end, ok := evloop.NextField(rest, n)
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
			if evloop.HasToken(value, vClose) {
				info.closeAfter = true
			}
			continue
		case bytes.EqualFold(name, hXFF):
			if xff == nil {
				xff = value
			}
			continue
		case bytes.EqualFold(name, hOrigin):
			if info.origin == nil {
				info.origin = value // the first, as fasthttp's Peek
			}
		case bytes.EqualFold(name, hHost):
			if !evloop.HostOK(value) {
				return dst[:start], info, false // none, empty or malformed: fasthttp answers 400
			}
			hosts++
		case isHopByHop(name):
			continue
		}
		dst = append(dst, l...)
		dst = append(dst, crlf...)
	}
	if hosts != 1 {
		return dst[:start], info, false // RFC 9112 section 3.2: a 400, fasthttp's to answer
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

// parseResponse reads an edge's response head (as evloop.HeadEnd cut it); ok false is a malformed
// head, which is the edge's failure (502, and another edge when the request may be retried).
func parseResponse(head []byte) (info respInfo, ok bool) {
	line, rest, _ := bytes.Cut(head, crlf)
	if len(line) < 12 || line[8] != ' ' || (len(line) > 12 && line[12] != ' ') || !evloop.FieldValueOK(line) {
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
		_, name, value, after, end, ok := evloop.NextField(rest, n)
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
			if evloop.HasToken(value, vClose) {
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
			v := evloop.TrimOWS(value)
			if !evloop.HasToken(v, hOrigin) && !evloop.HasToken(v, []byte("*")) {
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
	dst = evloop.AppendCORS(dst, origins, origin, sawVary)
	if closeAfter {
		dst = append(dst, "Connection: close\r\n"...)
	}
	return append(dst, crlf...)
}

// errorResponse appends a whole answer of the balancer's own (a failure: 502, 503, 504), as
// httpx.Fail writes it.
func errorResponse(dst []byte, status int, msg string, retryAfter bool, date []byte, origins httpx.CORSOrigins, origin []byte, closeAfter bool) []byte {
	dst = append(dst, "HTTP/1.1 "...)
	dst = appendStatus(dst, status)
	dst = append(dst, "\r\nServer: edgecdn-lb\r\nDate: "...)
	dst = append(dst, date...)
	dst = append(dst, "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: "...)
	dst = evloop.AppendInt(dst, int64(len(msg)+1))
	dst = append(dst, "\r\nCache-Control: no-store\r\n"...)
	if retryAfter {
		dst = append(dst, "Retry-After: 1\r\n"...)
	}
	dst = evloop.AppendCORS(dst, origins, origin, false)
	if closeAfter {
		dst = append(dst, "Connection: close\r\n"...)
	}
	dst = append(dst, crlf...)
	dst = append(dst, msg...)
	return append(dst, '\n')
}

func appendStatus(dst []byte, status int) []byte {
	dst = evloop.AppendInt(dst, int64(status))
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
