package edge

import (
	"bufio"
	"bytes"
	"testing"

	"github.com/valyala/fasthttp"

	"edgecdn/internal/evloop"
)

// FuzzLoopRequest: any bytes as a request head never panic, and a head the event loop answers
// itself (parseLoopRequest ok, no visit) is read by fasthttp, the goroutine engine's parser,
// the same way: a GET or HEAD over HTTP/1.1 of the same path, query and Origin, closing the connection
// after it when fasthttp would,
// without a body, a range, a precondition or a peer's hop, and not a probe or admin path.
func FuzzLoopRequest(f *testing.F) {
	f.Add([]byte("GET /vod/t/a.ts HTTP/1.1\r\nHost: x\r\n\r\n"))
	f.Add([]byte("HEAD /vod/t/a.ts?x=1 HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, close\r\nOrigin: https://p.example\r\n\r\n"))
	f.Add([]byte("GET /vod/a HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\n"))
	f.Add([]byte("GET /vod/a HTTP/1.1\r\nRange: bytes=0-1\r\nIf-None-Match: \"a\"\r\n\r\n"))
	f.Add([]byte("GET /healthz HTTP/1.1\r\nX: a\r\n b\r\n\r\n"))
	f.Add([]byte("GET /v#x HTTP/1.1\r\n: x\r\n\r\n"))
	f.Fuzz(func(t *testing.T, head []byte) {
		n := evloop.HeadEnd(head)
		if n < 0 {
			return
		}
		r, ok := parseLoopRequest(head[:n])
		if !ok || r.visit {
			return
		}
		var h fasthttp.RequestHeader
		if err := h.Read(bufio.NewReader(bytes.NewReader(head[:n]))); err != nil {
			t.Fatalf("the loop answers %q, which fasthttp refuses: %v", head[:n], err)
		}
		var u fasthttp.URI
		u.Parse(h.Host(), h.RequestURI())
		switch {
		case r.head != h.IsHead() || (!h.IsGet() && !h.IsHead()) || !h.IsHTTP11():
			t.Fatalf("%q: method or version: loop head %v, fasthttp %s", head[:n], r.head, h.Method())
		case !bytes.Equal(r.path, u.PathOriginal()) || !bytes.Equal(r.query, u.QueryString()):
			t.Fatalf("%q: path %q query %q, fasthttp %q %q", head[:n], r.path, r.query, u.PathOriginal(), u.QueryString())
		case h.ConnectionClose() && !r.closeAfter:
			// The loop closes on a "close" option anywhere in the list, as RFC 9112 section
			// 9.6 asks; fasthttp only on a field that is "close" alone.
			t.Fatalf("%q: fasthttp closes after it, the loop does not", head[:n])
		case !bytes.Equal(r.origin, h.Peek("Origin")):
			t.Fatalf("%q: Origin %q, fasthttp %q", head[:n], r.origin, h.Peek("Origin"))
		case h.ContentLength() > 0 || len(h.Peek("Range")) > 0 || len(h.Peek(hopHeader)) > 0 || len(h.Peek("If-None-Match")) > 0:
			t.Fatalf("%q: a body, range, hop or precondition the loop missed", head[:n])
		}
		for _, p := range append(fixedPaths, pAdmin, pPprof) {
			if bytes.HasPrefix(u.PathOriginal(), p) && (len(p) > 1 && p[len(p)-1] == '/' || bytes.Equal(u.PathOriginal(), p) || bytes.Equal(p, pPprof)) {
				t.Fatalf("%q: %s is the fasthttp server's", head[:n], p)
			}
		}
	})
}
