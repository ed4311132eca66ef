package player

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"edgecdn/internal/steerapi"
)

// SteeringEntry asks edgecdn's steering service for the edges ranked for this player
// (GET /steer/<title>?zone=Z) and uses them in that order. With signed URLs the service gives
// each edge a base, http://HOST:PORT/t/<token>, used in place of its URL.
type SteeringEntry struct {
	URL    string // the steering service's base URL
	Zone   string // the player's zone ("" lets the service map its address)
	Client *http.Client
}

// Bases implements Entry.
func (e *SteeringEntry) Bases(ctx context.Context, title string) ([]string, error) {
	return e.Refresh(ctx, title)
}

// Refresh implements Entry: a new ranking.
func (e *SteeringEntry) Refresh(ctx context.Context, title string) ([]string, error) {
	c := e.Client
	if c == nil {
		// Steering answers in milliseconds; a replica that does not (behind a Service that still
		// lists a lost node's pod) must not cost the player its buffer: the next try goes elsewhere.
		c = &http.Client{Timeout: 2 * time.Second}
	}
	u := strings.TrimRight(e.URL, "/") + "/steer/" + url.PathEscape(title)
	if e.Zone != "" {
		u += "?zone=" + url.QueryEscape(e.Zone)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil || resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("steering %s: %s %v", u, resp.Status, err)
	}
	var r steerapi.Ranking
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("steering %s: %w", u, err)
	}
	var bases []string
	for _, ed := range r.Edges {
		raw := ed.URL
		if ed.Base != "" {
			raw = ed.Base
		}
		if base, ok := contentBase(raw); ok && ed.Healthy && strings.HasPrefix(base, "http://") {
			bases = append(bases, base)
		}
	}
	if len(bases) == 0 {
		return nil, fmt.Errorf("steering %s: no healthy edge", u)
	}
	return bases, nil
}
