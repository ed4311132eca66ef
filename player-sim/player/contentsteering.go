package player

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"edgecdn/internal/dash"
	"edgecdn/internal/hls"
	"edgecdn/internal/pathway"
	"edgecdn/internal/steerapi"
)

// ContentSteeringEntry plays as an HLS Content Steering or DASH content steering client does:
// it reads the playback manifest (`<URL>/play/<title>/master.m3u8`, or with Protocol
// ProtocolDASH `<URL>/play/<title>/manifest.mpd`, whose BaseURLs carry the pathways as
// serviceLocation), uses one base per pathway in the order the
// steering server gives, and reloads the steering manifest every TTL (and after a failure),
// reporting its current pathway and its throughput (before it has measured any, hls.js's
// default estimate, 500 kbit/s), re-ordering pathways and adding cloned ones as the server
// says. A pathway's base is what precedes /vod/ in its variant URIs: scheme://host, and with
// signed URLs the token's prefix, scheme://host/t/<token>. Clones are made as hls.js 1.7 makes
// them, variant by variant (cloneURI): PER-VARIANT-URIS by STABLE-VARIANT-ID, else HOST as a
// host name only (a HOST:PORT leaves the URI as it was), then PARAMS; the clone's base comes
// from its first variant. It follows only http(s) URLs without userinfo, and a RELOAD-URI only
// on the steering server's own scheme and host; a manifest it cannot use is ignored.
type ContentSteeringEntry struct {
	URL      string // the steering service's base URL
	Zone     string // sent as ?zone= on the playback manifest ("" lets the service map the address)
	Protocol string // ProtocolHLS (default) or ProtocolDASH
	Client   *http.Client

	mu        sync.Mutex
	serverURI string                      // the steering manifest, absolute
	pathways  map[string]string           // pathway -> base URL
	variants  map[string][]steeredVariant // pathway -> its variants, absolute URIs
	order     []string                    // pathways, best first
	next      time.Time                   // when the steering manifest is due
	ttl       time.Duration
}

// steeredVariant is a variant of the playback manifest, or of a clone.
type steeredVariant struct {
	uri, stableID string
}

// defaultEstimate is what hls.js reports as _HLS_throughput before it has measured a segment
// (its abrEwmaDefaultEstimate), bits/s.
const defaultEstimate = 500_000

func (e *ContentSteeringEntry) client() *http.Client {
	if e.Client != nil {
		return e.Client
	}
	return &http.Client{Timeout: 5 * time.Second}
}

// Bases implements Entry: the pathways' bases, reading the playback manifest the first time.
func (e *ContentSteeringEntry) Bases(ctx context.Context, title string) ([]string, error) {
	e.mu.Lock()
	ready := e.serverURI != ""
	e.mu.Unlock()
	if !ready {
		if err := e.start(ctx, title); err != nil {
			// Nothing of a rejected playback manifest is kept: the next try reads it again.
			e.mu.Lock()
			e.serverURI, e.pathways, e.variants, e.order = "", nil, nil, nil
			e.mu.Unlock()
			return nil, err
		}
	}
	b := e.bases()
	if len(b) == 0 {
		return nil, errors.New("playback manifest: no pathway")
	}
	return b, nil
}

func (e *ContentSteeringEntry) start(ctx context.Context, title string) error {
	name := "master.m3u8"
	if e.Protocol == ProtocolDASH {
		name = "manifest.mpd"
	}
	u := strings.TrimRight(e.URL, "/") + "/play/" + url.PathEscape(title) + "/" + name
	if e.Zone != "" {
		u += "?zone=" + url.QueryEscape(e.Zone)
	}
	body, err := e.get(ctx, u)
	if err != nil {
		return err
	}
	if e.Protocol == ProtocolDASH {
		return e.startDASH(u, body)
	}
	mv, err := hls.ParseMultivariant(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("playback manifest %s: %w", u, err)
	}
	if mv.Steering == nil || mv.Steering.ServerURI == "" {
		return fmt.Errorf("playback manifest %s: no EXT-X-CONTENT-STEERING", u)
	}
	ref, err := url.Parse(u)
	if err != nil {
		return err
	}
	su, err := ref.Parse(mv.Steering.ServerURI)
	if err != nil || (su.Scheme != "http" && su.Scheme != "https") || su.Host == "" || su.User != nil {
		return fmt.Errorf("playback manifest %s: steering SERVER-URI %.128q is not an http(s) URL", u, mv.Steering.ServerURI)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.serverURI, e.pathways, e.variants, e.order = su.String(), map[string]string{}, map[string][]steeredVariant{}, nil
	for _, v := range mv.Variants {
		if !pathway.ValidID(v.PathwayID) {
			continue
		}
		// Everything before /vod/: the host and, with signed URLs, the token's path prefix.
		abs, err := ref.Parse(v.URI)
		if err != nil {
			continue
		}
		base, ok := contentBase(abs.String())
		if !ok {
			continue // another scheme, userinfo, a path that is not a token: not followed
		}
		if _, ok := e.pathways[v.PathwayID]; !ok {
			if len(e.order) >= steerapi.MaxPathways {
				continue
			}
			e.pathways[v.PathwayID] = base
			e.order = append(e.order, v.PathwayID)
		}
		e.variants[v.PathwayID] = append(e.variants[v.PathwayID], steeredVariant{uri: abs.String(), stableID: v.StableVariantID})
	}
	if len(e.order) == 0 {
		return errors.New("playback manifest: no pathway")
	}
	// The initial pathway first.
	for i, p := range e.order {
		if p == mv.Steering.PathwayID {
			e.order[0], e.order[i] = e.order[i], e.order[0]
		}
	}
	return nil
}

// startDASH reads a DASH playback manifest: ContentSteering's URL is the steering manifest,
// each BaseURL with a serviceLocation a pathway, defaultServiceLocation the first.
func (e *ContentSteeringEntry) startDASH(u string, body []byte) error {
	mpd, err := dash.Parse(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("playback manifest %s: %w", u, err)
	}
	cs := mpd.ContentSteering
	if cs == nil || cs.URL == "" {
		return fmt.Errorf("playback manifest %s: no ContentSteering", u)
	}
	ref, err := url.Parse(u)
	if err != nil {
		return err
	}
	su, err := ref.Parse(cs.URL)
	if err != nil || (su.Scheme != "http" && su.Scheme != "https") || su.Host == "" || su.User != nil {
		return fmt.Errorf("playback manifest %s: ContentSteering URL %.128q is not an http(s) URL", u, cs.URL)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.serverURI, e.pathways, e.order = su.String(), map[string]string{}, nil
	for _, b := range mpd.BaseURLs {
		if !pathway.ValidID(b.ServiceLocation) || len(e.order) >= steerapi.MaxPathways {
			continue
		}
		bu, err := ref.Parse(b.URL)
		if err != nil {
			continue
		}
		base, ok := contentBase(bu.String())
		if !ok {
			continue
		}
		if _, ok := e.pathways[b.ServiceLocation]; !ok {
			e.pathways[b.ServiceLocation] = base
			e.order = append(e.order, b.ServiceLocation)
		}
	}
	if len(e.order) == 0 {
		return errors.New("playback manifest: no BaseURL with a serviceLocation")
	}
	first, _, _ := strings.Cut(strings.TrimSpace(cs.DefaultServiceLocation), " ")
	for i, p := range e.order {
		if p == first {
			e.order[0], e.order[i] = e.order[i], e.order[0]
		}
	}
	return nil
}

func (e *ContentSteeringEntry) bases() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, p := range e.order {
		out = append(out, e.pathways[p])
	}
	return out
}

// Refresh implements Entry: reload the steering manifest now.
func (e *ContentSteeringEntry) Refresh(ctx context.Context, title string) ([]string, error) {
	if err := e.reload(ctx, 0); err != nil {
		return nil, err
	}
	return e.bases(), nil
}

// Steer reloads the steering manifest when its TTL is due, reporting throughput (bits/s). It
// returns the bases and whether their order changed.
func (e *ContentSteeringEntry) Steer(ctx context.Context, throughput float64) ([]string, bool) {
	e.mu.Lock()
	due := !e.next.IsZero() && time.Now().After(e.next) || e.next.IsZero()
	first := ""
	if len(e.order) > 0 {
		first = e.order[0]
	}
	e.mu.Unlock()
	if !due {
		return e.bases(), false
	}
	if err := e.reload(ctx, throughput); err != nil {
		// Keep the pathways; ask again after a TTL, not before every segment.
		e.mu.Lock()
		e.next = time.Now().Add(max(e.ttl, time.Second))
		e.mu.Unlock()
		return e.bases(), false
	}
	e.mu.Lock()
	changed := len(e.order) > 0 && e.order[0] != first
	e.mu.Unlock()
	return e.bases(), changed
}

func (e *ContentSteeringEntry) reload(ctx context.Context, throughput float64) error {
	e.mu.Lock()
	u, err := url.Parse(e.serverURI)
	cur := ""
	if len(e.order) > 0 {
		cur = e.order[0]
	}
	e.mu.Unlock()
	if err != nil || u == nil {
		return errors.New("no steering manifest")
	}
	if e.Protocol == ProtocolDASH {
		// As dash.js sends them: the service locations in use as a quoted list (here the
		// current one) and their throughputs in bits/s, once measured.
		setQueryParam(u, "_DASH_pathway", `"`+cur+`"`)
		if throughput > 0 {
			setQueryParam(u, "_DASH_throughput", strconv.FormatInt(int64(throughput), 10))
		}
	} else {
		if throughput <= 0 {
			throughput = defaultEstimate
		}
		setQueryParam(u, "_HLS_pathway", cur)
		setQueryParam(u, "_HLS_throughput", strconv.FormatInt(int64(throughput), 10))
	}
	body, err := e.get(ctx, u.String())
	if err != nil {
		return err
	}
	m, err := steerapi.ParseManifest(body)
	if err != nil {
		return fmt.Errorf("%s: %w", u.Redacted(), err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, c := range m.PathwayClones {
		// As hls.js: a pathway that has variants already is not cloned again.
		if len(e.variants[c.ID]) > 0 || len(e.pathways) >= steerapi.MaxPathways {
			continue
		}
		var cloned []steeredVariant
		base := ""
		for _, v := range e.variants[c.BaseID] {
			uri, ok := cloneURI(v.uri, v.stableID, c.URIReplacement)
			if !ok {
				continue
			}
			if b, ok := contentBase(uri); ok && base == "" {
				base = b
			}
			cloned = append(cloned, steeredVariant{uri: uri, stableID: v.stableID})
		}
		if base == "" {
			continue // nothing a player may follow
		}
		e.variants[c.ID] = cloned
		e.pathways[c.ID] = base
	}
	var order []string
	for _, p := range m.PathwayPriority {
		if _, ok := e.pathways[p]; ok {
			order = append(order, p)
		}
	}
	if len(order) > 0 {
		e.order = order
	}
	// A RELOAD-URI stays on the steering server: same scheme and host.
	if m.ReloadURI != "" {
		if ru, err := u.Parse(m.ReloadURI); err == nil && ru.Scheme == u.Scheme && ru.Host == u.Host && ru.User == nil {
			e.serverURI = ru.String()
		}
	}
	e.ttl = time.Duration(max(m.TTL, 1)) * time.Second
	e.next = time.Now().Add(e.ttl)
	return nil
}

func (e *ContentSteeringEntry) get(ctx context.Context, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := e.client().Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, hls.MaxPlaylistBytes+1))
	switch {
	case err != nil || resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("GET %s: %s %v", u, resp.Status, err)
	case len(b) > hls.MaxPlaylistBytes:
		return nil, fmt.Errorf("GET %s: more than %d bytes", u, hls.MaxPlaylistBytes)
	}
	return b, nil
}
