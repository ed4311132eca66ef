package loadbalancer

import (
	"bufio"
	"bytes"
	"net/http"
	"net/textproto"
	"strings"
	"testing"

	"edgecdn/internal/evloop"
)

// FuzzForwardRequest: any bytes as a client's request head never panic; a head the event loop
// forwards is one HTTP/1.1 GET or HEAD head (net/http reads it) with the balancer's Via last
// and no Connection field.
func FuzzForwardRequest(f *testing.F) {
	f.Add([]byte("GET /vod/t/a.ts HTTP/1.1\r\nHost: x\r\n\r\n"))
	f.Add([]byte("HEAD /vod/t/a.ts HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 1.2.3.4\r\nConnection: close\r\n\r\n"))
	f.Add([]byte("GET /vod/a HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\n"))
	f.Add([]byte("GET /vod/a HTTP/1.1\r\nX: a\r\n b\r\n\r\n"))
	f.Add([]byte("GET /v HTTP/1.1\r\n: x\r\n\r\n"))
	f.Fuzz(func(t *testing.T, head []byte) {
		n := evloop.HeadEnd(head)
		if n < 0 {
			return
		}
		out, info, ok := forwardRequest(nil, head[:n], []byte("127.0.0.1"), []byte("1.1 lb (edgecdn-lb)"))
		if !ok {
			return
		}
		// The target goes as received (the edge judges it), so the head is read as lines and
		// fields rather than by net/http, which refuses some targets an edge answers 400.
		tp := textproto.NewReader(bufio.NewReader(bytes.NewReader(out)))
		line, err := tp.ReadLine()
		if err != nil {
			t.Fatalf("forwarded head %q: %v", out, err)
		}
		hdr, err := tp.ReadMIMEHeader()
		if err != nil {
			t.Fatalf("forwarded head %q does not read: %v", out, err)
		}
		method, _, _ := strings.Cut(line, " ")
		if (method == "HEAD") != info.head || (method != "GET" && method != "HEAD") || !strings.HasSuffix(line, " HTTP/1.1") {
			t.Fatalf("request line %q, head %v", line, info.head)
		}
		if v := hdr.Values("Via"); len(v) == 0 || v[len(v)-1] != "1.1 lb (edgecdn-lb)" {
			t.Fatalf("Via %q", v)
		}
		if hdr.Get("Connection") != "" || hdr.Get("Content-Length") != "" || hdr.Get("Transfer-Encoding") != "" {
			t.Fatalf("forwarded head %q keeps Connection or a body", out)
		}
		if x := hdr.Values("X-Forwarded-For"); len(x) != 1 || !strings.HasSuffix(x[0], "127.0.0.1") {
			t.Fatalf("X-Forwarded-For %q", x)
		}
	})
}

// FuzzEdgeResponseHead: any bytes as an edge's response head never panic; a head parseResponse
// takes becomes a client head that net/http reads with the same status and Content-Length.
func FuzzEdgeResponseHead(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nAccess-Control-Allow-Origin: x\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 206 Partial Content\r\nContent-Length: 5\r\nContent-Length: 5\r\nVary: Accept\r\n\r\n"))
	f.Add([]byte("HTTP/1.0 200\r\nTransfer-Encoding: chunked\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 304 Not Modified\r\nConnection: close\r\nDate: x\r\n\r\n"))
	f.Fuzz(func(t *testing.T, head []byte) {
		n := evloop.HeadEnd(head)
		if n < 0 {
			return
		}
		ri, ok := parseResponse(head[:n])
		if !ok || ri.length < 0 {
			return
		}
		for _, origins := range [][][]byte{nil, {[]byte("https://a.example")}} {
			out := clientHead(nil, head[:n], []byte("Wed, 02 Dec 2026 00:00:00 GMT"), origins, []byte("https://a.example"), false)
			resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(out)), &http.Request{Method: "HEAD"})
			if err != nil {
				t.Fatalf("client head %q does not read: %v", out, err)
			}
			if resp.StatusCode != ri.status {
				t.Fatalf("status %d, parsed %d", resp.StatusCode, ri.status)
			}
			if len(resp.Header.Values("Access-Control-Allow-Origin")) != 1 {
				t.Fatalf("client head %q: Access-Control-Allow-Origin not once", out)
			}
		}
	})
}
