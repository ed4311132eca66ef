package edge

import (
	"bytes"

	"edgecdn/internal/evloop"
)

// The event loop engine (loop_linux.go) answers fresh hits from memory itself and gives every
// other request to the fasthttp server. parseLoopRequest reads a request head as bytes and
// says which: the loop's own (a GET or HEAD of a content path, HTTP/1.1, no body, no range, no
// precondition, no hop from a peer), one request for the fasthttp server (visit: a
// well-formed GET or HEAD the loop does not answer; the connection comes back after it), or
// the whole connection for the fasthttp server (ok false: any other method or version, a body,
// no Host or two, a malformed or oversized head), which answers it as the goroutine engine does.

// loopRequest is what the loop needs of a request.
type loopRequest struct {
	head       bool   // HEAD: no body in the answer
	closeAfter bool   // Connection: close
	visit      bool   // one request for the fasthttp server
	path       []byte // the raw path, as URI().PathOriginal gives it
	query      []byte // the raw query, without '?'
	origin     []byte // the Origin field
}

var (
	mGET     = []byte("GET")
	mHEAD    = []byte("HEAD")
	vHTTP11  = []byte("HTTP/1.1")
	vClose   = []byte("close")
	hConn    = []byte("Connection")
	hOrigin  = []byte("Origin")
	hHop     = []byte(hopHeader)
	hRange   = []byte("Range")
	hHost    = []byte("Host")
	ifPrefix = []byte("If-")
	// A request body: the whole connection goes to fasthttp, which reads (or refuses) it.
	bodyFields = [][]byte{[]byte("Content-Length"), []byte("Transfer-Encoding"), []byte("Expect")}
	// Paths the fasthttp server answers whatever the cache holds: the probes, the admin
	// endpoints and the cluster's.
	fixedPaths = [][]byte{[]byte("/healthz"), []byte("/readyz"), []byte("/metrics"), pCluster}
	pPprof     = []byte("/debug/pprof")
)

// parseLoopRequest reads a request head (through its empty line).
func parseLoopRequest(head []byte) (r loopRequest, ok bool) {
	line, rest, _ := bytes.Cut(head, []byte("\r\n"))
	method, line, ok1 := bytes.Cut(line, []byte(" "))
	target, version, ok2 := bytes.Cut(line, []byte(" "))
	switch {
	case !ok1 || !ok2, !bytes.Equal(version, vHTTP11), !evloop.RequestTarget(target), bytes.IndexByte(target, '#') >= 0, bytes.HasPrefix(target, []byte("//")):
		// fasthttp takes "//host/path" for an authority and a path, and '#' for a fragment:
		// such a target is its to read.
		return r, false
	case bytes.Equal(method, mGET):
	case bytes.Equal(method, mHEAD):
		r.head = true
	default:
		return r, false
	}
	r.path, r.query, _ = bytes.Cut(target, []byte("?"))
	hosts := 0
	for n := 1; ; n++ {
		_, name, value, after, end, ok := evloop.NextField(rest, n)
		if end {
			break
		}
		if !ok {
			return r, false // obs-fold, a bare LF, a space before the colon, too many fields
		}
		rest = after
		switch {
		case bytes.EqualFold(name, hHost):
			if !evloop.HostOK(value) {
				return r, false // fasthttp refuses an empty Host, and reads a malformed one its own way
			}
			hosts++
		case bytes.EqualFold(name, hConn):
			r.closeAfter = r.closeAfter || evloop.HasToken(value, vClose)
		case bytes.EqualFold(name, hOrigin):
			if r.origin == nil {
				r.origin = value
			}
		case bytes.EqualFold(name, hRange), bytes.EqualFold(name, hHop),
			len(name) > len(ifPrefix) && bytes.EqualFold(name[:len(ifPrefix)], ifPrefix):
			r.visit = true
		default:
			for _, f := range bodyFields {
				if bytes.EqualFold(name, f) {
					return r, false
				}
			}
		}
	}
	if hosts != 1 {
		return r, false // RFC 9112 section 3.2: a 400, fasthttp's to answer
	}
	if bytes.HasPrefix(r.path, pAdmin) || bytes.HasPrefix(r.path, pPprof) {
		r.visit = true
	}
	for _, p := range fixedPaths {
		if bytes.Equal(r.path, p) {
			r.visit = true
		}
	}
	return r, true
}
