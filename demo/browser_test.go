package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"edgecdn/internal/testenv"
	"edgecdn/origin/packager"
)

// browserPage fetches from the CDN as a player page on another origin does: requests with
// CMCD and Range headers (preflighted), reading the headers a page shows, an error, and the
// steering playback manifest. It writes what it saw as JSON into #out.
const browserPage = `<!doctype html>
<html><body><pre id="out">pending</pre><script>
const edge = %q, lb = %q, steer = %q;
async function run() {
  const out = {};
  try {
    let r = await fetch(edge + "/vod/title-000/400k/seg00000.m4s", {headers: {"CMCD-Request": "bl=1000", "Range": "bytes=0-99"}});
    out.edge = {status: r.status, servedBy: r.headers.get("X-Served-By"), cacheStatus: r.headers.get("Cache-Status"),
      etag: r.headers.get("ETag"), contentRange: r.headers.get("Content-Range"), bytes: (await r.arrayBuffer()).byteLength};
    r = await fetch(lb + "/vod/title-000/master.m3u8", {headers: {"CMCD-Session": "sid=\"s\""}});
    out.lb = {status: r.status, servedBy: r.headers.get("X-Served-By"), body: (await r.text()).slice(0, 7)};
    r = await fetch(edge + "/vod/title-000/no-such.ts");
    out.error = {status: r.status};
    r = await fetch(steer + "/play/title-000/master.m3u8?zone=zone-a");
    out.steering = {status: r.status, body: (await r.text()).slice(0, 7)};
  } catch (e) {
    out.failure = String(e);
  }
  document.getElementById("out").textContent = JSON.stringify(out);
}
run();
</script></body></html>`

// TestBrowser: headless Chromium, on a page of another origin, reads from an edge, a balancer
// and steering: its preflights pass, it reads X-Served-By, Cache-Status, ETag and
// Content-Range, and it reads an error's status.
func TestBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the whole CDN and a browser")
	}
	chromium := testenv.Tool(t, "chromium")
	dir := t.TempDir()
	ctx := context.Background()
	if _, err := packager.Package(ctx, packager.Config{Out: dir, Titles: 1, Duration: 8 * time.Second, Ladder: "small"}); err != nil {
		t.Fatal(err)
	}
	st, err := Start(ctx, StackConfig{Content: dir, Zones: []string{"zone-a"}, EdgesPerZone: 1, Origins: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Stop(ctx)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	page := fmt.Sprintf(browserPage, st.Edges[0].URL, "http://"+st.LBs["zone-a"], st.Steering)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(page))
	}), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()

	bctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	// Headless Chromium now and then dies at start on a loaded machine: up to three tries.
	var b []byte
	for try := 1; ; try++ {
		b, err = exec.CommandContext(bctx, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
			"--user-data-dir="+t.TempDir(), "--virtual-time-budget=15000", "--dump-dom", "http://"+ln.Addr().String()+"/").Output()
		if err == nil || try == 3 || bctx.Err() != nil {
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
	var got struct {
		Edge struct {
			Status                                    int
			ServedBy, CacheStatus, ETag, ContentRange string
			Bytes                                     int
		}
		LB struct {
			Status         int
			ServedBy, Body string
		}
		Error    struct{ Status int }
		Steering struct {
			Status int
			Body   string
		}
		Failure string
	}
	raw := strings.ReplaceAll(string(m[1]), "&quot;", `"`)
	if err := json.Unmarshal([]byte(raw), &got); err != nil {
		t.Fatalf("page wrote %q: %v", raw, err)
	}
	t.Logf("the page saw: %s", raw)
	if got.Failure != "" {
		t.Fatalf("fetch failed in the browser (CORS refused?): %s", got.Failure)
	}
	e := got.Edge
	if e.Status != 206 || e.Bytes != 100 || e.ServedBy != st.Edges[0].Name || e.CacheStatus == "" || e.ETag == "" || !strings.HasPrefix(e.ContentRange, "bytes 0-99/") {
		t.Errorf("edge, as the page read it: %+v", e)
	}
	if got.LB.Status != 200 || got.LB.ServedBy != st.Edges[0].Name || got.LB.Body != "#EXTM3U" {
		t.Errorf("balancer, as the page read it: %+v", got.LB)
	}
	if got.Error.Status != 404 {
		t.Errorf("an error, as the page read it: %+v", got.Error)
	}
	if got.Steering.Status != 200 || got.Steering.Body != "#EXTM3U" {
		t.Errorf("steering, as the page read it: %+v", got.Steering)
	}
}
