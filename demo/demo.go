package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"text/tabwriter"
	"time"

	"edgecdn/edge"
	"edgecdn/internal/catalog"
	"edgecdn/origin/packager"
	"edgecdn/player-sim/player"
	"edgecdn/web"
)

// Config is what `edgecdn demo` runs. Zero values mean the defaults in the field comments.
type Config struct {
	Content  string        // content folder; default a temporary one, removed at the end
	Titles   int           // synthetic titles (Envivio ladder); default 3
	Duration time.Duration // of each title; default 48s (12 segments)
	Players  int           // default 24
	Rate     float64       // player arrivals per second; default 6
	FFmpeg   bool          // add one real H.264/AAC title when ffmpeg is installed
	TraceDir string        // player links replay these traces; "" uses player-sim/testdata/traces/oboe when present
	Keep     bool          // leave the stack up after the report, until ctx ends
	JSON     string        // write the fleet report here
	Out      io.Writer
	Logger   *slog.Logger // the components' logs; default discard
	Progress bool         // a progress line on a terminal
	WebDir   string       // where the browser player reads hls.js and dash.js; default web.FindDir()
	// Prefill, when above 0, fills every title's first Prefill segments of every rendition
	// into the edges (a proactive fill plan, package edge) before the players come; default 0.
	Prefill int
}

// Run packages content, starts the stack, plays the fleet and reports.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Titles == 0 {
		cfg.Titles = 3
	}
	if cfg.Duration == 0 {
		cfg.Duration = 48 * time.Second
	}
	if cfg.Players == 0 {
		cfg.Players = 24
	}
	if cfg.Rate == 0 {
		cfg.Rate = 6
	}
	if cfg.Out == nil {
		cfg.Out = os.Stdout
	}
	w := cfg.Out
	quiet := slog.New(slog.DiscardHandler)
	if cfg.Content == "" {
		dir, err := os.MkdirTemp("", "edgecdn-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		cfg.Content = dir
	}
	start := time.Now()
	fmt.Fprintf(w, "== packaging %d synthetic titles (Envivio ladder, %v each) into %s\n", cfg.Titles, cfg.Duration, cfg.Content)
	if _, err := packager.Package(ctx, packager.Config{Out: cfg.Content, Titles: cfg.Titles, Duration: cfg.Duration, Logger: quiet}); err != nil {
		return err
	}
	if _, err := exec.LookPath("ffmpeg"); cfg.FFmpeg && err == nil {
		fmt.Fprintf(w, "== encoding one real H.264/AAC title with ffmpeg (3 renditions, 24 s)\n")
		if _, err := packager.Package(ctx, packager.Config{Out: cfg.Content, FFmpeg: true, Duration: 24 * time.Second, Preset: "ultrafast", Logger: quiet}); err != nil {
			return err
		}
	} else if cfg.FFmpeg {
		fmt.Fprintf(w, "== ffmpeg not installed: no real title (apt-get install ffmpeg)\n")
	}
	cat, err := catalog.Load(cfg.Content)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "   %d titles in %v\n", len(cat.Titles), time.Since(start).Round(time.Millisecond))

	fmt.Fprintf(w, "== starting 2 origins, 6 edges in 3 zones, 3 zone balancers, DNS and steering on loopback\n")
	st, err := Start(ctx, StackConfig{Content: cfg.Content, WebDir: cfg.WebDir, Logger: cfg.Logger})
	if err != nil {
		return err
	}
	defer st.Stop(context.Background())
	zones := sortedKeys(st.LBs)
	for _, z := range zones {
		fmt.Fprintf(w, "   %s: balancer %s, edges", z, st.LBs[z])
		for _, e := range st.Edges {
			if e.Zone == z {
				fmt.Fprintf(w, " %s (%s)", e.Name, e.URL)
			}
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "   DNS %s answers %s; steering %s\n", st.DNS, st.Domain, st.Steering)

	var links []player.Link
	traceDir := cfg.TraceDir
	if traceDir == "" {
		if _, err := os.Stat("player-sim/testdata/traces/oboe"); err == nil {
			traceDir = "player-sim/testdata/traces/oboe"
		}
	}
	linkDesc := "unshaped links"
	if traceDir != "" {
		ls, _, err := player.LoadTraces(traceDir)
		if err != nil {
			return err
		}
		for _, l := range ls {
			links = append(links, l)
		}
		linkDesc = fmt.Sprintf("links replaying %d traces from %s", len(ls), traceDir)
	}
	var titles []string
	for _, t := range cat.Titles {
		titles = append(titles, t.Name)
	}
	if cfg.Prefill > 0 {
		if err := prefill(ctx, w, st, titles, cfg.Prefill); err != nil {
			return err
		}
	}
	_, lbPort, _ := net.SplitHostPort(st.LBs[zones[0]])
	port, _ := strconv.Atoi(lbPort)
	// Every CMAF title plays over HLS and DASH alike; MPEG-TS titles (--format ts) only over HLS.
	dash := map[string]bool{}
	for _, t := range cat.Titles {
		dash[t.Name] = t.Format == catalog.FormatCMAF
	}
	allDASH := len(titles) > 0
	for _, t := range titles {
		allDASH = allDASH && dash[t]
	}
	mix := "HLS"
	if allDASH {
		mix = "players 2 and 3 of every 4 play DASH (manifest.mpd; the second on DASH content steering), the others HLS"
	}
	fmt.Fprintf(w, "== %d players arriving at %.0f/s, titles by Zipf(1.0), %s; half resolve DNS, half ask steering; %s\n", cfg.Players, cfg.Rate, linkDesc, mix)
	fcfg := player.FleetConfig{
		Players: cfg.Players, Titles: titles, Rate: cfg.Rate, Links: links, Seed: 1,
		NewEntry: func(i int) player.Entry {
			switch {
			case i%2 == 0:
				return &player.DNSEntry{Server: st.DNS, Domain: st.Domain, Port: port}
			case allDASH && i%4 == 3:
				return &player.ContentSteeringEntry{URL: st.Steering, Zone: zones[i%len(zones)], Protocol: player.ProtocolDASH}
			}
			return &player.SteeringEntry{URL: st.Steering, Zone: zones[i%len(zones)]}
		},
		NewProtocol: func(i int) string {
			if allDASH && i%4 >= 2 {
				return player.ProtocolDASH
			}
			return player.ProtocolHLS
		},
	}
	if cfg.Progress {
		fcfg.Progress = func(done, started, total int) {
			fmt.Fprintf(w, "\r   players: %d/%d started, %d done   ", started, total, done)
		}
	}
	rep, err := player.RunFleet(ctx, fcfg)
	if cfg.Progress {
		fmt.Fprintln(w)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\n== what the players saw (%.0f s)\n", rep.WallS)
	rep.WriteTable(w)
	if cfg.JSON != "" {
		b, _ := json.MarshalIndent(rep, "", "  ")
		if err := os.WriteFile(cfg.JSON, b, 0o644); err != nil {
			return err
		}
	}

	fmt.Fprintf(w, "\n== what the CDN did\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "edge\tzone\tring share\trequests\thit ratio\tserved MB\tpeer fetches\torigin fetches\tcached MB\t")
	var hits, reqs, served, originBytes int64
	for _, e := range st.Edges {
		s := e.Server.Stats()
		hr := 0.0
		if s.Requests > 0 {
			hr = float64(s.Hits) / float64(s.Requests)
		}
		fmt.Fprintf(tw, "%s\t%s\t%.2f\t%d\t%.3f\t%.1f\t%d\t%d\t%.1f\t\n", e.Name, e.Zone, s.RingShare, s.Requests, hr,
			float64(s.ServedBytes)/1e6, s.PeerFetches, s.OriginFetches, float64(s.CacheBytes)/1e6)
		hits, reqs, served, originBytes = hits+s.Hits, reqs+s.Requests, served+s.ServedBytes, originBytes+s.OriginBytes
	}
	tw.Flush()
	if reqs > 0 && served > 0 {
		fmt.Fprintf(w, "cache hit ratio %.3f (requests answered from an edge's own cache); origin offload %.3f (1 - origin bytes / bytes served to players and peers)\n",
			float64(hits)/float64(reqs), 1-float64(originBytes)/float64(served))
	}
	if cfg.Prefill > 0 {
		var pb int64
		for _, e := range st.Edges {
			pb += e.Server.PrefillStats().Bytes
		}
		fmt.Fprintf(w, "origin bytes: %.1f MB for the players' misses, %.1f MB for the fill plan before them\n", float64(originBytes)/1e6, float64(pb)/1e6)
	}
	if rep.Failed > 0 {
		return fmt.Errorf("demo: %d of %d players failed", rep.Failed, rep.Players)
	}
	if !cfg.Keep {
		return nil
	}
	t := cat.Titles[0]
	lb := st.LBs[zones[0]]
	_, dnsPort, _ := net.SplitHostPort(st.DNS)
	fmt.Fprintf(w, "\nThe CDN stays up until Ctrl-C. Try:\n")
	fmt.Fprintf(w, "  dig @127.0.0.1 -p %s %s A +short\n", dnsPort, st.Domain)
	fmt.Fprintf(w, "  curl -sI --resolve %s:%s:%s http://%s:%s/vod/%s/master.m3u8\n", st.Domain, lbPort, lb[:len(lb)-len(lbPort)-1], st.Domain, lbPort, t.Name)
	fmt.Fprintf(w, "  curl -s -r 0-187 -D - -o /dev/null %s/vod/%s/%s/%s\n", st.Edges[0].URL, t.Name, t.Renditions[0].Name, t.Renditions[0].Segments[0].Name)
	fmt.Fprintf(w, "  curl -s %s/cluster\n", st.Edges[0].URL)
	fmt.Fprintf(w, "  curl -s '%s/steer/%s?zone=%s'\n", st.Steering, t.Name, zones[1])
	fmt.Fprintf(w, "  curl -s %s/play/%s/master.m3u8        # HLS Content Steering\n", st.Steering, t.Name)
	if t.Format == catalog.FormatCMAF {
		fmt.Fprintf(w, "  curl -s %s/play/%s/manifest.mpd       # DASH content steering\n", st.Steering, t.Name)
		fmt.Fprintf(w, "  HLS:  http://%s/vod/%s/master.m3u8\n", lb, t.Name)
		fmt.Fprintf(w, "  DASH: http://%s/vod/%s/manifest.mpd   (the same CMAF segments: one cache entry serves both)\n", lb, t.Name)
		fmt.Fprintf(w, "  go run ./player-sim --players 4 --url http://%s/vod/%s/manifest.mpd\n", lb, t.Name)
	}
	real := ""
	for _, t := range cat.Titles {
		if t.Kind == "ffmpeg" {
			fmt.Fprintf(w, "  ffplay http://%s/vod/%s/master.m3u8\n", lb, t.Name)
			real = t.Name
		}
	}
	fmt.Fprintf(w, "\nWatch it in a browser (live panel: pathway, serving edge, cache status, bitrate, buffer, stalls):\n")
	if real == "" {
		fmt.Fprintf(w, "  (no ffmpeg title: a synthetic one shows bars that mark its progress; install ffmpeg for real video)\n")
		real = t.Name
	}
	fmt.Fprintf(w, "  %s/player/?title=%s                  hls.js, HLS content steering\n", st.Steering, real)
	fmt.Fprintf(w, "  %s/player/?title=%s&player=dash      dash.js, DASH content steering\n", st.Steering, real)
	fmt.Fprintf(w, "  %s/player/?title=%s&steering=0       hls.js, straight from the best-ranked edge\n", st.Steering, real)
	if dir := cfg.WebDir; !web.Installed(dir) && (dir != "" || !web.Installed(web.FindDir())) {
		fmt.Fprintf(w, "  first: cd web && npm ci   (the page loads hls.js and dash.js from web/node_modules)\n")
	}
	<-ctx.Done()
	return nil
}

// prefill hands every edge a plan for the first n segments of every title and waits until
// they are done (at most a minute).
func prefill(ctx context.Context, w io.Writer, st *Stack, titles []string, n int) error {
	start := time.Now()
	fmt.Fprintf(w, "== proactive fill: the first %d segments of every rendition of %d titles, each object by its owner in each zone\n", n, len(titles))
	if _, err := st.Edges[0].Server.Prefill(ctx, edge.Plan{Titles: titles, Segments: n, RateBps: 1e9}); err != nil {
		return err
	}
	deadline := time.Now().Add(time.Minute)
	for _, e := range st.Edges {
		for !e.Server.PrefillIdle() && time.Now().Before(deadline) {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	var ps edge.PrefillStats
	for _, e := range st.Edges {
		s := e.Server.PrefillStats()
		ps.Planned, ps.Fetched, ps.Skipped, ps.Bytes = ps.Planned+s.Planned, ps.Fetched+s.Fetched, ps.Skipped+s.Skipped, ps.Bytes+s.Bytes
	}
	fmt.Fprintf(w, "   planned %d objects, fetched %d, skipped %d, %.1f MB from the origins in %v\n", ps.Planned, ps.Fetched, ps.Skipped, float64(ps.Bytes)/1e6, time.Since(start).Round(time.Millisecond))
	return nil
}

func sortedKeys(m map[string]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
