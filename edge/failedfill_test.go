package edge

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// rawGet sends one GET on its own connection and reads the answer with no retry (net/http's
// Transport silently sends a GET again when a reused connection closes without an answer,
// which would hide an empty reply). head is false when the connection closed with no answer.
func rawGet(t *testing.T, base, path string, headRead func()) (resp *http.Response, body []byte, bodyErr error, head bool) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path)
	resp, err = http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return nil, nil, err, false
	}
	if headRead != nil {
		headRead()
	}
	body, bodyErr = io.ReadAll(resp.Body)
	return resp, body, bodyErr, true
}

// TestFailedFillHeadThenCut: a streamed miss sends its head at once (not once the write buffer
// fills), so a fill that fails afterwards reaches the client as a 200 head and a body cut
// short of its Content-Length.
func TestFailedFillHeadThenCut(t *testing.T) {
	o := newFakeOrigin(t)
	body := randomBytes(20_000, 21) // well under the server's 64 KiB write buffer
	wrong := sha256.Sum256([]byte("other bytes"))
	gate := make(chan struct{})
	o.put("/vod/t/r/held.ts", &fakeObject{body: body, cacheControl: "max-age=3600", gate: gate, etag: `"` + hex.EncodeToString(wrong[:]) + `"`})
	_, base := startEdge(t, Config{Origins: []string{o.url()}})

	// The origin holds the second half back until the client has the head: without the
	// immediate flush the head would wait for the body, and this would time out.
	resp, got, err, head := rawGet(t, base, "/vod/t/r/held.ts", func() { close(gate) })
	if !head {
		t.Fatalf("no response head while the origin held the body back: %v", err)
	}
	if resp.StatusCode != http.StatusOK || resp.ContentLength != int64(len(body)) {
		t.Fatalf("head: %d, Content-Length %d", resp.StatusCode, resp.ContentLength)
	}
	if err == nil || len(got) >= len(body) {
		t.Fatalf("body of a fill whose hash is wrong: %d of %d bytes, err %v; want a cut body", len(got), len(body), err)
	}
}

// TestFailedFillNeverAnEmptyReply: clients of a fill whose body turns out bad get either a 200
// head and a cut body (those streaming when it failed) or a 502 (those who came after), never
// a connection closed with no answer.
func TestFailedFillNeverAnEmptyReply(t *testing.T) {
	o := newFakeOrigin(t)
	body := randomBytes(20_000, 22)
	wrong := sha256.Sum256([]byte("other bytes"))
	o.put("/vod/t/r/bad.ts", &fakeObject{body: body, cacheControl: "max-age=3600", etag: `"` + hex.EncodeToString(wrong[:]) + `"`})
	_, base := startEdge(t, Config{Origins: []string{o.url()}})

	const clients = 30
	var wg sync.WaitGroup
	var mu sync.Mutex
	outcomes := map[string]int{}
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, got, err, head := rawGet(t, base, "/vod/t/r/bad.ts", nil)
			var o string
			switch {
			case !head:
				o = "no answer"
				t.Errorf("a client got no answer at all: %v", err)
			case resp.StatusCode == http.StatusOK && (err == nil || len(got) >= len(body)):
				o = "complete 200"
				t.Errorf("a client got a complete 200 (%d bytes) from a bad body", len(got))
			case resp.StatusCode == http.StatusOK:
				o = "200 cut"
			case resp.StatusCode == http.StatusBadGateway:
				o = "502"
			default:
				o = resp.Status
				t.Errorf("a client got %s", resp.Status)
			}
			mu.Lock()
			outcomes[o]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	t.Logf("outcomes: %v", outcomes)
}
