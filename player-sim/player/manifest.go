package player

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"edgecdn/internal/signing"
)

// Bounds on what a steering manifest may carry; past them it is refused or the excess ignored.
const (
	maxSteeringManifestBytes = 64 << 10 // a real one is a few hundred bytes
	maxSteeringTTL           = 86400    // seconds
	maxPathways              = 64
	maxReloadURILen          = 2048
)

// steeringManifest is a validated HLS Content Steering manifest (rfc8216bis section 7.1).
type steeringManifest struct {
	TTL      int            // seconds, 0..maxSteeringTTL
	Reload   string         // RELOAD-URI: "" or a reference whose scheme, if any, is http or https
	Priority []string       // 1..maxPathways valid pathway IDs, no duplicates
	Clones   []pathwayClone // valid entries only, at most maxPathways
}

// pathwayClone is a PATHWAY-CLONES entry with valid IDs and bounded URI-REPLACEMENT fields.
// What the replacement does to each URI is cloneURI's business, exactly as hls.js does it.
type pathwayClone struct {
	BaseID, ID string
	Host       string            // HOST: the new host name ("" none)
	Params     map[string]string // PARAMS: query parameters set on each URI
	PerVariant map[string]string // PER-VARIANT-URIS: whole URIs by STABLE-VARIANT-ID
}

// Bounds on a clone's URI-REPLACEMENT; a clone past them is dropped.
const (
	maxCloneEntries = 256  // PARAMS or PER-VARIANT-URIS entries
	maxCloneString  = 2048 // a HOST, key or value
)

// parseSteeringManifest decodes and validates a steering manifest. It refuses what a client
// cannot use (not JSON, VERSION other than 1, TTL out of 0..86400, no usable pathway) and
// drops what it can ignore: pathway IDs with characters outside [A-Za-z0-9._-], clones with
// such IDs or an oversized URI-REPLACEMENT, a RELOAD-URI with another scheme than http or
// https.
func parseSteeringManifest(b []byte) (steeringManifest, error) {
	var m steeringManifest
	if len(b) > maxSteeringManifestBytes {
		return m, fmt.Errorf("steering manifest: %d bytes, more than %d", len(b), maxSteeringManifestBytes)
	}
	var raw struct {
		Version  *int     `json:"VERSION"`
		TTL      *int     `json:"TTL"`
		Reload   string   `json:"RELOAD-URI"`
		Priority []string `json:"PATHWAY-PRIORITY"`
		Clones   []struct {
			BaseID string `json:"BASE-ID"`
			ID     string `json:"ID"`
			URI    struct {
				Host       string            `json:"HOST"`
				Params     map[string]string `json:"PARAMS"`
				PerVariant map[string]string `json:"PER-VARIANT-URIS"`
			} `json:"URI-REPLACEMENT"`
		} `json:"PATHWAY-CLONES"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return m, fmt.Errorf("steering manifest: %w", err)
	}
	switch {
	case raw.Version == nil || *raw.Version != 1:
		return m, errors.New("steering manifest: VERSION is not 1")
	case raw.TTL != nil && (*raw.TTL < 0 || *raw.TTL > maxSteeringTTL):
		return m, fmt.Errorf("steering manifest: TTL %d out of 0..%d", *raw.TTL, maxSteeringTTL)
	}
	if raw.TTL != nil {
		m.TTL = *raw.TTL
	}
	seen := map[string]bool{}
	for _, p := range raw.Priority {
		if validPathwayID(p) && !seen[p] && len(m.Priority) < maxPathways {
			seen[p] = true
			m.Priority = append(m.Priority, p)
		}
	}
	if len(m.Priority) == 0 {
		return steeringManifest{}, errors.New("steering manifest: no valid PATHWAY-PRIORITY")
	}
	for _, c := range raw.Clones {
		if len(m.Clones) < maxPathways && validPathwayID(c.BaseID) && validPathwayID(c.ID) &&
			len(c.URI.Host) <= maxCloneString && boundedMap(c.URI.Params) && boundedMap(c.URI.PerVariant) {
			m.Clones = append(m.Clones, pathwayClone{BaseID: c.BaseID, ID: c.ID, Host: c.URI.Host, Params: c.URI.Params, PerVariant: c.URI.PerVariant})
		}
	}
	if r := raw.Reload; r != "" && len(r) <= maxReloadURILen {
		if u, err := url.Parse(r); err == nil && (u.Scheme == "" || u.Scheme == "http" || u.Scheme == "https") {
			m.Reload = r
		}
	}
	return m, nil
}

// validPathwayID accepts 1 to 64 of PATHWAY-ID's characters, [A-Za-z0-9._-].
func validPathwayID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func boundedMap(m map[string]string) bool {
	if len(m) > maxCloneEntries {
		return false
	}
	for k, v := range m {
		if len(k) > maxCloneString || len(v) > maxCloneString {
			return false
		}
	}
	return true
}

// contentBase returns what a player puts before /vod/<title>/... to fetch from where a URL
// points: scheme://host, followed by the signed-path prefix /t/<token> when the URL's path
// starts with one. The URL is a variant URI (the prefix is what precedes /vod/) or a base
// itself. ok is false for a URL a player must not follow: not http or https, no host,
// userinfo, or a path before /vod/ that is not a token prefix.
func contentBase(raw string) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.Opaque != "" || u.Hostname() == "" {
		return "", false
	}
	p := u.EscapedPath()
	if i := strings.Index(p, "/vod/"); i >= 0 {
		p = p[:i]
	} else if p == "/" || !strings.HasPrefix(p, signing.PathPrefix) {
		p = "" // not a content path: the host's own /vod/
	}
	p = strings.TrimSuffix(p, "/")
	if p != "" && !validTokenPrefix(p) {
		return "", false
	}
	return u.Scheme + "://" + u.Host + p, true
}

// validTokenPrefix accepts /t/<token> with a token of signing's characters (base64url and ~).
func validTokenPrefix(p string) bool {
	tok, ok := strings.CutPrefix(p, signing.PathPrefix)
	if !ok || len(tok) == 0 || len(tok) > signing.MaxTokenLen {
		return false
	}
	for _, c := range []byte(tok) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '~') {
			return false
		}
	}
	return true
}
