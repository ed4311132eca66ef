package player

import (
	"net/url"
	"strings"

	"edgecdn/internal/signing"
)

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
