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

// Usage is the mode's synopsis.
const Usage = `player-sim [--players N] [--duration D] (--dns HOST:PORT --domain NAME --port P | --steering URL | --url BASE|MANIFEST) [--protocol hls|dash] [flags]

Example:
  go run ./player-sim --players 100 --duration 60s --steering http://127.0.0.1:8500 --trace-dir player-sim/testdata/traces/oboe --json report.json
  go run ./player-sim --players 20 --dns 127.0.0.1:5353 --domain video.edgecdn.local --port 8000
  go run ./player-sim --players 1 --url http://127.0.0.1:9090 --title title-000 --link 8
  go run ./player-sim --players 4 --url http://127.0.0.1:9090/vod/title-000/manifest.mpd
  go run ./player-sim --players 4 --steering http://127.0.0.1:8500 --content-steering --protocol dash`

// Run runs the emulation mode with args.
func Run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("player-sim", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	players := fs.Int("players", 10, "players in the fleet")
	duration := fs.Duration("duration", 0, "media each player plays (default the whole title)")
	dnsAddr := fs.String("dns", "", "resolve --domain with real DNS queries at `HOST:PORT`")
	domain := fs.String("domain", "video.edgecdn.local", "the name to resolve with --dns")
	port := fs.Int("port", 80, "with --dns: the balancers' HTTP port")
	steer := fs.String("steering", "", "ask edgecdn's steering service at `URL` for ranked edges")
	manifest := fs.Bool("content-steering", false, "with --steering: play the content steering playback manifest (HLS /play/<title>/master.m3u8, DASH /play/<title>/manifest.mpd: one pathway per zone, steering manifest reloaded every TTL) instead of the ranked edge list")
	protocol := fs.String("protocol", "", "hls (master.m3u8) or dash (manifest.mpd; CMAF titles only); default dash when --url ends in .mpd, else hls")
	zones := fs.String("zones", "", "with --steering: players' zones, assigned in turn, comma-separated (default: let the service map addresses)")
	base := fs.String("url", "", "fetch straight from `BASE` (an edge or a balancer), or from a manifest's URL, http://HOST/vod/<title>/master.m3u8 or .../manifest.mpd (its title and protocol unless --title and --protocol say otherwise)")
	titles := fs.String("title", "", "titles to play, comma-separated (default every title of the origin's catalog.json)")
	zipf := fs.Float64("zipf", 1.0, "title popularity: Zipf exponent")
	rate := fs.Float64("rate", 0, "arrivals per second, Poisson (0: all at once)")
	traceDir := fs.String("trace-dir", "", "players' links replay these `DIR` traces (time_s throughput_Mbps), each from a random offset")
	link := fs.String("link", "", "a constant link in Mbit/s, or a step profile MBPS@SECONDS,MBPS@SECONDS,... (default unshaped)")
	latency := fs.Duration("latency", 0, "added before each request")
	algo := fs.String("abr", abr.Default, "ABR algorithm: "+strings.Join(abr.Names(), ", "))
	bufCap := fs.Duration("buffer-cap", 30*time.Second, "players stop fetching above this much buffer")
	jsonOut := fs.String("json", "", "write the report to `FILE`")
	plots := fs.String("plots", "", "write PNG plots to `DIR`: bitrate and buffer over time of sample players, CDFs of QoE and startup")
	seed := fs.Uint64("seed", 1, "seed of arrivals, titles and trace offsets")
	if err := cli.Parse(fs, args, os.LookupEnv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stdout, "Usage: "+Usage+"\n\nFlags:")
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return ErrHelp
		}
		return err
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
	ts := splitList(*titles)
	if len(ts) == 0 {
		var err error
		if ts, err = catalogTitles(ctx, newEntry(0)); err != nil {
			return fmt.Errorf("no --title and no catalog: %w", err)
		}
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
	cfg := player.FleetConfig{
		Players: *players, Titles: ts, Protocol: *protocol, ZipfS: *zipf, Rate: *rate, NewEntry: newEntry, Links: links, Latency: *latency,
		MaxSeconds: duration.Seconds(), BufferCap: *bufCap, Seed: *seed,
		NewABR: func() (abr.Algorithm, error) { return abr.New(*algo) },
		Progress: func(done, started, total int) {
			if terminal {
				fmt.Fprintf(stderr, "\rplayers: %d/%d started, %d done   ", started, total, done)
			} else {
				fmt.Fprintf(stderr, "players: %d/%d started, %d done\n", started, total, done)
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
		if err := os.WriteFile(*jsonOut, b, 0o644); err != nil {
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

// splitManifestURL takes --url: a base (returned as it is, with no title or protocol), or a
// manifest's URL, BASE/vod/<title>/master.m3u8 or BASE/vod/<title>/manifest.mpd, which gives
// the base, the title and the protocol.
func splitManifestURL(raw string) (base, title, protocol string, err error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", "", "", fmt.Errorf("--url %q: not an http(s) URL", raw)
	}
	switch {
	case strings.HasSuffix(u.Path, ".mpd"):
		protocol = player.ProtocolDASH
	case strings.HasSuffix(u.Path, ".m3u8"):
		protocol = player.ProtocolHLS
	default:
		return strings.TrimRight(raw, "/"), "", "", nil
	}
	i := strings.LastIndex(u.Path, "/vod/")
	if i < 0 {
		return "", "", "", fmt.Errorf("--url %q: a manifest URL is BASE/vod/<title>/master.m3u8 or manifest.mpd", raw)
	}
	rest := strings.Split(u.Path[i+len("/vod/"):], "/")
	if len(rest) != 2 || !catalog.ValidName(rest[0]) {
		return "", "", "", fmt.Errorf("--url %q: a manifest URL is BASE/vod/<title>/master.m3u8 or manifest.mpd", raw)
	}
	return u.Scheme + "://" + u.Host + u.Path[:i], rest[0], protocol, nil
}
