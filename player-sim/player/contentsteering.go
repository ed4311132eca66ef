package player

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"edgecdn/internal/hls"
)

// ContentSteeringEntry plays as an HLS Content Steering client does: it reads the playback
// manifest (`<URL>/play/<title>/master.m3u8`), uses one base per pathway in the order the
// steering server gives, and reloads the steering manifest every TTL (and after a failure),
// reporting its current pathway and measured throughput, re-ordering pathways and adding cloned
// ones as the server says.
type ContentSteeringEntry struct {
	URL    string // the steering service's base URL
	Zone   string // sent as ?zone= on the playback manifest ("" lets the service map the address)
	Client *http.Client

	mu        sync.Mutex
	serverURI string            // the steering manifest, absolute
	pathways  map[string]string // pathway -> base URL
	order     []string          // pathways, best first
	next      time.Time         // when the steering manifest is due
	ttl       time.Duration
}

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
			return nil, err
		}
	}
	return e.bases(), nil
}

func (e *ContentSteeringEntry) start(ctx context.Context, title string) error {
	u := strings.TrimRight(e.URL, "/") + "/play/" + url.PathEscape(title) + "/master.m3u8"
	if e.Zone != "" {
		u += "?zone=" + url.QueryEscape(e.Zone)
	}
	body, err := e.get(ctx, u)
	if err != nil {
		return err
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
	if err != nil {
		return fmt.Errorf("steering SERVER-URI %q: %w", mv.Steering.ServerURI, err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.serverURI, e.pathways = su.String(), map[string]string{}
	for _, v := range mv.Variants {
		vu, err := url.Parse(v.URI)
		if err != nil || vu.Host == "" || v.PathwayID == "" {
			continue
		}
		if _, ok := e.pathways[v.PathwayID]; !ok {
			e.pathways[v.PathwayID] = vu.Scheme + "://" + vu.Host
			e.order = append(e.order, v.PathwayID)
		}
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
	if !due || e.reload(ctx, throughput) != nil {
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
	q := u.Query()
	q.Set("_HLS_pathway", cur)
	if throughput > 0 {
		q.Set("_HLS_throughput", strconv.FormatInt(int64(throughput), 10))
	}
	u.RawQuery = q.Encode()
	body, err := e.get(ctx, u.String())
	if err != nil {
		return err
	}
	var m struct {
		Version  int      `json:"VERSION"`
		TTL      int      `json:"TTL"`
		Reload   string   `json:"RELOAD-URI"`
		Priority []string `json:"PATHWAY-PRIORITY"`
		Clones   []struct {
			BaseID string `json:"BASE-ID"`
			ID     string `json:"ID"`
			URI    struct {
				Host string `json:"HOST"`
			} `json:"URI-REPLACEMENT"`
		} `json:"PATHWAY-CLONES"`
	}
	if err := json.Unmarshal(body, &m); err != nil || m.Version != 1 || len(m.Priority) == 0 || m.TTL < 0 || m.TTL > 86400 {
		return fmt.Errorf("steering manifest %s: not a valid manifest", u)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, c := range m.Clones {
		base, ok := e.pathways[c.BaseID]
		if _, exists := e.pathways[c.ID]; !ok || exists || c.URI.Host == "" || strings.ContainsAny(c.URI.Host, "/?#@ ") {
			continue
		}
		bu, _ := url.Parse(base)
		e.pathways[c.ID] = bu.Scheme + "://" + c.URI.Host
	}
	var order []string
	for _, p := range m.Priority {
		if _, ok := e.pathways[p]; ok {
			order = append(order, p)
		}
	}
	if len(order) > 0 {
		e.order = order
	}
	if m.Reload != "" {
		if ru, err := u.Parse(m.Reload); err == nil {
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
	b, err := io.ReadAll(io.LimitReader(resp.Body, hls.MaxPlaylistBytes))
	if err != nil || resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s %v", u, resp.Status, err)
	}
	return b, nil
}
