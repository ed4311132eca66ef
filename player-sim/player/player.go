// Package player is the real-time player of player-sim: it streams an HLS or DASH title over
// real HTTP with keep-alive, through a shaped link, choosing bitrates with an ABR algorithm (package
// player-sim/abr), switching edges on errors and on slowness, checking every segment's bytes,
// and accounting startup, stalls and QoE exactly.
package player

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"edgecdn/internal/hls"
	"edgecdn/player-sim/abr"
)

// Config configures one player. Zero values mean the defaults in the field comments.
type Config struct {
	Title     string
	Protocol  string // ProtocolHLS (master.m3u8, the default) or ProtocolDASH (manifest.mpd)
	Entry     Entry
	ABR       abr.Algorithm // default abr.New(abr.Default)
	Link      Link          // the player's own link; nil: unshaped
	Latency   time.Duration // added before each request (round trip of the player's link)
	Startup   time.Duration // buffer needed to start playing; default one segment
	BufferCap time.Duration // fetch no segment while the buffer is above this; default 30s (so it peaks near 30s plus a segment)
	Timeout   time.Duration // one segment's download; default 10s
	// HeaderTimeout bounds the wait for a response's head, and the silence of its body (a read
	// of the network that brings no byte for this long); default 3s. A head or a body that
	// stops coming means a hung edge (its zone cut off, a removed pod's address): the player
	// tries another edge at once instead of waiting out Timeout while its buffer drains. Edges
	// send a miss's head as soon as the fill starts and stream it as it comes, so a slow
	// download is not cut by it; the wait on the player's own emulated link is not counted.
	HeaderTimeout time.Duration
	MaxChunks     int          // play at most this many segments; default the whole title
	MaxSeconds    float64      // play at most this much media; default the whole title
	SessionID     string       // CMCD sid
	Client        *http.Client // default a keep-alive client
	SlowFactor    float64      // switch edges when a segment's throughput is below this share of the link; default 0.3
	OnChunk       func(Chunk)  // called after each segment (tests and progress displays)
}

// Chunk is what happened to one segment.
type Chunk struct {
	Level      int     `json:"level"`
	Kbps       int     `json:"kbps"`
	Bytes      int64   `json:"bytes"`
	MediaS     float64 `json:"media_s"` // the segment's duration
	TTFBms     float64 `json:"ttfb_ms"`
	Seconds    float64 `json:"download_s"`
	RebufferS  float64 `json:"rebuffer_s"`
	BufferS    float64 `json:"buffer_s"` // after the download
	AtS        float64 `json:"at_s"`     // session time when it arrived
	Base       string  `json:"base"`
	EdgeName   string  `json:"edge,omitempty"`
	CacheState string  `json:"cache_status,omitempty"`
	ETPKbps    int     `json:"cmsd_etp_kbps,omitempty"` // the server's CMSD estimated throughput
	Duress     bool    `json:"cmsd_duress,omitempty"`   // the server said it was under duress
}

// Result is a session's report.
type Result struct {
	Title         string   `json:"title"`
	Trace         string   `json:"trace,omitempty"`          // the trace its link replays (file name)
	TraceOffsetS  float64  `json:"trace_offset_s,omitempty"` // where in that trace it started, seconds
	StartupMS     float64  `json:"startup_ms"`
	Rebuffers     int      `json:"rebuffer_count"`
	RebufferS     float64  `json:"rebuffer_s"`
	PlayedS       float64  `json:"played_s"`
	RebufferRatio float64  `json:"rebuffer_ratio"`
	BitrateKbps   float64  `json:"bitrate_kbps_mean"`
	Switches      int      `json:"switches"`
	EdgeSwitches  int      `json:"edge_switches"`
	QoELin        float64  `json:"qoe_lin"`
	Errors        int      `json:"errors"`
	ErrorSamples  []string `json:"error_samples,omitempty"` // the first few errors, as they were
	// LinkTimeouts counts segment downloads cut by the timeout while the player's own link was
	// the bottleneck (a trace's outage): not errors of the CDN, and retried on the same edge.
	LinkTimeouts int     `json:"link_timeouts,omitempty"`
	Corrupt      int     `json:"corrupt_segments"`
	Unverified   int     `json:"unverified_segments,omitempty"` // accepted without a hash to check them against (no catalog.json, no SHA-256 ETag)
	InitSegments int     `json:"init_segments,omitempty"`       // CMAF init segments fetched: one per rendition switch
	Failed       bool    `json:"failed"`
	FailReason   string  `json:"fail_reason,omitempty"`
	Chunks       []Chunk `json:"chunks,omitempty"`
}

// drainStep is the granularity, in seconds, of a player's wait above the buffer cap: the
// virtual-time simulator's (Pensieve's 500 ms sleeps).
const drainStep = 0.5

var defaultClient = &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 4, IdleConnTimeout: 30 * time.Second, DisableCompression: true}}

// Protocols a player speaks.
const (
	ProtocolHLS  = "hls"
	ProtocolDASH = "dash"
)

type level struct {
	kbps     int
	uri      string // HLS: the media playlist; DASH: the Representation id
	dir      string // what segment and init URIs are relative to, below the title folder
	init     string // CMAF init segment, relative to dir; "" for MPEG-TS
	segments []hls.Segment
}

// Play streams one session and reports it. The error is for sessions that could not play at all.
func Play(ctx context.Context, cfg Config) (*Result, error) {
	if cfg.ABR == nil {
		a, err := abr.New(abr.Default)
		if err != nil {
			return nil, err
		}
		cfg.ABR = a
	}
	if cfg.BufferCap == 0 {
		cfg.BufferCap = 30 * time.Second
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.HeaderTimeout == 0 {
		cfg.HeaderTimeout = 3 * time.Second
	}
	if cfg.Client == nil {
		cfg.Client = defaultClient
	}
	if cfg.SlowFactor == 0 {
		cfg.SlowFactor = 0.3
	}
	if cfg.Protocol == "" {
		cfg.Protocol = ProtocolHLS
	}
	if cfg.Protocol != ProtocolHLS && cfg.Protocol != ProtocolDASH {
		return nil, fmt.Errorf("player: protocol %q, want %s or %s", cfg.Protocol, ProtocolHLS, ProtocolDASH)
	}
	p := &session{cfg: cfg, res: &Result{Title: cfg.Title}, start: time.Now(), haveInit: -1}
	err := p.run(ctx)
	if err != nil {
		p.res.Failed, p.res.FailReason = true, err.Error()
	}
	p.finish()
	return p.res, nil
}

type session struct {
	cfg      Config
	res      *Result
	start    time.Time
	bases    []string
	bi       int                  // current base
	failed   map[string]time.Time // bases that failed, and when: tried last for a while
	levels   []level
	haveInit int // the level whose init segment was fetched last; -1 none
	sizes    [][]int64
	hashes   map[string]string // segment path -> sha256 hex, from catalog.json when readable

	// The link's clock: it starts with the first media request and stands still while a
	// request waits out its round trip (--latency), as the trace pointer of the virtual-time
	// simulator does (it adds the RTT to each download without walking the trace).
	linkStart  time.Time
	linkPaused time.Duration

	// Playback clock, in media seconds.
	started, playing bool
	pos, bufEnd      float64
	lastUpdate       time.Time
	stallStart       time.Time
}

// countError counts a failed request and keeps the first few messages for the report.
func (p *session) countError(err error) {
	p.res.Errors++
	if len(p.res.ErrorSamples) < 4 {
		p.res.ErrorSamples = append(p.res.ErrorSamples, fmt.Sprintf("%.1fs: %v", p.since(), err))
	}
}

func (p *session) since() float64 { return time.Since(p.start).Seconds() }

// linkTime is the link's time at wall time t: 0 until the first media request.
func (p *session) linkTime(t time.Time) time.Duration {
	if p.linkStart.IsZero() {
		return 0
	}
	return max(t.Sub(p.linkStart)-p.linkPaused, 0)
}

// advance moves the play head to now, starting a stall if the buffer runs dry.
func (p *session) advance(now time.Time) {
	if p.playing {
		p.pos += now.Sub(p.lastUpdate).Seconds()
		if p.pos > p.bufEnd {
			excess := p.pos - p.bufEnd
			p.pos = p.bufEnd
			p.playing = false
			p.stallStart = now.Add(-time.Duration(excess * float64(time.Second)))
			p.res.Rebuffers++
		}
	}
	p.lastUpdate = now
}

// Entry retries at startup: a player does not give up on its first answer from DNS or steering
// (hls.js retries a manifest that timed out twice and one that failed once more, a second
// apart). The wait counts towards the startup time, as it does for a viewer.
const (
	entryAttempts   = 3
	entryRetryDelay = time.Second
)

// entryBases asks the entry for the title's bases, trying again after a failure.
func entryBases(ctx context.Context, e Entry, title string) ([]string, error) {
	var errs []error
	for i := range entryAttempts {
		if i > 0 {
			t := time.NewTimer(entryRetryDelay)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, errors.Join(append(errs, ctx.Err())...)
			case <-t.C:
			}
		}
		bases, err := e.Bases(ctx, title)
		if err == nil && len(bases) == 0 {
			err = errors.New("the entry gave no base URL")
		}
		if err == nil {
			return bases, nil
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("entry failed %d times: %w", entryAttempts, errors.Join(errs...))
}

func (p *session) run(ctx context.Context) error {
	bases, err := entryBases(ctx, p.cfg.Entry, p.cfg.Title)
	if err != nil {
		return err
	}
	p.bases = bases
	load := p.loadPlaylists
	if p.cfg.Protocol == ProtocolDASH {
		load = p.loadMPD
	}
	if err := load(ctx); err != nil {
		return err
	}
	p.loadCatalog(ctx)
	chunkDur := p.levels[0].segments[0].Duration
	n := len(p.levels[0].segments)
	for _, l := range p.levels {
		n = min(n, len(l.segments))
	}
	if p.cfg.MaxChunks > 0 {
		n = min(n, p.cfg.MaxChunks)
	}
	if p.cfg.MaxSeconds > 0 {
		n = min(n, max(1, int(math.Ceil(p.cfg.MaxSeconds/chunkDur))))
	}
	startup := p.cfg.Startup.Seconds()
	if startup <= 0 {
		startup = chunkDur
	}
	var thr, dts []float64
	lastLevel := -1
	st := &abr.State{Chunks: n, Sizes: p.sizes, ChunkSeconds: chunkDur}
	for _, l := range p.levels {
		st.Kbps = append(st.Kbps, l.kbps)
	}
	var lastRebuffer, idle float64
	for i := 0; i < n; i++ {
		// Above the buffer cap, wait until the buffer is back at it, in steps of drainStep, as
		// the virtual-time simulator (Pensieve's environment) sleeps.
		p.advance(time.Now())
		idle = 0
		if over := p.bufEnd - p.pos - p.cfg.BufferCap.Seconds(); over > 0 && p.playing {
			wait := math.Ceil(over/drainStep) * drainStep
			select {
			case <-time.After(time.Duration(wait * float64(time.Second))):
			case <-ctx.Done():
				return ctx.Err()
			}
			idle = wait
			p.advance(time.Now())
		}
		st.Next, st.Buffer, st.LastLevel = i, p.bufEnd-p.pos, max(lastLevel, 0)
		st.Throughput, st.DownloadTime, st.Rebuffer, st.Idle = thr, dts, lastRebuffer, idle
		p.steer(ctx)
		lv := p.cfg.ABR.Choose(st)
		if i == 0 {
			lv = p.firstLevel()
		}
		lv = min(max(lv, 0), len(p.levels)-1)
		c, err := p.fetchChunk(ctx, lv, i)
		if err != nil {
			return err
		}
		now := time.Now()
		p.advance(now)
		rebuf := 0.0
		if p.started && !p.playing {
			rebuf = now.Sub(p.stallStart).Seconds()
			p.res.RebufferS += rebuf
			p.playing = true
		}
		c.MediaS = p.levels[lv].segments[i].Duration
		p.bufEnd += c.MediaS
		if !p.started && p.bufEnd >= startup {
			p.started, p.playing = true, true
			p.res.StartupMS = float64(now.Sub(p.start).Milliseconds())
		}
		c.RebufferS, c.BufferS, c.AtS = rebuf, p.bufEnd-p.pos, p.since()
		p.res.Chunks = append(p.res.Chunks, c)
		if p.cfg.OnChunk != nil {
			p.cfg.OnChunk(c)
		}
		if lastLevel >= 0 && lv != lastLevel {
			p.res.Switches++
		}
		lastLevel, lastRebuffer = lv, rebuf
		thr = append(thr, float64(c.Bytes)/max(c.Seconds, 1e-6))
		dts = append(dts, c.Seconds)
	}
	p.res.PlayedS = p.bufEnd
	return nil
}

// steer lets a content-steering entry re-order the pathways when its manifest is due.
func (p *session) steer(ctx context.Context) {
	s, ok := p.cfg.Entry.(interface {
		Steer(ctx context.Context, throughput float64) ([]string, bool)
	})
	if !ok {
		return
	}
	if bases, changed := s.Steer(ctx, float64(p.mtp())*1000); changed && len(bases) > 0 {
		p.bases, p.bi = bases, 0
		p.res.EdgeSwitches++
	}
}

// firstLevel is the level nearest 750 kbps, as the reference players start.
func (p *session) firstLevel() int {
	best := 0
	for i, l := range p.levels {
		if math.Abs(float64(l.kbps-750)) < math.Abs(float64(p.levels[best].kbps-750)) {
			best = i
		}
	}
	return best
}

func (p *session) finish() {
	r := p.res
	if r.PlayedS+r.RebufferS > 0 {
		r.RebufferRatio = r.RebufferS / (r.PlayedS + r.RebufferS)
	}
	var sum float64
	prev := -1.0
	for i, c := range r.Chunks {
		mbps := float64(c.Kbps) / 1000
		sum += float64(c.Kbps)
		if i > 0 {
			r.QoELin += mbps - 4.3*c.RebufferS - math.Abs(mbps-prev)
		}
		prev = mbps
	}
	if len(r.Chunks) > 0 {
		r.BitrateKbps = sum / float64(len(r.Chunks))
	}
}

// get fetches base+path, with CMCD headers, the added latency and the link's shaping.
func (p *session) get(ctx context.Context, base, path string, cmcd string) (*http.Response, io.Reader, error) {
	if p.cfg.Latency > 0 {
		waitStart := time.Now()
		select {
		case <-time.After(p.cfg.Latency):
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
		if !p.linkStart.IsZero() {
			p.linkPaused += time.Since(waitStart)
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
	if err != nil {
		return nil, nil, err
	}
	if cmcd != "" {
		req.Header.Set("CMCD-Request", cmcd)
	}
	sid := p.cfg.SessionID
	if sid != "" {
		req.Header.Set("CMCD-Session", fmt.Sprintf("cid=%q,sid=%q", p.cfg.Title, sid))
	}
	hctx, cancel := context.WithCancelCause(ctx)
	timer := time.AfterFunc(p.cfg.HeaderTimeout, func() { cancel(errNoHead) })
	resp, err := p.cfg.Client.Do(req.WithContext(hctx))
	if !timer.Stop() && err != nil && context.Cause(hctx) == errNoHead {
		err = fmt.Errorf("%s%s: no response head in %v", base, path, p.cfg.HeaderTimeout)
	}
	if err != nil {
		cancel(nil)
		return nil, nil, err
	}
	resp.Body = &idleBody{ReadCloser: resp.Body, idle: p.cfg.HeaderTimeout, cancel: cancel}
	var body io.Reader = resp.Body
	// catalog.json is the simulator's side channel for sizes and hashes, not something a
	// player fetches: it does not use the player's link.
	if p.cfg.Link != nil && path != "/catalog.json" {
		body = &shaper{ctx: ctx, r: resp.Body, link: p.cfg.Link, at: p.linkTime}
	}
	return resp, body, nil
}

var (
	errNoHead   = errors.New("no response head in time")
	errBodyIdle = errors.New("the response body stopped coming")
)

// idleBody cuts a response whose body brings no byte for idle while it is being read (a peer
// gone silent: its link cut mid-segment), and releases the request's context once closed.
// Only a read in progress counts: time the reader spends elsewhere (waiting on the player's
// emulated link) is not silence of the peer.
type idleBody struct {
	io.ReadCloser
	idle   time.Duration
	cancel context.CancelCauseFunc
	timer  *time.Timer
}

func (b *idleBody) Read(p []byte) (int, error) {
	if b.timer == nil {
		b.timer = time.AfterFunc(b.idle, func() { b.cancel(errBodyIdle) })
	} else {
		b.timer.Reset(b.idle)
	}
	n, err := b.ReadCloser.Read(p)
	if !b.timer.Stop() && err != nil {
		err = fmt.Errorf("%w: no byte in %v", errBodyIdle, b.idle)
	}
	return n, err
}

func (b *idleBody) Close() error {
	err := b.ReadCloser.Close()
	if b.timer != nil {
		b.timer.Stop()
	}
	b.cancel(nil)
	return err
}

func (p *session) getAll(ctx context.Context, path string) ([]byte, error) {
	var errs []error
	for tries := 0; tries < len(p.bases)+1; tries++ {
		resp, body, err := p.get(ctx, p.bases[p.bi], path, "")
		if err == nil {
			b, rerr := io.ReadAll(io.LimitReader(body, 64<<20))
			resp.Body.Close()
			if rerr == nil && resp.StatusCode == http.StatusOK {
				return b, nil
			}
			err = fmt.Errorf("%s: %s %v", path, resp.Status, rerr)
		}
		errs = append(errs, err)
		p.countError(err)
		p.switchBase(ctx, true)
	}
	return nil, errors.Join(errs...)
}

// switchBase moves to the next base: after a slow segment (failed false), the next of the
// list; after a failure or a CMSD "du" (failed true), the list the entry gives again (its
// ranking is stale: an edge failed, and a replaced edge, such as a restarted Kubernetes pod, is
// back at another address) with the bases that failed lately last, or the next of the old list
// when the entry gives none.
func (p *session) switchBase(ctx context.Context, failed bool) {
	cur := p.bases[p.bi]
	if failed {
		if p.failed == nil {
			p.failed = map[string]time.Time{}
		}
		p.failed[cur] = time.Now()
	}
	if failed || len(p.bases) == 1 {
		if bs, err := p.cfg.Entry.Refresh(ctx, p.cfg.Title); err == nil && len(bs) > 0 {
			bs = p.penalize(bs, cur)
			if bs[0] != cur {
				p.res.EdgeSwitches++
			}
			p.bases, p.bi = bs, 0
			return
		}
	}
	if len(p.bases) > 1 {
		p.bi = (p.bi + 1) % len(p.bases)
		p.res.EdgeSwitches++
	}
}

// penaltyBox is how long a base that failed goes to the end of the player's list (as hls.js
// keeps a failed pathway out of use for a while).
const penaltyBox = 30 * time.Second

// penalize orders bases as given but puts the ones that failed in the last penaltyBox, and cur,
// after the others.
func (p *session) penalize(bs []string, cur string) []string {
	var ok, bad []string
	for _, b := range bs {
		if t, f := p.failed[b]; (f && time.Since(t) < penaltyBox) || b == cur {
			bad = append(bad, b)
		} else {
			ok = append(ok, b)
		}
	}
	if len(ok) == 0 {
		return bs
	}
	return append(ok, bad...)
}

func (p *session) loadPlaylists(ctx context.Context) error {
	title := "/vod/" + p.cfg.Title + "/"
	b, err := p.getAll(ctx, title+"master.m3u8")
	if err != nil {
		return err
	}
	mv, err := hls.ParseMultivariant(bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("master playlist: %w", err)
	}
	vs := slices.Clone(mv.Variants)
	slices.SortFunc(vs, func(a, b hls.Variant) int { return int(a.Bandwidth - b.Bandwidth) })
	for _, v := range vs {
		if strings.Contains(v.URI, "://") || strings.HasPrefix(v.URI, "/") || strings.Contains(v.URI, "..") {
			continue // only the title's own renditions
		}
		mb, err := p.getAll(ctx, title+v.URI)
		if err != nil {
			return err
		}
		m, err := hls.ParseMedia(bytes.NewReader(mb))
		if err != nil {
			return fmt.Errorf("media playlist %s: %w", v.URI, err)
		}
		if len(m.Segments) == 0 {
			return fmt.Errorf("media playlist %s: no segments", v.URI)
		}
		for _, s := range m.Segments {
			if strings.Contains(s.URI, "://") || strings.HasPrefix(s.URI, "/") || strings.Contains(s.URI, "..") || strings.ContainsAny(s.URI, "?#\\") {
				return fmt.Errorf("media playlist %s: segment %.64q is not inside the title", v.URI, s.URI)
			}
		}
		if m.Map != "" && !insideTitle(m.Map) {
			return fmt.Errorf("media playlist %s: map %.64q is not inside the title", v.URI, m.Map)
		}
		kbps := int(v.AverageBandwidth / 1000)
		if kbps == 0 {
			kbps = int(v.Bandwidth / 1000)
		}
		p.levels = append(p.levels, level{kbps: kbps, uri: v.URI, dir: v.URI[:strings.LastIndexByte(v.URI, '/')+1], init: m.Map, segments: m.Segments})
	}
	if len(p.levels) == 0 {
		return errors.New("master playlist: no playable variant")
	}
	return nil
}

// insideTitle accepts a relative reference that stays in the title's folder.
func insideTitle(u string) bool {
	return u != "" && !strings.Contains(u, "://") && !strings.HasPrefix(u, "/") && !strings.Contains(u, "..") && !strings.ContainsAny(u, "?#\\")
}

// loadCatalog reads segment sizes and hashes from the origin's catalog.json through the CDN;
// without it, sizes are estimated from the bitrates and bodies are checked against ETags.
func (p *session) loadCatalog(ctx context.Context) {
	p.hashes = map[string]string{}
	p.sizes = make([][]int64, len(p.levels))
	b, err := p.getCatalog(ctx)
	var cat struct {
		Titles []struct {
			Name       string
			Renditions []struct {
				Name string
				Init *struct {
					Name   string
					SHA256 string
				}
				Segments []struct {
					Name   string
					Size   int64
					SHA256 string
				}
			}
		}
	}
	if err == nil {
		err = json.Unmarshal(b, &cat)
	}
	sizes := map[string]int64{}
	if err == nil {
		for _, t := range cat.Titles {
			if t.Name != p.cfg.Title {
				continue
			}
			for _, r := range t.Renditions {
				for _, s := range r.Segments {
					key := r.Name + "/" + s.Name
					p.hashes[key], sizes[key] = s.SHA256, s.Size
				}
				if r.Init != nil {
					p.hashes[r.Name+"/"+r.Init.Name] = r.Init.SHA256
				}
			}
		}
	}
	for i, l := range p.levels {
		var bytes int64
		var secs float64
		known := true
		for _, s := range l.segments {
			sz, ok := sizes[l.dir+s.URI]
			if !ok {
				sz, known = int64(float64(l.kbps)*1000/8*s.Duration), false
			}
			p.sizes[i] = append(p.sizes[i], sz)
			bytes, secs = bytes+sz, secs+s.Duration
		}
		// An MPD's bandwidth is the peak; the level's rate is the mean, as HLS's
		// AVERAGE-BANDWIDTH gives it, so both protocols score and choose alike.
		if p.cfg.Protocol == ProtocolDASH && known && secs > 0 {
			p.levels[i].kbps = int(math.Ceil(float64(bytes)*8/secs) / 1000)
		}
	}
}

// getCatalog fetches /catalog.json. It is optional: a 4xx answer is final and no error of the
// edge (with signed URLs the token covers only /vod/<title>/, and the edge answers 403), so it
// counts no error and switches no edge; only transport errors and 5xx try the next base.
func (p *session) getCatalog(ctx context.Context) ([]byte, error) {
	var errs []error
	for tries := 0; tries < len(p.bases); tries++ {
		resp, body, err := p.get(ctx, p.bases[p.bi], "/catalog.json", "")
		if err == nil {
			b, rerr := io.ReadAll(io.LimitReader(body, 64<<20))
			resp.Body.Close()
			switch {
			case rerr == nil && resp.StatusCode == http.StatusOK:
				return b, nil
			case resp.StatusCode >= 400 && resp.StatusCode < 500:
				return nil, fmt.Errorf("catalog.json: %s", resp.Status)
			}
			err = fmt.Errorf("catalog.json: %s %v", resp.Status, rerr)
		}
		errs = append(errs, err)
		p.countError(err)
		p.switchBase(ctx, true)
	}
	return nil, errors.Join(errs...)
}

// fetchChunk downloads segment i at level lv, retrying on the next base (edge switch) after an
// error; a segment whose bytes do not check out counts as corrupt and is fetched again.
func (p *session) fetchChunk(ctx context.Context, lv, i int) (Chunk, error) {
	if p.linkStart.IsZero() {
		p.linkStart = time.Now()
	}
	l := p.levels[lv]
	if l.init != "" && p.haveInit != lv {
		if err := p.fetchInit(ctx, lv); err != nil {
			return Chunk{}, err
		}
	}
	dir := l.dir
	path := "/vod/" + p.cfg.Title + "/" + dir + l.segments[i].URI
	cmcd := fmt.Sprintf("br=%d,bl=%d,d=%d,mtp=%d,nor=%q,ot=v,sf=%s", l.kbps, int((p.bufEnd-p.pos)*1000)/100*100,
		int(l.segments[i].Duration*1000), p.mtp(), nextPath(p, lv, i), p.streamingFormat())
	var errs []error
	for tries := 0; tries < 2*len(p.bases)+2; tries++ {
		tctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
		start := time.Now()
		base := p.bases[p.bi]
		resp, body, err := p.get(tctx, base, path, cmcd)
		// The body is hashed as it arrives, not held: a fleet of thousands stays small.
		h := sha256.New()
		var n int64
		var ttfb time.Duration
		if err == nil {
			ttfb = time.Since(start)
			n, err = io.Copy(h, io.LimitReader(body, 256<<20))
			resp.Body.Close()
			if err == nil && resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("%s%s: %s", base, path, resp.Status)
			}
		}
		cancel()
		checked := false
		if err == nil {
			var ok bool
			if ok, checked = p.intact(dir+l.segments[i].URI, h.Sum(nil), resp.Header.Get("ETag")); !ok {
				p.res.Corrupt++
				err = fmt.Errorf("%s%s: bytes do not match the origin's hash", base, path)
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return Chunk{}, ctx.Err()
			}
			errs = append(errs, err)
			// A timeout spent mostly waiting on the player's own link (a trace's outage) is no
			// fault of the edge: it is counted apart, and the player asks the same edge again.
			if sh, ok := body.(*shaper); ok && errors.Is(tctx.Err(), context.DeadlineExceeded) && sh.waited > p.cfg.Timeout/2 {
				p.res.LinkTimeouts++
				continue
			}
			p.countError(err)
			p.switchBase(ctx, true)
			continue
		}
		if !checked {
			p.res.Unverified++
		}
		secs := time.Since(start).Seconds()
		c := Chunk{Level: lv, Kbps: l.kbps, Bytes: n, TTFBms: float64(ttfb.Microseconds()) / 1000, Seconds: secs,
			Base: base, EdgeName: resp.Header.Get("X-Served-By"), CacheState: resp.Header.Get("Cache-Status")}
		c.ETPKbps, c.Duress = parseCMSD(resp.Header.Get("CMSD-Dynamic"))
		if c.Duress {
			// The edge says it is struggling or leaving (CMSD du): move before it fails, on a
			// ranking asked anew, as after a failure (the old one may hold replaced edges).
			p.switchBase(ctx, true)
			return c, nil
		}
		// The edge is the bottleneck when the segment came much slower than the player's own
		// link allows: try the next one for the following segments.
		if p.cfg.Link != nil && n > 64<<10 {
			got := float64(n) * 8 / secs
			if got < p.cfg.SlowFactor*p.cfg.Link.Rate(p.linkTime(time.Now())) {
				p.switchBase(ctx, false)
			}
		}
		return c, nil
	}
	return Chunk{}, fmt.Errorf("segment %d: %w", i, errors.Join(errs...))
}

// fetchInit downloads level lv's init segment (CMAF), as a player does on every switch of
// rendition, checking its bytes like a segment's; errors move to the next base.
func (p *session) fetchInit(ctx context.Context, lv int) error {
	l := p.levels[lv]
	path := "/vod/" + p.cfg.Title + "/" + l.dir + l.init
	var errs []error
	for tries := 0; tries < 2*len(p.bases)+2; tries++ {
		tctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
		base := p.bases[p.bi]
		resp, body, err := p.get(tctx, base, path, "ot=i,sf="+p.streamingFormat())
		h := sha256.New()
		if err == nil {
			_, err = io.Copy(h, io.LimitReader(body, 1<<20))
			resp.Body.Close()
			if err == nil && resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("%s%s: %s", base, path, resp.Status)
			}
		}
		cancel()
		if err == nil {
			ok, checked := p.intact(l.dir+l.init, h.Sum(nil), resp.Header.Get("ETag"))
			if !ok {
				p.res.Corrupt++
				err = fmt.Errorf("%s%s: bytes do not match the origin's hash", base, path)
			} else if !checked {
				p.res.Unverified++
			}
		}
		if err == nil {
			p.haveInit = lv
			p.res.InitSegments++
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		errs = append(errs, err)
		p.countError(err)
		p.switchBase(ctx, true)
	}
	return fmt.Errorf("init segment %s: %w", l.init, errors.Join(errs...))
}

// streamingFormat is CMCD's sf: h for HLS, d for DASH.
func (p *session) streamingFormat() string {
	if p.cfg.Protocol == ProtocolDASH {
		return "d"
	}
	return "h"
}

// mtp is the measured throughput (kbit/s) of the last segment, for CMCD.
func (p *session) mtp() int {
	if n := len(p.res.Chunks); n > 0 {
		c := p.res.Chunks[n-1]
		return int(float64(c.Bytes) * 8 / max(c.Seconds, 1e-6) / 1000)
	}
	return 0
}

// nextPath is CMCD's nor: the next segment relative to this one's URL (DASH levels name
// segments from the title's folder, "750k/seg00001.m4s": the shared folder drops out).
func nextPath(p *session, lv, i int) string {
	l := p.levels[lv]
	if i+1 >= len(l.segments) {
		return ""
	}
	cur, next := l.segments[i].URI, l.segments[i+1].URI
	if j := strings.LastIndexByte(cur, '/'); j >= 0 && strings.HasPrefix(next, cur[:j+1]) {
		return next[j+1:]
	}
	return next
}

// intact checks a segment against catalog.json's hash, or, without one (no catalog: with
// signed URLs the edge refuses it), against an ETag that names a SHA-256. A segment with
// neither cannot be checked: it passes, and checked is false.
func (p *session) intact(key string, sum []byte, etag string) (ok, checked bool) {
	want := p.hashes[key]
	if want == "" && len(etag) == 66 && etag[0] == '"' && etag[65] == '"' && isHex(etag[1:65]) {
		want = etag[1:65]
	}
	if want == "" {
		return true, false
	}
	return hex.EncodeToString(sum) == strings.ToLower(want), true
}

func isHex(s string) bool {
	for _, c := range []byte(s) {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// parseCMSD reads etp (kbit/s) and du from a CMSD-Dynamic header (CTA-5006):
// `"edge-a1";etp=52000;du`. Unknown keys are ignored.
func parseCMSD(v string) (etp int, du bool) {
	for _, part := range strings.Split(v, ";") {
		k, val, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "etp":
			if n, err := strconv.Atoi(val); err == nil && n >= 0 {
				etp = n
			}
		case "du":
			du = val == "" || val == "?1"
		}
	}
	return etp, du
}
