package player

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"net"
	"net/http"
	"os/exec"
	"regexp"
	"testing"
	"time"

	"edgecdn/internal/steerapi"
	"edgecdn/internal/testenv"
)

// TestCloneHostAsChromium: a clone's HOST does to a URI what a browser's URL hostname setter
// does (hls.js sets url.hostname = HOST), compared with headless Chromium's on the same
// inputs. Left out: what the player does not model (IDNA, percent-decoding, host names with
// characters beyond letters, digits, '-', '_' and '.').
func TestCloneHostAsChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser")
	}
	chromium := testenv.Tool(t, "chromium")
	const base = "http://127.0.0.11:8000/t/tok~x/vod/title-000/400k/index.m3u8?a=1&b=x~y"
	hosts := []string{"127.0.0.13", "127.0.0.13:9000", "127.0.0.13:", "[::1]", "[::1]:80", "[0:0::1]", "[::1", "edge.example",
		"Edge.Example", "a/b", "a?b", "a#b", `a\b`, "x@y", "a\tb", "a\nb", "", "0x7f.1", "2130706433", "1.2.3.256",
		"09.1", "1.2.3.4.5", "1.2.3.4.", "a.b.1", "a_b-c.d", "[127.0.0.1]", "a:b@c"}
	in, _ := json.Marshal(hosts)
	page := fmt.Sprintf(`<!doctype html><html><body><pre id="out">pending</pre><script>
const out = [];
for (const h of %s) { const u = new URL(%q); u.hostname = h; out.push(u.href); }
document.getElementById("out").textContent = JSON.stringify(out);
</script></body></html>`, in, base)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(page))
	}), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// Headless Chromium now and then dies at start on a loaded machine: up to three tries.
	var b []byte
	for try := 1; ; try++ {
		b, err = exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
			"--user-data-dir="+t.TempDir(), "--dump-dom", "http://"+ln.Addr().String()+"/").Output()
		if err == nil || try == 3 || ctx.Err() != nil {
			break
		}
		t.Logf("chromium, try %d: %v", try, err)
	}
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	m := regexp.MustCompile(`(?s)<pre id="out">(.*?)</pre>`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("no result in the page:\n%.2000s", b)
	}
	var want []string
	if err := json.Unmarshal([]byte(html.UnescapeString(string(m[1]))), &want); err != nil || len(want) != len(hosts) {
		t.Fatalf("page wrote %q: %v", m[1], err)
	}
	for i, h := range hosts {
		got, ok := cloneURI(base, "", steerapi.URIReplacement{Host: h})
		if !ok || got != want[i] {
			t.Errorf("HOST %q: %q, Chromium %q", h, got, want[i])
		}
	}
}
