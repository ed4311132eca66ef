package httpx

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

func startServer(t *testing.T) string {
	t.Helper()
	ln, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("ok") }, Options{})
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown() })
	return ln.Addr().String()
}

// TestHTTPVersion: a request line with a version other than HTTP/1.0 or HTTP/1.1 gets 505
// (RFC 9110, 15.6.6) and the connection closed, rather than an answer as HTTP/1.1.
func TestHTTPVersion(t *testing.T) {
	addr := startServer(t)
	tests := []struct{ proto, want string }{
		{"HTTP/1.1", "200 OK"},
		{"HTTP/1.0", "200 OK"},
		{"HTTP/1.2", "505 HTTP Version Not Supported"},
		{"HTTP/2.0", "505 HTTP Version Not Supported"},
		{"HTTP/3", "400 Bad Request"}, // not HTTP/DIGIT.DIGIT: malformed
	}
	for _, tt := range tests {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, "GET /x "+tt.proto+"\r\nHost: a\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		c.Close()
		if err != nil {
			t.Errorf("%s: %v", tt.proto, err)
			continue
		}
		resp.Body.Close()
		if resp.Status != tt.want {
			t.Errorf("%s: status %q; want %q", tt.proto, resp.Status, tt.want)
		}
		if tt.want != "200 OK" && !resp.Close {
			t.Errorf("%s: connection kept open", tt.proto)
		}
	}
}

// TestOversizedHead: a request line or header block far above the read buffer gets 414 or 431
// and the connection closed, and the client sees that status: the server reads what the client
// sent before it closes, so the close is not a reset that loses the answer.
func TestOversizedHead(t *testing.T) {
	addr := startServer(t)
	long := strings.Repeat("a", 40<<10)
	tests := []struct {
		name    string
		path    string
		headers map[string]string
		want    int
	}{
		{"small", "/x", nil, 200},
		{"long path", "/" + long, nil, 414},
		{"long header", "/x", map[string]string{"X-Big": long}, 431},
		{"many headers", "/x", manyHeaders(2000), 431},
		{"a megabyte of header", "/x", map[string]string{"X-Big": strings.Repeat(long, 25)}, 431},
		{"long path just over the buffer", "/" + long[:9<<10], nil, 414},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest("GET", "http://"+addr+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.headers {
				req.Header.Set(k, v)
			}
			resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
			if err != nil {
				t.Fatalf("no status: %.200v", err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("status %d; want %d", resp.StatusCode, tt.want)
			}
			if tt.want != 200 && !resp.Close {
				t.Errorf("connection kept open after %d", resp.StatusCode)
			}
		})
	}
}

func manyHeaders(n int) map[string]string {
	h := map[string]string{}
	for i := range n {
		h["X-H"+strings.Repeat("a", i%7)+string(rune('a'+i%26))+string(rune('a'+i/26%26))+string(rune('a'+i/676%26))] = "b"
	}
	return h
}
