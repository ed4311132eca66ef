package edge

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"edgecdn/internal/cluster"
	"edgecdn/internal/hls"
	"edgecdn/internal/httpx"
	"edgecdn/internal/placement"
	"edgecdn/internal/urlpath"
)

// Cluster event kinds of the proactive fill.
const (
	eventPrefill = "prefill" // a Plan: every edge fills the objects of it that it owns
	eventPopular = "popular" // a request for each edge's title counts over a window
)

// Prefill defaults.
const (
	DefaultPrefillRate   = 50e6 // bits/s per edge, when a plan names no cap
	DefaultPrefillWindow = time.Hour
	maxPrefillTitles     = 1000
	popularKeep          = 24 * time.Hour // title counts are kept this long
	prefillYield         = 2              // the plan waits while this many player fills are in flight
)

// Plan is a proactive fill: what every edge fetches ahead of demand, each the objects it owns
// on its zone's ring (so each object is fetched once per zone), within a time window and a
// bandwidth cap, only into free cache space (a plan never evicts anything), and waiting
// while players' fills are in flight.
type Plan struct {
	Titles []string `json:"titles,omitempty"` // titles every zone fills
	// Zones are titles by zone, filled only in their zone (what a top-N plan computes).
	Zones      map[string][]string `json:"zones,omitempty"`
	Renditions []string            `json:"renditions,omitempty"` // rendition folders (e.g. "1280x720"); default all
	Segments   int                 `json:"segments,omitempty"`   // leading segments per rendition; 0: whole titles
	NotBefore  time.Time           `json:"not_before,omitempty"` // default now
	NotAfter   time.Time           `json:"not_after,omitempty"`  // default NotBefore + DefaultPrefillWindow
	RateBps    float64             `json:"rate_bps,omitempty"`   // bits/s per edge; default DefaultPrefillRate
	// Top, instead of Titles, fills each zone's Top most requested titles (sessions started:
	// master playlists and DASH manifests served) over the last Window, counted by its edges.
	Top    int    `json:"top,omitempty"`
	Window string `json:"window,omitempty"` // a Go duration; default 1h, at most 24h
}

// ParsePlan reads a plan from JSON and checks it: title and rendition names that are one
// clean path segment, counts and a cap that are not negative, a window that makes sense.
func ParsePlan(b []byte) (Plan, error) {
	var p Plan
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return Plan{}, fmt.Errorf("plan: %w", err)
	}
	if dec.More() {
		return Plan{}, errors.New("plan: more than one JSON value")
	}
	return p, p.check()
}

func (p *Plan) check() error {
	n := len(p.Titles)
	for z, ts := range p.Zones {
		if z == "" {
			return errors.New("plan: empty zone name")
		}
		n += len(ts)
		if err := checkNames("title", ts); err != nil {
			return err
		}
	}
	switch {
	case checkNames("title", p.Titles) != nil:
		return checkNames("title", p.Titles)
	case checkNames("rendition", p.Renditions) != nil:
		return checkNames("rendition", p.Renditions)
	case n > maxPrefillTitles:
		return fmt.Errorf("plan: %d titles, at most %d", n, maxPrefillTitles)
	case p.Segments < 0:
		return errors.New("plan: negative segments")
	case p.RateBps < 0:
		return errors.New("plan: negative rate_bps")
	case p.Top < 0 || p.Top > maxPrefillTitles:
		return fmt.Errorf("plan: top %d: want 0 to %d", p.Top, maxPrefillTitles)
	case p.Top > 0 && n > 0:
		return errors.New("plan: give titles or top, not both")
	case p.Top == 0 && n == 0:
		return errors.New("plan: no titles and no top")
	case !p.NotAfter.IsZero() && !p.NotBefore.IsZero() && !p.NotAfter.After(p.NotBefore):
		return errors.New("plan: not_after before not_before")
	}
	if _, err := p.window(); err != nil {
		return err
	}
	return nil
}

func (p *Plan) window() (time.Duration, error) {
	if p.Window == "" {
		return time.Hour, nil
	}
	d, err := time.ParseDuration(p.Window)
	if err != nil || d <= 0 || d > popularKeep {
		return 0, fmt.Errorf("plan: window %q: want a duration up to %v", p.Window, popularKeep)
	}
	return d, nil
}

// checkNames accepts names that are one clean path segment.
func checkNames(what string, names []string) error {
	for _, n := range names {
		clean, err := urlpath.Clean(nil, []byte("/"+n))
		if err != nil || string(clean) != "/"+n || strings.Contains(n, "/") || n == "" {
			return fmt.Errorf("plan: bad %s name %q", what, n)
		}
	}
	return nil
}

// PrefillAnswer is what POST /admin/prefill answers.
type PrefillAnswer struct {
	ID        string              `json:"id,omitempty"`
	Zones     map[string][]string `json:"zones"`     // titles per zone ("" for every zone)
	Edges     int                 `json:"edges"`     // live edges the plan went to
	Confirmed []string            `json:"confirmed"` // edges that took it
}

// popular counts the sessions started per title (master playlists and DASH manifests
// served), per minute, for top-N plans.
type popular struct {
	mu      sync.Mutex
	buckets map[int64]map[string]int // unix minute -> title -> count
}

var (
	sMaster   = []byte("/master.m3u8")
	sManifest = []byte("/manifest.mpd")
	sVod      = []byte("/vod/")
)

// noteRequest counts a request toward its title's popularity when it starts a session.
func (s *Server) noteRequest(key []byte) {
	if !bytes.HasPrefix(key, sVod) || !(bytes.HasSuffix(key, sMaster) || bytes.HasSuffix(key, sManifest)) {
		return
	}
	rest := key[len(sVod):]
	i := bytes.IndexByte(rest, '/')
	if i <= 0 {
		return
	}
	minute := time.Now().Unix() / 60
	p := &s.popular
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.buckets == nil {
		p.buckets = map[int64]map[string]int{}
	}
	b := p.buckets[minute]
	if b == nil {
		b = map[string]int{}
		p.buckets[minute] = b
		for m := range p.buckets {
			if m < minute-int64(popularKeep/time.Minute) {
				delete(p.buckets, m)
			}
		}
	}
	b[string(rest[:i])]++
}

// TitleCounts returns the sessions started per title at this edge over the last window.
func (s *Server) TitleCounts(window time.Duration) map[string]int {
	since := time.Now().Add(-window).Unix() / 60
	out := map[string]int{}
	p := &s.popular
	p.mu.Lock()
	defer p.mu.Unlock()
	for m, b := range p.buckets {
		if m >= since {
			for t, n := range b {
				out[t] += n
			}
		}
	}
	return out
}

type popularAnswer struct {
	Zone   string         `json:"zone"`
	Titles map[string]int `json:"titles"`
}

func (s *Server) initPrefill() {
	s.eventHandlers = map[string]func(cluster.Event) []byte{
		eventPrefill: func(ev cluster.Event) []byte {
			p, err := ParsePlan(ev.Body)
			if err != nil {
				s.log.Warn("fill plan refused", "id", ev.ID, "err", err)
				return nil
			}
			s.StartPlan(p)
			return []byte(`{"ok":true}`)
		},
		eventPopular: func(ev cluster.Event) []byte {
			d, err := time.ParseDuration(string(ev.Body))
			if err != nil || d <= 0 || d > popularKeep {
				return nil
			}
			b, _ := json.Marshal(popularAnswer{Zone: s.cfg.Zone, Titles: s.TitleCounts(d)})
			return b
		},
	}
	s.adminHandlers = map[string]fasthttp.RequestHandler{"/admin/prefill": s.servePrefill}
	m := &s.m
	m.prefillPlanned = s.set.NewCounter("edgecdn_edge_prefill_planned_total")
	m.prefillFetched = s.set.NewCounter("edgecdn_edge_prefill_fetched_total")
	m.prefillBytes = s.set.NewCounter("edgecdn_edge_prefill_bytes_total")
	for _, r := range []string{"cached", "room", "window", "error"} {
		m.prefillSkipped[r] = s.set.NewCounter(`edgecdn_edge_prefill_skipped_total{reason="` + r + `"}`)
	}
}

// servePrefill answers POST /admin/prefill with a Plan as its JSON body: in a cluster with
// events on, the plan goes to every edge (a top-N plan is first resolved into titles per zone
// from every edge's counts); otherwise this edge runs it alone.
func (s *Server) servePrefill(ctx *fasthttp.RequestCtx) {
	if !ctx.IsPost() {
		ctx.Response.Header.Set("Allow", "POST")
		httpx.Fail(ctx, fasthttp.StatusMethodNotAllowed, "method not allowed")
		return
	}
	p, err := ParsePlan(ctx.PostBody())
	if err != nil {
		httpx.Fail(ctx, fasthttp.StatusBadRequest, err.Error())
		return
	}
	ans, err := s.Prefill(context.Background(), p)
	if err != nil {
		httpx.Fail(ctx, fasthttp.StatusServiceUnavailable, err.Error())
		return
	}
	ctx.Response.Header.SetContentType("application/json")
	b, _ := json.Marshal(ans)
	ctx.Write(append(b, '\n'))
}

// Prefill resolves a top-N plan into titles per zone and hands the plan to every edge (or runs
// it here when the edge is alone or events are off). It returns once the edges have taken it;
// they fill in the background (PrefillIdle).
func (s *Server) Prefill(ctx context.Context, p Plan) (PrefillAnswer, error) {
	c := s.cluster.Load()
	if c == nil || !c.EventsOn() {
		if p.Top > 0 {
			p.Zones = map[string][]string{s.cfg.Zone: topTitles(s.TitleCounts(must(p.window())), p.Top)}
			p.Top, p.Window = 0, ""
		}
		s.StartPlan(p)
		return PrefillAnswer{Zones: p.zoneTitles(), Edges: 1, Confirmed: []string{s.cfg.Name}}, nil
	}
	var want []string
	for _, m := range c.Members() {
		if m.Role == cluster.RoleEdge && (m.State == cluster.Alive || m.State == cluster.Draining) {
			want = append(want, m.Name)
		}
	}
	if p.Top > 0 {
		win := must(p.window())
		ev, err := c.Publish(eventPopular, []byte(win.String()))
		if err != nil {
			return PrefillAnswer{}, err
		}
		wctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		got, _ := c.WaitAcks(wctx, ev.ID, want)
		cancel()
		byZone := map[string]map[string]int{}
		for _, b := range got {
			var a popularAnswer
			if json.Unmarshal(b, &a) != nil || len(a.Titles) == 0 {
				continue
			}
			if byZone[a.Zone] == nil {
				byZone[a.Zone] = map[string]int{}
			}
			for t, n := range a.Titles {
				byZone[a.Zone][t] += n
			}
		}
		p.Zones = map[string][]string{}
		for z, counts := range byZone {
			p.Zones[z] = topTitles(counts, p.Top)
		}
		p.Top, p.Window = 0, ""
		if err := p.check(); err != nil {
			return PrefillAnswer{Zones: p.Zones}, nil // nothing counted yet: nothing to fill
		}
	}
	body, _ := json.Marshal(p)
	ev, err := c.Publish(eventPrefill, body)
	if err != nil {
		return PrefillAnswer{}, err
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	got, _ := c.WaitAcks(wctx, ev.ID, want)
	cancel()
	ans := PrefillAnswer{ID: ev.ID, Zones: p.zoneTitles(), Edges: len(want), Confirmed: []string{}}
	for _, n := range want {
		if _, ok := got[n]; ok {
			ans.Confirmed = append(ans.Confirmed, n)
		}
	}
	return ans, nil
}

func must[T any](v T, _ error) T { return v }

func (p Plan) zoneTitles() map[string][]string {
	out := map[string][]string{}
	if len(p.Titles) > 0 {
		out[""] = p.Titles
	}
	for z, ts := range p.Zones {
		out[z] = ts
	}
	return out
}

// topTitles returns the n titles with the highest counts (ties by name).
func topTitles(counts map[string]int, n int) []string {
	ts := make([]string, 0, len(counts))
	for t := range counts {
		ts = append(ts, t)
	}
	slices.SortFunc(ts, func(a, b string) int {
		if counts[a] != counts[b] {
			return counts[b] - counts[a]
		}
		return strings.Compare(a, b)
	})
	return ts[:min(n, len(ts))]
}

// StartPlan runs a plan at this edge in the background (one plan at a time: a new plan
// replaces the one running).
func (s *Server) StartPlan(p Plan) {
	ctx, cancel := context.WithCancel(s.ctx)
	s.prefillMu.Lock()
	if s.prefillStop != nil {
		s.prefillStop()
	}
	s.prefillStop = cancel
	s.prefillMu.Unlock()
	s.prefillRunning.Add(1)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer s.prefillRunning.Add(-1)
		defer cancel()
		if err := s.runPlan(ctx, p); err != nil && ctx.Err() == nil {
			s.log.Warn("fill plan", "err", err)
		}
	}()
}

// PrefillIdle reports whether no plan is running at this edge.
func (s *Server) PrefillIdle() bool { return s.prefillRunning.Load() == 0 }

// PrefillStats are an edge's proactive fill counters since it started.
type PrefillStats struct {
	Planned, Fetched, Skipped, Bytes int64
}

// PrefillStats returns the edge's proactive fill counters.
func (s *Server) PrefillStats() PrefillStats {
	st := PrefillStats{Planned: int64(s.m.prefillPlanned.Get()), Fetched: int64(s.m.prefillFetched.Get()), Bytes: int64(s.m.prefillBytes.Get())}
	for _, c := range s.m.prefillSkipped {
		st.Skipped += int64(c.Get())
	}
	return st
}

func (s *Server) runPlan(ctx context.Context, p Plan) error {
	now := time.Now()
	if p.NotBefore.IsZero() {
		p.NotBefore = now
	}
	if p.NotAfter.IsZero() {
		p.NotAfter = p.NotBefore.Add(DefaultPrefillWindow)
	}
	if p.RateBps == 0 {
		p.RateBps = DefaultPrefillRate
	}
	if d := time.Until(p.NotBefore); d > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(d):
		}
	}
	titles := append(slices.Clone(p.Titles), p.Zones[s.cfg.Zone]...)
	start := time.Now()
	var sent float64 // bits fetched, for the cap
	largest := int64(1 << 20)
	for _, t := range titles {
		keys, err := s.planKeys(ctx, t, p)
		if err != nil {
			s.m.prefillSkipped["error"].Inc()
			s.log.Warn("fill plan: title", "title", t, "err", err)
			continue
		}
		for _, key := range keys {
			if !s.ownsKey(key) {
				continue
			}
			s.m.prefillPlanned.Inc()
			if _, ok := s.cache.Peek(key); ok {
				s.m.prefillSkipped["cached"].Inc()
				continue
			}
			if time.Now().After(p.NotAfter) {
				s.m.prefillSkipped["window"].Inc()
				continue
			}
			if s.cfg.CacheBytes-s.cache.Stats().Bytes < 2*largest {
				s.m.prefillSkipped["room"].Inc()
				continue
			}
			// Players first: wait while their fills are in flight, and hold the cap.
			for s.playerFills() >= prefillYield && time.Now().Before(p.NotAfter) {
				if !sleepCtx(ctx, 20*time.Millisecond) {
					return ctx.Err()
				}
			}
			if d := time.Until(start.Add(time.Duration(sent / p.RateBps * float64(time.Second)))); d > 0 {
				if !sleepCtx(ctx, d) {
					return ctx.Err()
				}
			}
			n, err := s.prefetch(ctx, key)
			sent += float64(n) * 8
			largest = max(largest, n)
			switch {
			case errors.Is(err, errNoRoom):
				s.m.prefillSkipped["room"].Inc()
			case err != nil:
				s.m.prefillSkipped["error"].Inc()
				s.log.Debug("fill plan: object", "key", key, "err", err)
			}
		}
	}
	s.log.Info("fill plan done", "titles", len(titles), "took", time.Since(start).Round(time.Millisecond))
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func (s *Server) playerFills() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.inflight)
}

// ownsKey reports whether this edge is key's owner on its zone's ring (or is alone).
func (s *Server) ownsKey(key string) bool {
	p := s.place.Load()
	if p == nil || p.zone == nil || p.zone.Len() == 0 {
		return true
	}
	return p.zone.Owner(placement.Key([]byte(key))) == p.self
}

// planKeys lists a title's objects a plan covers: its multivariant playlist, and for each
// rendition its media playlist, init section and the plan's leading segments.
func (s *Server) planKeys(ctx context.Context, title string, p Plan) ([]string, error) {
	base := "/vod/" + title + "/"
	body, err := s.originGet(ctx, base+"master.m3u8", 1<<20)
	if err != nil {
		return nil, err
	}
	mv, err := hls.ParseMultivariant(bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", title, err)
	}
	keys := []string{base + "master.m3u8"}
	for _, v := range mv.Variants {
		mkey, ok := resolveKey(base, v.URI)
		if !ok {
			continue
		}
		if len(p.Renditions) > 0 && !slices.Contains(p.Renditions, path.Base(path.Dir(mkey))) {
			continue
		}
		body, err := s.originGet(ctx, mkey, 4<<20)
		if err != nil {
			return nil, err
		}
		m, err := hls.ParseMedia(bytes.NewReader(body))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", mkey, err)
		}
		dir := mkey[:strings.LastIndexByte(mkey, '/')+1]
		keys = append(keys, mkey)
		if k, ok := resolveKey(dir, m.Map); ok && m.Map != "" {
			keys = append(keys, k)
		}
		for i, seg := range m.Segments {
			if p.Segments > 0 && i >= p.Segments {
				break
			}
			if k, ok := resolveKey(dir, seg.URI); ok {
				keys = append(keys, k)
			}
		}
	}
	return keys, nil
}

// resolveKey turns a playlist URI relative to dir into a cache key; absolute URLs (another
// host) are not this edge's to fill.
func resolveKey(dir, uri string) (string, bool) {
	if uri == "" || strings.Contains(uri, "://") || strings.HasPrefix(uri, "/") {
		return "", false
	}
	if i := strings.IndexAny(uri, "?#"); i >= 0 {
		uri = uri[:i]
	}
	k, err := AppendKey(nil, []byte(path.Clean(dir+uri)), nil, nil)
	return string(k), err == nil
}

// originGet reads a small object (a playlist) from the origins.
func (s *Server) originGet(ctx context.Context, key string, limit int64) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.FillTimeout)
	defer cancel()
	res, err := s.origins.fetch(ctx, key, nil, nil)
	if err != nil {
		return nil, err
	}
	defer res.resp.Body.Close()
	if res.resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", key, res.resp.Status)
	}
	return io.ReadAll(io.LimitReader(res.resp.Body, limit))
}

var errNoRoom = errors.New("no free cache space")

// prefetch fetches one object from the origins and stores it if it checks out, nothing
// purged it meanwhile, a player's fill has not stored it first, and it fits in free space.
// It returns the body bytes fetched.
func (s *Server) prefetch(ctx context.Context, key string) (int64, error) {
	gen := s.purgeGen()
	ctx, cancel := context.WithTimeout(ctx, s.cfg.FillTimeout)
	defer cancel()
	res, err := s.origins.fetch(ctx, key, nil, nil)
	if err != nil {
		return 0, err
	}
	resp := res.resp
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("%s: %s", key, resp.Status)
	}
	if resp.ContentLength > s.cfg.MaxObjectBytes {
		return 0, errTooLarge
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, s.cfg.MaxObjectBytes+1))
	n := int64(len(body))
	s.m.prefillBytes.Add(len(body))
	switch {
	case err != nil:
		return n, err
	case resp.ContentLength >= 0 && n != resp.ContentLength:
		return n, errShortBody
	case n > s.cfg.MaxObjectBytes:
		return n, errTooLarge
	}
	sum := sha256.Sum256(body)
	etag := []byte(resp.Header.Get("ETag"))
	if !etagMatchesHash(etag, sum) {
		return n, errHash
	}
	now := time.Now()
	pol := parseCacheControl([]byte(resp.Header.Get("Cache-Control")), s.cfg.DefaultTTL)
	if !pol.store {
		return n, nil
	}
	if len(etag) == 0 {
		etag = fmt.Appendf(nil, "%q", fmt.Sprintf("%x", sum))
	}
	lm := []byte(resp.Header.Get("Last-Modified"))
	o := &object{key: key, etag: etag, lastModified: lm, contentType: []byte(resp.Header.Get("Content-Type")),
		cacheControl: []byte(resp.Header.Get("Cache-Control")), kind: kindOf([]byte(key)), stored: now, expires: now.Add(pol.ttl), sha256: sum}
	o.setBody(body)
	if t, err := http.ParseTime(string(lm)); err == nil {
		o.modTime = t
	}
	if len(o.contentType) == 0 {
		o.contentType = []byte("application/octet-stream")
	}
	pg := &s.purges
	pg.mu.RLock()
	defer pg.mu.RUnlock()
	if pg.gen != gen && s.purgedSinceLocked(gen, key) {
		s.m.purgeDiscarded.Inc()
		return n, nil
	}
	if _, ok := s.cache.Peek(key); ok {
		return n, nil
	}
	if s.cache.Stats().Bytes+o.Size()+2*1024 > s.cfg.CacheBytes {
		return n, errNoRoom // never evict for a plan
	}
	if s.cache.Set(key, o) {
		s.m.prefillFetched.Inc()
		if s.disk != nil {
			s.disk.put(o)
		}
	}
	return n, nil
}
