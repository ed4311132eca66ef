package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"

	"edgecdn/internal/hls"
)

// playerTitle is a title laid out as players fetch it: a multivariant playlist whose one
// variant's media playlist lists the same segment object again and again, all three in one
// folder, so that the relative URLs of both playlists resolve to real objects on any host that
// serves the folder.
type playerTitle struct {
	name    string // "segment 1 MB": the object each segment request fetches
	master  string // path of the multivariant playlist
	segment int    // bytes of one segment
}

// playlistSegments is how many entries the media playlists list; a player that wants more
// segments than that in a session starts over at the first.
const playlistSegments = 30

// writePlayerTitles writes, beside the peer objects in content/bench/r, a multivariant and a
// media playlist for the 100 KB and the 1 MB segment (master-100k.m3u8 → media-100k.m3u8 →
// 100k.ts, and the same for 1m).
func writePlayerTitles(content string) ([]playerTitle, error) {
	dir := filepath.Join(content, "bench", "r")
	var titles []playerTitle
	for _, t := range []struct {
		name, seg string
		bytes     int
	}{{"segment 100 KB", "100k", 100_000}, {"segment 1 MB", "1m", 1_000_000}} {
		media := &hls.Media{Version: 3, TargetDuration: 4, PlaylistType: "VOD", EndList: true}
		for range playlistSegments {
			media.Segments = append(media.Segments, hls.Segment{URI: t.seg + ".ts", Duration: 4})
		}
		mv := &hls.Multivariant{Version: 3, Variants: []hls.Variant{{URI: "media-" + t.seg + ".m3u8", Bandwidth: int64(t.bytes) * 8 / 4}}}
		for name, pl := range map[string][]byte{"media-" + t.seg + ".m3u8": media.Bytes(), "master-" + t.seg + ".m3u8": mv.Bytes()} {
			if pl == nil {
				return nil, fmt.Errorf("encode %s: invalid playlist", name)
			}
			if err := os.WriteFile(filepath.Join(dir, name), pl, 0o644); err != nil {
				return nil, err
			}
		}
		titles = append(titles, playerTitle{name: t.name, master: "/vod/bench/r/master-" + t.seg + ".m3u8", segment: t.bytes})
	}
	return titles, nil
}

// playerLoad is a bounded load of virtual players, each on its own keep-alive connections (one
// per host it talks to), each looping over playback sessions: the multivariant playlist from
// Start, following a redirect as players do, then the variant's media playlist and Segments
// segments, each URL resolved against the one the playlist before it came from.
type playerLoad struct {
	Start    string        // URL of the multivariant playlist through the tier-2 target
	Players  int           // virtual players, one connection each per host
	Segments int           // segments per session
	Duration time.Duration // the load stops starting requests after this
	// MaxSessions bounds the sessions of each player (besides Duration).
	MaxSessions int
	// Timeout bounds each request, as wrk's --timeout does.
	Timeout time.Duration
}

// playerResult is what a playerLoad measured.
type playerResult struct {
	Sessions  int // sessions that fetched all their segments
	Segments  int // segments fetched whole
	Bytes     int64
	Redirects int // redirects followed
	// StartRequests are the requests the finished sessions sent to Start's host (for a
	// redirecting tier 2: one per session; for a proxy: every request).
	StartRequests int
	Errors        int // failed sessions: a transport error, an unexpected status or playlist
	// SegP50, SegP99: latency of one segment request (the whole body read); StartP50: from a
	// session's first request to its first segment read whole.
	SegP50, SegP99, StartP50 time.Duration
	Wall                     time.Duration
	CPU                      time.Duration // the load generator's own CPU time (this process)
	FirstErr                 error
}

func (r playerResult) perSec(n int) float64 { return float64(n) / r.Wall.Seconds() }

// errRedirectLoop: a request redirected twice; players follow only so many, and here one is
// all a tier 2 ever needs.
var errRedirectLoop = errors.New("redirected twice")

// virtualPlayer is one virtual player: a client per host, each limited to one connection.
type virtualPlayer struct {
	load    *playerLoad
	clients map[string]*fasthttp.HostClient
	req     fasthttp.Request
	resp    fasthttp.Response
	start   string // Start's host
	toStart int    // requests sent to Start's host, the current session's included
	segs    []time.Duration
	starts  []time.Duration
	res     playerResult
}

// run drives the load to its end and returns the figures of all players together.
func (l *playerLoad) run(ctx context.Context) (playerResult, error) {
	su, err := url.Parse(l.Start)
	if err != nil {
		return playerResult{}, err
	}
	if err := loopbackHTTP(su); err != nil {
		return playerResult{}, err
	}
	players := make([]*virtualPlayer, l.Players)
	for i := range players {
		players[i] = &virtualPlayer{load: l, clients: map[string]*fasthttp.HostClient{}, start: su.Host}
	}
	var ru0 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	t0 := time.Now()
	deadline := t0.Add(l.Duration)
	var wg sync.WaitGroup
	for _, p := range players {
		wg.Go(func() { p.loop(ctx, su, deadline) })
	}
	wg.Wait()
	var total playerResult
	total.Wall = time.Since(t0)
	var ru1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	total.CPU = time.Duration(syscall.TimevalToNsec(ru1.Utime) + syscall.TimevalToNsec(ru1.Stime) -
		syscall.TimevalToNsec(ru0.Utime) - syscall.TimevalToNsec(ru0.Stime))
	var segs, starts []time.Duration
	for _, p := range players {
		for _, c := range p.clients {
			c.CloseIdleConnections()
		}
		r := p.res
		total.Sessions += r.Sessions
		total.Segments += r.Segments
		total.Bytes += r.Bytes
		total.Redirects += r.Redirects
		total.StartRequests += r.StartRequests
		total.Errors += r.Errors
		if total.FirstErr == nil {
			total.FirstErr = r.FirstErr
		}
		segs = append(segs, p.segs...)
		starts = append(starts, p.starts...)
	}
	total.SegP50, total.SegP99 = percentile(segs, 50), percentile(segs, 99)
	total.StartP50 = percentile(starts, 50)
	return total, ctx.Err()
}

// percentile returns the p-th percentile (nearest rank) of ds, 0 for none; ds is left as it is.
func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	return s[max(0, min(len(s)-1, i-1))]
}

// loop plays sessions until the deadline or MaxSessions. A failed session counts as an error
// and the player starts the next one.
func (p *virtualPlayer) loop(ctx context.Context, start *url.URL, deadline time.Time) {
	for n := 0; n < p.load.MaxSessions && time.Now().Before(deadline) && ctx.Err() == nil; n++ {
		if err := p.session(start, deadline); err != nil {
			p.res.Errors++
			if p.res.FirstErr == nil {
				p.res.FirstErr = err
			}
		}
	}
}

// session plays one session: the multivariant playlist, its first variant's media playlist,
// then Segments segments (or fewer, should the deadline pass), each resolved against the URL
// the playlist it is listed in finally came from.
func (p *virtualPlayer) session(start *url.URL, deadline time.Time) error {
	t0, n0 := time.Now(), p.toStart
	mvURL, err := p.get(start)
	if err != nil {
		return err
	}
	mv, err := hls.ParseMultivariant(bytes.NewReader(p.resp.Body()))
	if err != nil {
		return fmt.Errorf("%s: %w", mvURL, err)
	}
	ref, err := url.Parse(mv.Variants[0].URI)
	if err != nil {
		return fmt.Errorf("%s: variant URI: %w", mvURL, err)
	}
	mediaURL, err := p.get(mvURL.ResolveReference(ref))
	if err != nil {
		return err
	}
	media, err := hls.ParseMedia(bytes.NewReader(p.resp.Body()))
	if err != nil {
		return fmt.Errorf("%s: %w", mediaURL, err)
	}
	if len(media.Segments) == 0 {
		return fmt.Errorf("%s: no segments", mediaURL)
	}
	for i := 0; i < p.load.Segments; i++ {
		if i > 0 && !time.Now().Before(deadline) {
			return nil // the load is over; the session ends unfinished, not failed
		}
		ref, err := url.Parse(media.Segments[i%len(media.Segments)].URI)
		if err != nil {
			return fmt.Errorf("%s: segment URI: %w", mediaURL, err)
		}
		s0 := time.Now()
		if _, err := p.get(mediaURL.ResolveReference(ref)); err != nil {
			return err
		}
		d := time.Since(s0)
		p.segs = append(p.segs, d)
		if i == 0 {
			p.starts = append(p.starts, time.Since(t0))
		}
		p.res.Segments++
		p.res.Bytes += int64(len(p.resp.Body()))
	}
	p.res.Sessions++
	p.res.StartRequests += p.toStart - n0
	return nil
}

// get fetches u into p.resp, following one redirect, and returns the URL the body finally came
// from. Any status but 200 after that is an error.
func (p *virtualPlayer) get(u *url.URL) (*url.URL, error) {
	for hop := 0; ; hop++ {
		if err := loopbackHTTP(u); err != nil {
			return nil, err
		}
		c := p.clients[u.Host]
		if c == nil {
			c = &fasthttp.HostClient{Addr: u.Host, MaxConns: 1, ReadTimeout: p.load.Timeout, WriteTimeout: p.load.Timeout,
				MaxIdleConnDuration: time.Minute, NoDefaultUserAgentHeader: true}
			p.clients[u.Host] = c
		}
		p.req.Reset()
		p.req.SetRequestURI(u.RequestURI())
		p.req.Header.SetHost(u.Host)
		if u.Host == p.start {
			p.toStart++
		}
		if err := c.DoTimeout(&p.req, &p.resp, p.load.Timeout); err != nil {
			return nil, fmt.Errorf("GET %s: %w", u, err)
		}
		code := p.resp.StatusCode()
		if code == fasthttp.StatusOK {
			return u, nil
		}
		loc := p.resp.Header.Peek("Location")
		if code < 300 || code > 399 || len(loc) == 0 {
			return nil, fmt.Errorf("GET %s: status %d", u, code)
		}
		if hop > 0 {
			return nil, fmt.Errorf("GET %s: %w", u, errRedirectLoop)
		}
		next, err := url.Parse(string(loc))
		if err != nil {
			return nil, fmt.Errorf("GET %s: Location: %w", u, err)
		}
		p.res.Redirects++
		u = u.ResolveReference(next)
	}
}

// loopbackHTTP refuses any URL the load generator must not fetch: only plain HTTP to a
// loopback IP address.
func loopbackHTTP(u *url.URL) error {
	ip := net.ParseIP(u.Hostname())
	if u.Scheme != "http" || ip == nil || !ip.IsLoopback() || u.Port() == "" {
		return fmt.Errorf("%s: only http://LOOPBACK-IP:PORT/ is fetched", u)
	}
	return nil
}
