package edge

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// TestOneOriginTriedTwice: with one origin (a Kubernetes Service, say), an attempt that gets no
// answer within --origin-timeout is made again on another connection, which a Service may
// send to a live pod: the player gets its object, not a 502.
func TestOneOriginTriedTwice(t *testing.T) {
	body := randomBytes(1000, 11)
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 { // the first attempt reaches a backend that never answers
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
			return
		}
		w.Header().Set("Cache-Control", "max-age=3600")
		w.Write(body)
	}))
	defer srv.Close()
	_, base := startEdge(t, Config{Origins: []string{srv.URL}, OriginHeaderTimeout: 200 * time.Millisecond, ProbeInterval: -1})
	r := get(t, base+"/vod/t/r/x.ts")
	if r.code != 200 || !bytes.Equal(r.body, body) {
		t.Fatalf("one origin, its first attempt unanswered: %d, %d bytes; want 200 and the object", r.code, len(r.body))
	}
	if got := n.Load(); got != 2 {
		t.Errorf("%d attempts at the origin, want 2", got)
	}
}

// TestOneOriginServerErrorNotRetried: a 5xx is the origin's answer, not its silence: the lone
// origin is asked once, not twice.
func TestOneOriginServerErrorNotRetried(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		http.Error(w, "overloaded", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	_, base := startEdge(t, Config{Origins: []string{srv.URL}, OriginHeaderTimeout: 200 * time.Millisecond, ProbeInterval: -1})
	if r := get(t, base+"/vod/t/r/x.ts"); r.code != 502 {
		t.Errorf("lone origin answering 503: %d, want 502", r.code)
	}
	if got := n.Load(); got != 1 {
		t.Errorf("%d attempts at an origin that answered 503, want 1", got)
	}
}
