package web_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/valyala/fasthttp"

	"edgecdn/demo"
	"edgecdn/internal/testenv"
	"edgecdn/origin/packager"
	"edgecdn/web"
)

// The browser tests play the ffmpeg title in a real headless Chromium, with hls.js and dash.js,
// from a page served on another origin than the steering service and the content: every request
// the players make is a cross-origin one, as on a real site. They need chromium
// (apt-get install chromium), ffmpeg, and the players (cd web && npm ci).

const (
	titleDuration = 60 * time.Second
	playBuffer    = 8 // seconds the page buffers ahead (?buffer=): a failover must happen within it
)

// content packages the ffmpeg title once for every test of the package.
var content struct {
	once  sync.Once
	dir   string
	title string
	err   error
}

func ffmpegTitle(t *testing.T) (dir, title string) {
	t.Helper()
	content.once.Do(func() {
		content.dir, content.err = os.MkdirTemp("", "edgecdn-browser-")
		if content.err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		start := time.Now()
		cat, err := packager.Package(ctx, packager.Config{Out: content.dir, FFmpeg: true, Duration: titleDuration,
			Preset: "ultrafast", Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			content.err = err
			return
		}
		content.title = cat.Titles[0].Name
		t.Logf("packaged %s (%v, ffmpeg) in %v", content.title, titleDuration, time.Since(start).Round(time.Millisecond))
	})
	if content.err != nil {
		t.Fatalf("package the ffmpeg title: %v", content.err)
	}
	return content.dir, content.title
}

func TestMain(m *testing.M) {
	code := m.Run()
	if content.dir != "" {
		os.RemoveAll(content.dir)
	}
	os.Exit(code)
}

// browserEnv checks the tools: chromium, ffmpeg and the installed players.
func browserEnv(t *testing.T) (chromium, webDir string) {
	t.Helper()
	if testing.Short() {
		t.Skip("skipped with -short: plays video in a browser for minutes")
	}
	chromium = testenv.Tool(t, "chromium")
	testenv.Tool(t, "ffmpeg")
	webDir = web.FindDir()
	if !web.Installed(webDir) {
		testenv.Missing(t, "hls.js and dash.js are not installed (cd web && npm ci, or make web)")
	}
	return chromium, webDir
}

// pageServer serves the player on its own origin (127.0.0.1, its own port), apart from steering
// and the content.
func pageServer(t *testing.T, webDir string) string {
	t.Helper()
	h := web.New(web.Config{Dir: webDir})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: h.Serve}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown() })
	return "http://" + ln.Addr().String()
}

// browser starts a headless Chromium that talks to loopback only.
func browser(t *testing.T, ctx context.Context, chromium string) (context.Context, *consoleLog) {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-domain-reliability", true),
		chromedp.Flag("no-pings", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.Flag("mute-audio", true),
		chromedp.WindowSize(1280, 1000),
	)
	// Extra flags for a look inside (--enable-logging=stderr --v=1, ...).
	for _, f := range strings.Fields(os.Getenv("EDGECDN_CHROMIUM_FLAGS")) {
		name, val, ok := strings.Cut(strings.TrimLeft(f, "-"), "=")
		if !ok {
			opts = append(opts, chromedp.Flag(name, true))
		} else {
			opts = append(opts, chromedp.Flag(name, val))
		}
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	cl := &consoleLog{}
	bctx, cancelBrowser := chromedp.NewContext(actx, chromedp.WithListener(func(ev any) {
		switch e := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			var parts []string
			for _, a := range e.Args {
				parts = append(parts, strings.Trim(string(a.Value), `"`)+a.Description)
			}
			cl.add(string(e.Type) + ": " + strings.Join(parts, " "))
		case *runtime.EventExceptionThrown:
			cl.add(fmt.Sprintf("exception: %s %v", e.ExceptionDetails.Text, e.ExceptionDetails.Exception))
		}
	}))
	t.Cleanup(func() { cancelBrowser(); cancelAlloc() })
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("browser console:\n%s", cl.String())
		}
	})
	return bctx, cl
}

type consoleLog struct {
	mu    sync.Mutex
	lines []string
}

func (c *consoleLog) add(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.lines) < 300 {
		c.lines = append(c.lines, s)
	}
}

func (c *consoleLog) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Join(c.lines, "\n")
}

// pageState is what window.edgecdn.state() returns.
type pageState struct {
	URL            string    `json:"url"`
	Loaded         bool      `json:"loaded"`
	Error          string    `json:"error"`
	TTFFms         *float64  `json:"ttffMs"`
	PageTTFFms     *float64  `json:"pageTtffMs"`
	Stalls         int       `json:"stalls"`
	StallMs        float64   `json:"stallMs"`
	LongestStallMs float64   `json:"longestStallMs"`
	CurrentTime    float64   `json:"currentTime"`
	Paused         bool      `json:"paused"`
	Ended          bool      `json:"ended"`
	Frames         int       `json:"frames"`
	Dropped        int       `json:"dropped"`
	BufferS        float64   `json:"bufferS"`
	BitrateKbps    int       `json:"bitrateKbps"`
	Pathway        string    `json:"pathway"`
	PathwayAPI     string    `json:"pathwayApi"`
	Priority       []string  `json:"priority"`
	CMCD           string    `json:"cmcd"`
	Segments       []segment `json:"segments"`
	Errors         []struct {
		At  float64 `json:"at"`
		Msg string  `json:"msg"`
	} `json:"errors"`
}

type segment struct {
	At       float64 `json:"at"` // Unix ms when the response ended
	Host     string  `json:"host"`
	Path     string  `json:"path"`
	Status   int     `json:"status"`
	ServedBy string  `json:"servedBy"`
	Exposed  bool    `json:"exposed"`
	Cache    string  `json:"cache"`
	Pathway  string  `json:"pathway"`
	Ms       float64 `json:"ms"`
}

func (s *pageState) ttff() time.Duration {
	if s.TTFFms == nil {
		return -1
	}
	return time.Duration(*s.TTFFms * float64(time.Millisecond))
}

func (s *pageState) errors() string {
	var b strings.Builder
	for _, e := range s.Errors {
		b.WriteString("\n  " + e.Msg)
	}
	return b.String()
}

func readState(ctx context.Context) (*pageState, error) {
	s, err := chromedp.Run(ctx, chromedp.Evaluate[*pageState](`window.edgecdn ? window.edgecdn.state() : null`))
	if s == nil && err == nil {
		s = &pageState{}
	}
	return s, err
}

// waitState polls the page until cond holds, failing the test at the deadline or when the page
// reports a fatal player error.
func waitState(t *testing.T, ctx context.Context, what string, timeout time.Duration, cond func(*pageState) bool) *pageState {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last *pageState
	for {
		s, err := readState(ctx)
		if err != nil {
			t.Fatalf("%s: read the page: %v", what, err)
		}
		last = s
		if cond(s) {
			return s
		}
		if s.Error != "" {
			t.Fatalf("%s: the player failed: %s%s", what, s.Error, s.errors())
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v; at %.1f s, %d frames, %d segments, stalls %d, errors:%s",
				what, timeout, s.CurrentTime, s.Frames, len(s.Segments), s.Stalls, last.errors())
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: %v", what, ctx.Err())
		case <-tick.C:
		}
	}
}

type scenario struct {
	player   string // hls or dash
	steering bool
}

func (sc scenario) name() string {
	mode := "direct"
	if sc.steering {
		mode = "steering"
	}
	return sc.player + "/" + mode
}

// setup starts a CDN and a browser, and opens the player on the title.
func setup(t *testing.T, sc scenario) (ctx context.Context, st *demo.Stack, pageURL string) {
	t.Helper()
	chromium, webDir := browserEnv(t)
	dir, title := ffmpegTitle(t)
	if sc.player == "dash" {
		if _, err := os.Stat(filepath.Join(dir, title, "manifest.mpd")); err != nil {
			t.Skipf("skipped: the packager writes no DASH manifest (%s/manifest.mpd) for dash.js to play", title)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	t.Cleanup(cancel)
	st, err := demo.Start(ctx, demo.StackConfig{Content: dir, Origins: 1, WebDir: webDir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Stop(context.Background()) })
	page := pageServer(t, webDir)
	bctx, _ := browser(t, ctx, chromium)
	q := url.Values{"title": {title}, "player": {sc.player}, "api": {st.Steering}, "zone": {"zone-a"},
		"buffer": {fmt.Sprint(playBuffer)}, "steering": {"0"}}
	if sc.steering {
		q.Set("steering", "1")
	}
	pageURL = page + web.Prefix + "?" + q.Encode()
	if err := chromedp.Do(bctx, chromedp.Navigate(pageURL)); err != nil {
		t.Fatalf("open %s: %v", pageURL, err)
	}
	return bctx, st, pageURL
}

// playing waits for the first frame and then for the position to reach at seconds, and checks
// that frames were decoded and few dropped.
func playing(t *testing.T, ctx context.Context, at float64) *pageState {
	t.Helper()
	waitState(t, ctx, "first frame", 30*time.Second, func(s *pageState) bool { return s.TTFFms != nil })
	s := waitState(t, ctx, fmt.Sprintf("play to %.0f s", at), time.Duration(at*1.5+15)*time.Second,
		func(s *pageState) bool { return s.CurrentTime >= at })
	checkFrames(t, s, at)
	return s
}

func checkFrames(t *testing.T, s *pageState, seconds float64) {
	t.Helper()
	// The title has 25 frames a second; count at least half of them as decoded.
	if min := int(seconds * 25 / 2); s.Frames < min {
		t.Errorf("%d frames decoded in %.1f s of play, want at least %d", s.Frames, s.CurrentTime, min)
	}
	if s.Dropped*10 >= s.Frames && s.Frames > 0 {
		t.Errorf("%d of %d frames dropped, want under 10%%", s.Dropped, s.Frames)
	}
}

func zoneOf(st *demo.Stack, host string) string {
	for z, a := range st.LBs {
		if a == host {
			return z
		}
	}
	for _, e := range st.Edges {
		if strings.TrimPrefix(e.URL, "http://") == host {
			return e.Zone
		}
	}
	return ""
}

func isEdge(st *demo.Stack, host string) bool {
	for _, e := range st.Edges {
		if strings.TrimPrefix(e.URL, "http://") == host {
			return true
		}
	}
	return false
}

// lastOK returns the newest segment that loaded.
func lastOK(s *pageState) (segment, bool) {
	for i := len(s.Segments) - 1; i >= 0; i-- {
		if g := s.Segments[i]; g.Status == 200 {
			return g, true
		}
	}
	return segment{}, false
}

// report logs the scenario's figures, and with EDGECDN_BROWSER_SCREENSHOTS=DIR saves the page
// as DIR/<player>-<mode>.png.
func report(t *testing.T, ctx context.Context, sc scenario, s *pageState, extra string) {
	t.Helper()
	if dir := os.Getenv("EDGECDN_BROWSER_SCREENSHOTS"); dir != "" {
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, strings.ReplaceAll(sc.name(), "/", "-")+".png"), png, 0o644)
		}
		if err != nil {
			t.Logf("screenshot: %v", err)
		}
	}
	if len(s.Errors) > 0 {
		t.Logf("%s: the player saw %d errors:%s", sc.name(), len(s.Errors), s.errors())
	}
	page := int64(-1)
	if s.PageTTFFms != nil {
		page = int64(*s.PageTTFFms)
	}
	t.Logf("%-13s time to first frame %4d ms (%4d ms from opening the page), stalls %d (%d ms, longest %d ms), %d frames (%d dropped), %.1f s played, bitrate %d kbit/s%s",
		sc.name()+":", s.ttff().Milliseconds(), page, s.Stalls, int(s.StallMs), int(s.LongestStallMs), s.Frames, s.Dropped, s.CurrentTime, s.BitrateKbps, extra)
}

// checkHeaders checks what the page could read of the edges' answers: the serving edge and the
// cache status, which a browser shows to a page of another origin only when exposed (CORS).
func checkHeaders(t *testing.T, s *pageState) {
	t.Helper()
	g, ok := lastOK(s)
	if !ok {
		t.Fatal("no segment loaded")
	}
	if !g.Exposed || g.ServedBy == "" || g.Cache == "" {
		t.Errorf("segment %s%s: serving edge %q, Cache-Status %q: want both readable (Access-Control-Expose-Headers)", g.Host, g.Path, g.ServedBy, g.Cache)
	}
	if !strings.Contains(s.CMCD, "sid=") {
		t.Errorf("CMCD sent %q, want a session id (sid)", s.CMCD)
	}
}

// TestBrowserDirect plays the title straight from the edge steering ranks first.
func TestBrowserDirect(t *testing.T) {
	for _, p := range []string{"hls", "dash"} {
		t.Run(p, func(t *testing.T) {
			sc := scenario{player: p}
			ctx, st, _ := setup(t, sc)
			s := playing(t, ctx, 10)
			g, _ := lastOK(s)
			if !isEdge(st, g.Host) {
				t.Errorf("segments from %s, want one of the edges", g.Host)
			}
			checkHeaders(t, s)
			report(t, ctx, sc, s, fmt.Sprintf(", from %s (%s)", g.ServedBy, g.Host))
		})
	}
}

// TestBrowserSteeringFailover plays the title through content steering for 20 s, kills the
// balancer of the pathway in use (silent gossip death, port closed: demo.Stack.KillLB) and
// expects the player on another pathway without a long stall, then kills every edge of the zone
// it plays from then and expects it to keep playing.
func TestBrowserSteeringFailover(t *testing.T) {
	for _, p := range []string{"hls", "dash"} {
		t.Run(p, func(t *testing.T) {
			sc := scenario{player: p, steering: true}
			ctx, st, _ := setup(t, sc)
			s := playing(t, ctx, 20)
			checkHeaders(t, s)
			before := s
			g, _ := lastOK(s)
			zone := zoneOf(st, g.Host)
			if zone == "" {
				t.Fatalf("segments from %s: not a balancer of the stack (%v)", g.Host, st.LBs)
			}
			if s.Pathway != zone {
				t.Errorf("panel shows pathway %q, segments come from %s, the balancer of %s", s.Pathway, g.Host, zone)
			}

			// 1. The balancer of the pathway in use goes away.
			pos := s.CurrentTime
			killed := time.Now()
			if err := st.KillLB(zone); err != nil {
				t.Fatal(err)
			}
			var moved segment
			s = waitState(t, ctx, "a segment from another pathway", 20*time.Second, func(s *pageState) bool {
				for _, g := range s.Segments {
					if g.At >= float64(killed.UnixMilli()) && g.Status == 200 && g.Host != st.LBs[zone] {
						moved = g
						return true
					}
				}
				return false
			})
			failover := time.Duration(moved.At-float64(killed.UnixMilli())) * time.Millisecond
			// The player asks for a segment only when its buffer has room: the time from its
			// first request after the kill to the segment from another pathway is its own part.
			recovery := time.Duration(-1)
			for _, g := range s.Segments {
				if g.At >= float64(killed.UnixMilli()) {
					recovery = time.Duration(moved.At-(g.At-g.Ms)) * time.Millisecond
					break
				}
			}
			next := zoneOf(st, moved.Host)
			s = waitState(t, ctx, "play on after the balancer went", 30*time.Second, func(s *pageState) bool { return s.CurrentTime >= pos+playBuffer+2 })
			if d := s.LongestStallMs; d > 2000 {
				t.Errorf("longest stall %.0f ms after the balancer of %s went, want under 2 s", d, zone)
			}
			t.Logf("%s: balancer of %s (%s) killed at %.1f s; first segment from pathway %s (%s, edge %s) %v later, %v after the player's first request since",
				sc.name(), zone, st.LBs[zone], pos, next, moved.Host, moved.ServedBy,
				failover.Round(time.Millisecond), recovery.Round(time.Millisecond))

			// 2. Every edge of the zone the player is on now goes away.
			g, _ = lastOK(s)
			zone2 := zoneOf(st, g.Host)
			pos = s.CurrentTime
			killed = time.Now()
			var names []string
			for _, e := range st.Edges {
				if e.Zone == zone2 {
					names = append(names, e.Name)
					if err := e.Kill(); err != nil {
						t.Logf("kill %s: %v", e.Name, err)
					}
				}
			}
			// A kill does not wait for the requests in flight: a segment asked for before the
			// last edge was down may still come from one of them.
			down := float64(time.Now().UnixMilli())
			s = waitState(t, ctx, "play on after the zone's edges went", 40*time.Second, func(s *pageState) bool {
				if s.CurrentTime < pos+playBuffer+2 {
					return false
				}
				for _, g := range s.Segments {
					if g.At >= float64(killed.UnixMilli()) && g.Status == 200 {
						return true
					}
				}
				return false
			})
			var after segment
			for _, g := range s.Segments {
				if g.At >= float64(killed.UnixMilli()) && g.Status == 200 {
					after = g
					break
				}
			}
			t.Logf("%s: edges %v of %s killed at %.1f s; first segment after: %s via %s (pathway %s) %v later",
				sc.name(), names, zone2, pos, after.ServedBy, after.Host, zoneOf(st, after.Host),
				(time.Duration(after.At-float64(killed.UnixMilli())) * time.Millisecond).Round(time.Millisecond))
			for _, g := range s.Segments {
				if g.At-g.Ms < down || g.Status != 200 {
					continue
				}
				for _, n := range names {
					if g.ServedBy == n {
						t.Errorf("segment %s asked for %.0f ms after the zone's edges were down was served by %s", g.Path, g.At-g.Ms-down, n)
					}
				}
			}
			if d := s.LongestStallMs; d > 2000 {
				t.Errorf("longest stall %.0f ms, want under 2 s", d)
			}
			checkFrames(t, s, s.CurrentTime-before.CurrentTime+before.CurrentTime)
			report(t, ctx, sc, s, fmt.Sprintf(", failover %v (%v from the first request after the kill)", failover.Round(time.Millisecond), recovery.Round(time.Millisecond)))
		})
	}
}

// TestBrowserMissingPlayers: a server without the players still serves the page, and the page
// says how to install them.
func TestBrowserMissingPlayers(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped with -short: starts a browser")
	}
	chromium := testenv.Tool(t, "chromium")
	page := pageServer(t, t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	bctx, _ := browser(t, ctx, chromium)
	if err := chromedp.Do(bctx, chromedp.Navigate(page+web.Prefix+"?title=ffmpeg-000")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		notice, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.getElementById('notice').hidden ? '' : document.getElementById('notice').textContent`))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(notice, "cd web && npm ci") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the page shows %q, want how to install the players (cd web && npm ci)", notice)
		}
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}
