package player_test

import (
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// corruptingServer serves the content folder, flipping a byte of every segment.
func corruptingServer(t *testing.T, dir, title string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := strings.TrimPrefix(r.URL.Path, "/vod/")
		if r.URL.Path == "/catalog.json" {
			p = "catalog.json"
		}
		b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(p)))
		if err != nil || strings.Contains(p, "..") {
			http.NotFound(w, r)
			return
		}
		if strings.HasSuffix(p, ".ts") {
			b[len(b)/2] ^= 0xff
		}
		w.Write(b)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}
