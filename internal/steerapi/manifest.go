// Package steerapi holds what the steering service writes and players read: the HLS Content
// Steering manifest (GET /steering/<session>.json) and the ranking of edges (GET /steer/<title>).
package steerapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"

	"edgecdn/internal/pathway"
)

// Bounds on what a steering manifest may carry; past them ParseManifest refuses it or ignores
// the excess.
const (
	MaxManifestBytes = 64 << 10 // a real one is a few hundred bytes
	MaxTTL           = 86400    // seconds
	MaxPathways      = 64       // PATHWAY-PRIORITY entries, and PATHWAY-CLONES entries
	MaxReloadURILen  = 2048
	MaxCloneEntries  = 256  // PARAMS or PER-VARIANT-URIS entries of one clone
	MaxCloneString   = 2048 // a HOST, or a key or value of PARAMS or PER-VARIANT-URIS
)

// Manifest is an HLS Content Steering manifest (rfc8216bis, section 7.1). PATHWAY-PRIORITY
// orders HLS pathways and DASH service locations alike.
type Manifest struct {
	Version         int      `json:"VERSION"`
	TTL             int      `json:"TTL"` // seconds
	ReloadURI       string   `json:"RELOAD-URI,omitempty"`
	PathwayPriority []string `json:"PATHWAY-PRIORITY"`
	PathwayClones   []Clone  `json:"PATHWAY-CLONES,omitempty"`
}

// Clone is a PATHWAY-CLONES entry: a new pathway made from an existing one.
type Clone struct {
	BaseID         string         `json:"BASE-ID"`
	ID             string         `json:"ID"`
	URIReplacement URIReplacement `json:"URI-REPLACEMENT"`
}

// URIReplacement is a clone's URI-REPLACEMENT. HOST replaces the host name of each URI of the
// base pathway and nothing else (a client sets the URL's hostname: the port stays, and a
// HOST:PORT is no host name at all); PARAMS sets query parameters on each URI;
// PER-VARIANT-URIS gives whole URIs by STABLE-VARIANT-ID, which is how a clone reaches a
// balancer on another port.
type URIReplacement struct {
	Host           string            `json:"HOST,omitempty"`
	Params         map[string]string `json:"PARAMS,omitempty"`
	PerVariantURIs map[string]string `json:"PER-VARIANT-URIS,omitempty"`
}

// ParseManifest decodes and validates a steering manifest. It refuses what a client cannot
// use (more than MaxManifestBytes, not JSON, VERSION other than 1, TTL out of 0..MaxTTL, no
// usable pathway) and drops what it can ignore: pathway IDs that are not pathway.ValidID or
// repeat one before them, clones with such IDs or a URI-REPLACEMENT past the bounds, a
// RELOAD-URI longer than MaxReloadURILen or with another scheme than http or https. A refused
// manifest comes back as the zero Manifest.
func ParseManifest(b []byte) (Manifest, error) {
	if len(b) > MaxManifestBytes {
		return Manifest{}, fmt.Errorf("steering manifest: %d bytes, more than %d", len(b), MaxManifestBytes)
	}
	var raw struct {
		Version  *int     `json:"VERSION"`
		TTL      *int     `json:"TTL"`
		Reload   string   `json:"RELOAD-URI"`
		Priority []string `json:"PATHWAY-PRIORITY"`
		Clones   []Clone  `json:"PATHWAY-CLONES"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return Manifest{}, fmt.Errorf("steering manifest: %w", err)
	}
	switch {
	case raw.Version == nil || *raw.Version != 1:
		return Manifest{}, errors.New("steering manifest: VERSION is not 1")
	case raw.TTL != nil && (*raw.TTL < 0 || *raw.TTL > MaxTTL):
		return Manifest{}, fmt.Errorf("steering manifest: TTL %d out of 0..%d", *raw.TTL, MaxTTL)
	}
	m := Manifest{Version: 1}
	if raw.TTL != nil {
		m.TTL = *raw.TTL
	}
	seen := map[string]bool{}
	for _, p := range raw.Priority {
		if pathway.ValidID(p) && !seen[p] && len(m.PathwayPriority) < MaxPathways {
			seen[p] = true
			m.PathwayPriority = append(m.PathwayPriority, p)
		}
	}
	if len(m.PathwayPriority) == 0 {
		return Manifest{}, errors.New("steering manifest: no valid PATHWAY-PRIORITY")
	}
	for _, c := range raw.Clones {
		if len(m.PathwayClones) < MaxPathways && c.valid() {
			m.PathwayClones = append(m.PathwayClones, c)
		}
	}
	if r := raw.Reload; r != "" && len(r) <= MaxReloadURILen {
		if u, err := url.Parse(r); err == nil && (u.Scheme == "" || u.Scheme == "http" || u.Scheme == "https") {
			m.ReloadURI = r
		}
	}
	return m, nil
}

// valid reports whether a clone has pathway IDs and a URI-REPLACEMENT within the bounds. What
// the replacement does to each URI is the player's business.
func (c Clone) valid() bool {
	r := c.URIReplacement
	return pathway.ValidID(c.BaseID) && pathway.ValidID(c.ID) && len(r.Host) <= MaxCloneString &&
		boundedMap(r.Params) && boundedMap(r.PerVariantURIs)
}

func boundedMap(m map[string]string) bool {
	if len(m) > MaxCloneEntries {
		return false
	}
	for k, v := range m {
		if len(k) > MaxCloneString || len(v) > MaxCloneString {
			return false
		}
	}
	return true
}
