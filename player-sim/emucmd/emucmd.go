// Package emucmd is player-sim's emulation mode: a fleet of real-time players streaming over
// real HTTP from a running edgecdn (or any HLS server), with links shaped by real traces.
package emucmd

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"edgecdn/internal/catalog"
	"edgecdn/internal/cli"
	"edgecdn/player-sim/abr"
	"edgecdn/player-sim/player"
)

// ErrHelp is returned after --help.
var ErrHelp = flag.ErrHelp

// Summary is the mode's one-line description.
const Summary = "real-time players streaming from a running CDN over links shaped by traces (also: flags alone)"

// Usage is the mode's synopsis.
const Usage = `player-sim emulate (--url URL | --steering URL | --dns HOST:PORT --domain NAME --port P) [--players N] [--duration D] [--protocol hls|dash] [flags]`

// Example is a complete command line for each way in, shown by --help.
const Example = `go run ./player-sim emulate --url http://127.0.0.1:9090/vod/title-000/master.m3u8 --players 1 --link 8
go run ./player-sim emulate --url http://127.0.0.1:9090/vod/title-000/750k/index.m3u8 --link 4@0,1@20,4@40
go run ./player-sim emulate --url http://127.0.0.1:9090/vod/title-000/manifest.mpd --players 4
go run ./player-sim emulate --url http://127.0.0.1:9090 --title title-000 --players 20 --trace-dir player-sim/testdata/traces/oboe --trace-offset 0 --duration 192s --buffer-cap 60s --latency 80ms
go run ./player-sim emulate --steering http://127.0.0.1:8500 --zones zone-a,zone-b,zone-c --players 100 --rate 20 --duration 60s --trace-dir player-sim/testdata/traces/oboe --json report.json --plots plots/
go run ./player-sim emulate --steering http://127.0.0.1:8500 --content-steering --protocol dash --players 8
go run ./player-sim emulate --dns 127.0.0.1:5353 --domain video.edgecdn.local --port 8000 --players 20 --link 8`

// Run runs the emulation mode with args.
func Run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("player-sim emulate", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	players := fs.Int("players", 10, "players in the fleet")
	duration := fs.Duration("duration", 0, "media each player plays, as a `DURATION` (default the whole title; 192s is the 48 chunks of player-sim sim)")
	dnsAddr := fs.String("dns", "", "resolve --domain with real DNS queries at `HOST:PORT` (several, comma-separated, are tried in turn as a resolver tries its nameservers; 3 tries of 1 s each)")
	domain := fs.String("domain", "video.edgecdn.local", "the `NAME` to resolve with --dns")
	port := fs.Int("port", 80, "with --dns: the balancers' HTTP `PORT`")
	steer := fs.String("steering", "", "ask edgecdn's steering service at `URL` for ranked edges")
	manifest := fs.Bool("content-steering", false, "with --steering: play the content steering playback manifest (HLS /play/<title>/master.m3u8, DASH /play/<title>/manifest.mpd: one pathway per zone, steering manifest reloaded every TTL) instead of the ranked edge list")
	protocol := fs.String("protocol", "", "`hls` (master.m3u8) or dash (manifest.mpd; CMAF titles only); default dash when --url names an .mpd, else hls")
	zones := fs.String("zones", "", "with --steering: players' `ZONES`, assigned in turn, comma-separated (default: let the service map addresses)")
	base := fs.String("url", "", "fetch straight from this `URL`: a base (http://HOST:PORT, an edge or a balancer), or what a player is given, a master playlist (.../vod/<title>/master.m3u8), a media playlist (.../vod/<title>/<rendition>/index.m3u8) or an MPD (.../vod/<title>/manifest.mpd); a playlist or MPD names the title and protocol unless --title and --protocol say otherwise")
	titles := fs.String("title", "", "`TITLES` to play, comma-separated (default every title of the origin's catalog.json)")
	zipf := fs.Float64("zipf", 1.0, "title popularity: Zipf `EXPONENT`")
	rate := fs.Float64("rate", 0, "arrivals `PER_SECOND`, Poisson (0: all at once)")
	traceDir := fs.String("trace-dir", "", "players' links replay the traces of `DIR` (time_s throughput_Mbps at 0.95 payload share), player i on trace i of the sorted folder")
	traceOffset := fs.String("trace-offset", "random", "where each trace starts: `SECONDS` from its first sample (0: from the start, as player-sim sim plays it), or random (drawn from --seed)")
	link := fs.String("link", "", "a constant link in Mbit/s, or a step profile `MBPS@SECONDS,...` (default unshaped)")
	latency := fs.Duration("latency", 0, "round trip added before each request, as a `DURATION` (player-sim sim adds 80ms per chunk)")
	algo := fs.String("abr", abr.Default, "ABR `NAME`: "+strings.Join(abr.Names(), ", "))
	segTimeout := fs.Duration("segment-timeout", 10*time.Second, "give up a segment's download after this `DURATION` and try the next edge (player-sim sim never gives up: to compare, set it above the longest outage of the traces)")
	bufCap := fs.Duration("buffer-cap", 30*time.Second, "players stop fetching above this much buffer, a `DURATION` (player-sim sim: 60s)")
	jsonOut := fs.String("json", "", "write the report as JSON to `FILE`; - prints it on stdout after the table (in Kubernetes: kubectl logs job/player-sim)")
	wait := fs.Duration("wait", 0, "wait up to this `DURATION` for the entry point (steering ready, DNS answering, the URL serving the title) before starting; 0: fail at once if it is not")
	plots := fs.String("plots", "", "write PNG plots to `DIR`: bitrate and buffer over time of sample players, CDFs of QoE and startup")
	seed := fs.Uint64("seed", 1, "`SEED` of arrivals, titles and random trace offsets")
	if err := cli.Parse(fs, args, os.LookupEnv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			cli.Help{Usage: Usage, About: Summary + ".\nWithout a command name, flags alone run this mode: player-sim --url URL ... is player-sim emulate --url URL ...", Example: Example}.Print(stdout, fs)
			return ErrHelp
		}
		return fmt.Errorf("%w (see player-sim emulate --help)", err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	entries := 0
	for _, s := range []string{*dnsAddr, *steer, *base} {
		if s != "" {
			entries++
		}
	}
	if entries != 1 {
		return errors.New("give exactly one of --dns, --steering and --url")
	}
	if _, err := abr.New(*algo); err != nil {
		return err
	}
	offset, fixedOffset, err := parseOffset(*traceOffset)
	if err != nil {
		return err
	}
	if *base != "" {
		b, title, proto, err := splitManifestURL(*base)
		if err != nil {
			return err
		}
		*base = b
		if *titles == "" {
			*titles = title
		}
		if *protocol == "" {
			*protocol = proto
		}
	}
	if *protocol == "" {
		*protocol = player.ProtocolHLS
	}
	if *protocol != player.ProtocolHLS && *protocol != player.ProtocolDASH {
		return fmt.Errorf("--protocol %q: hls or dash", *protocol)
	}
	newEntry := func(i int) player.Entry {
		switch {
		case *dnsAddr != "":
			return &player.DNSEntry{Server: *dnsAddr, Domain: *domain, Port: *port}
		case *steer != "":
			zs := splitList(*zones)
			z := ""
			if len(zs) > 0 {
				z = zs[i%len(zs)]
			}
			if *manifest {
				return &player.ContentSteeringEntry{URL: *steer, Zone: z, Protocol: *protocol}
			}
			return &player.SteeringEntry{URL: *steer, Zone: z}
		}
		return player.URLEntry{Base: *base}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ts, err := waitEntry(ctx, *wait, *steer, newEntry, splitList(*titles), stderr)
	if err != nil {
		return err
	}
	var links []player.Link
	switch {
	case *traceDir != "":
		ls, _, err := player.LoadTraces(*traceDir)
		if err != nil {
			return err
		}
		for _, l := range ls {
			links = append(links, l)
		}
	case *link != "":
		l, err := parseLink(*link)
		if err != nil {
			return err
		}
		links = []player.Link{l}
	}
	fi, _ := os.Stderr.Stat()
	terminal := fi != nil && fi.Mode()&os.ModeCharDevice != 0
	bar := &progressBar{terminal: terminal, media: duration.Seconds(), rate: *rate, last: time.Now()}
	cfg := player.FleetConfig{
		Players: *players, Titles: ts, Protocol: *protocol, ZipfS: *zipf, Rate: *rate, NewEntry: newEntry, Links: links, Latency: *latency,
		MaxSeconds: duration.Seconds(), BufferCap: *bufCap, Timeout: *segTimeout, Seed: *seed, TraceOffset: offset, FixedOffset: fixedOffset,
		NewABR: func() (abr.Algorithm, error) { return abr.New(*algo) },
		OnProgress: func(p player.FleetProgress) {
			if terminal {
				fmt.Fprintf(stderr, "\r%s\x1b[K", bar.line(p))
			} else if time.Since(bar.last) >= 10*time.Second {
				bar.last = time.Now()
				fmt.Fprintln(stderr, bar.line(p))
			}
		},
	}
	rep, err := player.RunFleet(ctx, cfg)
	if terminal {
		fmt.Fprintln(stderr)
	}
	if err != nil {
		return err
	}
	rep.WriteTable(stdout)
	if *jsonOut != "" {
		b, _ := json.MarshalIndent(rep, "", "  ")
		if *jsonOut == "-" {
			fmt.Fprintf(stdout, "%s\n", b)
		} else if err := os.WriteFile(*jsonOut, b, 0o644); err != nil {
			return err
		}
	}
	if *plots != "" {
		if err := writePlots(*plots, rep); err != nil {
			return fmt.Errorf("plots: %w", err)
		}
	}
	if rep.Failed > 0 {
		return fmt.Errorf("%d of %d players failed", rep.Failed, rep.Players)
	}
	return nil
}

// parseOffset reads --trace-offset: "random" or seconds >= 0.
func parseOffset(s string) (offset float64, fixed bool, err error) {
	if s == "random" || s == "" {
		return 0, false, nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || !(v >= 0) || v > 1e9 {
		return 0, false, fmt.Errorf("--trace-offset %q: want seconds >= 0 or random", s)
	}
	return v, true, nil
}

// waitEntry waits, up to wait, until the entry point can start a player: the steering
// service's /readyz answers 200 (with --steering), the entry gives bases (steering ranks
// edges, DNS answers), and the first base serves the catalog (without --title) or the first
// title's master playlist. It returns the titles to play. With wait 0 it tries once.
func waitEntry(ctx context.Context, wait time.Duration, steer string, newEntry func(int) player.Entry, titles []string, log io.Writer) ([]string, error) {
	deadline := time.Now().Add(wait)
	c := &http.Client{Timeout: 5 * time.Second}
	try := func() ([]string, error) {
		if steer != "" {
			resp, err := c.Get(strings.TrimRight(steer, "/") + "/readyz")
			if err != nil {
				return nil, fmt.Errorf("steering: %w", err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return nil, fmt.Errorf("steering /readyz: %s", resp.Status)
			}
		}
		if len(titles) == 0 {
			ts, err := catalogTitles(ctx, newEntry(0))
			if err != nil {
				return nil, fmt.Errorf("no --title and no catalog: %w", err)
			}
			return ts, nil
		}
		bases, err := newEntry(0).Bases(ctx, titles[0])
		if err != nil {
			return nil, err
		}
		resp, err := c.Get(bases[0] + "/vod/" + titles[0] + "/master.m3u8")
		if err != nil {
			return nil, err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("%s/vod/%s/master.m3u8: %s", bases[0], titles[0], resp.Status)
		}
		return titles, nil
	}
	for {
		ts, err := try()
		if err == nil {
			return ts, nil
		}
		if !time.Now().Before(deadline) {
			if wait > 0 {
				return nil, fmt.Errorf("entry point not ready after --wait %v: %w", wait, err)
			}
			return nil, err
		}
		fmt.Fprintf(log, "waiting for the entry point: %v\n", err)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(min(2*time.Second, time.Until(deadline))):
		}
	}
}

// catalogTitles lists the titles of the catalog.json the entry's first base serves.
func catalogTitles(ctx context.Context, e player.Entry) ([]string, error) {
	bases, err := e.Bases(ctx, "catalog") // any valid name: steering ranks edges for it
	if err != nil {
		return nil, err
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, bases[0]+"/catalog.json", nil)
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		// With signed URLs the catalog is outside every token's scope: name the titles instead.
		return nil, fmt.Errorf("%s/catalog.json: %s (with signed URLs, name titles with --title)", bases[0], resp.Status)
	}
	var cat struct{ Titles []struct{ Name string } }
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&cat); err != nil {
		return nil, err
	}
	var ts []string
	for _, t := range cat.Titles {
		ts = append(ts, t.Name)
	}
	if len(ts) == 0 {
		return nil, errors.New("catalog.json lists no title")
	}
	return ts, nil
}

// stepLink is a piecewise-constant link: rate i from time i.
type stepLink struct {
	at   []float64
	mbps []float64
}

func (l *stepLink) Rate(t time.Duration) float64 {
	r := l.mbps[0]
	for i, a := range l.at {
		if t.Seconds() >= a {
			r = l.mbps[i]
		}
	}
	return r * 1e6
}

// parseLink reads "8" (Mbit/s) or "8@0,1@20,8@40" (Mbit/s from second N).
func parseLink(s string) (player.Link, error) {
	if v, err := strconv.ParseFloat(s, 64); err == nil {
		if !(v > 0) || v > 1e5 {
			return nil, fmt.Errorf("--link %q: want a rate above 0 Mbit/s", s)
		}
		return player.ConstLink(v * 1e6), nil
	}
	l := &stepLink{}
	for _, part := range splitList(s) {
		r, at, ok := strings.Cut(part, "@")
		v, err1 := strconv.ParseFloat(r, 64)
		a, err2 := strconv.ParseFloat(at, 64)
		if !ok || err1 != nil || err2 != nil || !(v > 0) || a < 0 || (len(l.at) > 0 && a <= l.at[len(l.at)-1]) {
			return nil, fmt.Errorf("--link %q: want MBPS or MBPS@SECONDS,... with increasing times", s)
		}
		l.at, l.mbps = append(l.at, a), append(l.mbps, v)
	}
	if len(l.at) == 0 {
		return nil, fmt.Errorf("--link %q: empty", s)
	}
	return l, nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// splitManifestURL takes --url: a base (returned as it is, with no title or protocol), or what
// users paste into ffplay or hls.js, a master playlist BASE/vod/<title>/master.m3u8, a media
// playlist BASE/vod/<title>/<rendition>/index.m3u8 or an MPD BASE/vod/<title>/manifest.mpd, which
// give the base, the title and the protocol (a media playlist's player still plays the title's
// whole ladder: it needs the master playlist's bitrates to adapt).
func splitManifestURL(raw string) (base, title, protocol string, err error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", "", "", fmt.Errorf("--url %q: not an http(s) URL", raw)
	}
	parts := 2 // <title>/<file>
	switch {
	case strings.HasSuffix(u.Path, ".mpd"):
		protocol = player.ProtocolDASH
	case strings.HasSuffix(u.Path, ".m3u8"):
		protocol = player.ProtocolHLS
	default:
		return strings.TrimRight(raw, "/"), "", "", nil
	}
	bad := fmt.Errorf("--url %q: a playlist URL is BASE/vod/<title>/master.m3u8, BASE/vod/<title>/<rendition>/index.m3u8 or BASE/vod/<title>/manifest.mpd", raw)
	i := strings.LastIndex(u.Path, "/vod/")
	if i < 0 {
		return "", "", "", bad
	}
	rest := strings.Split(u.Path[i+len("/vod/"):], "/")
	if protocol == player.ProtocolHLS && len(rest) == 3 && catalog.ValidName(rest[1]) {
		parts = 3 // <title>/<rendition>/<media playlist>
	}
	if len(rest) != parts || !catalog.ValidName(rest[0]) || rest[parts-1] == "" {
		return "", "", "", bad
	}
	return u.Scheme + "://" + u.Host + u.Path[:i], rest[0], protocol, nil
}
