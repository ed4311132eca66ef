package player

import (
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"edgecdn/internal/steerapi"
)

// cloneURI makes a cloned pathway's URI from one of its base pathway's variant URIs
// (absolute), as hls.js 1.7's performUriReplacement does (content-steering-controller.ts):
// a PER-VARIANT-URIS entry for the variant's STABLE-VARIANT-ID is the whole new URI, as given;
// otherwise HOST replaces the URI's host name the way a browser's `url.hostname = HOST` does
// (setHostname: the port stays, and a HOST with a port changes nothing at all), then each
// PARAMS entry, in key order, sets a query parameter. ok is false when uri does not parse.
func cloneURI(uri, stableID string, c steerapi.URIReplacement) (string, bool) {
	if stableID != "" {
		if u := c.PerVariantURIs[stableID]; u != "" {
			return u, true
		}
	}
	u, err := url.Parse(uri)
	if err != nil || u.Scheme == "" {
		return "", false
	}
	if c.Host != "" {
		setHostname(u, c.Host)
	}
	keys := make([]string, 0, len(c.Params))
	for k := range c.Params {
		if k != "" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		setQueryParam(u, k, c.Params[k])
	}
	return u.String(), true
}

// setHostname sets the host name of an http(s) URL as the WHATWG URL standard's hostname setter
// does: tabs and newlines are removed; the value ends at the first '/', '?', '#' or '\'; a ':'
// outside brackets (a port), an empty value or a host that does not parse changes nothing;
// the port stays. Hosts are lower-cased, IPv4 addresses in any of the standard's notations
// (0x7f.1, 2130706433) are written dotted, IPv6 ones compressed. Not done: IDNA (a non-ASCII
// host changes nothing here), percent-decoding of host names (one with '%' changes nothing), and
// host names with characters beyond letters, digits, '-', '_' and '.' (they change nothing).
func setHostname(u *url.URL, host string) {
	host = strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || r == '\r' {
			return -1
		}
		return r
	}, host)
	inBrackets := false
	end := len(host)
scan:
	for i := 0; i < len(host); i++ {
		switch c := host[i]; {
		case c == '[':
			inBrackets = true
		case c == ']':
			inBrackets = false
		case c == ':' && !inBrackets:
			return
		case c == '/' || c == '?' || c == '#' || c == '\\':
			end = i
			break scan
		}
	}
	h, ok := parseHost(host[:end])
	if !ok {
		return
	}
	if p := u.Port(); p != "" {
		h += ":" + p
	}
	u.Host = h
}

// parseHost is the WHATWG host parser for special schemes, without IDNA and percent-decoding.
func parseHost(s string) (string, bool) {
	if s == "" {
		return "", false
	}
	if s[0] == '[' {
		if len(s) < 3 || s[len(s)-1] != ']' {
			return "", false
		}
		a, err := netip.ParseAddr(s[1 : len(s)-1])
		if err != nil || !a.Is6() || a.Zone() != "" {
			return "", false
		}
		return "[" + a.String() + "]", true
	}
	// The standard forbids fewer characters ("#%/:<>?@[\]^|", controls and space; IDNA maps
	// the rest); a player resolves names through DNS, so here a host name is letters, digits,
	// '-', '_' and '.', and anything else changes nothing.
	s = strings.ToLower(s)
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return "", false
		}
	}
	if endsInNumber(s) {
		return parseIPv4(s)
	}
	return s, true
}

// endsInNumber reports whether a host's last label (a trailing dot aside) is a number, which
// makes the whole host an IPv4 address or invalid.
func endsInNumber(s string) bool {
	labels := strings.Split(s, ".")
	if labels[len(labels)-1] == "" {
		if len(labels) == 1 {
			return false
		}
		labels = labels[:len(labels)-1]
	}
	last := labels[len(labels)-1]
	if last != "" && strings.Trim(last, "0123456789") == "" {
		return true
	}
	_, ok := ipv4Number(last)
	return ok
}

// parseIPv4 is the WHATWG IPv4 parser: one to four numbers (decimal, 0x hex, 0 octal), the
// last filling the remaining bytes.
func parseIPv4(s string) (string, bool) {
	parts := strings.Split(s, ".")
	if parts[len(parts)-1] == "" && len(parts) > 1 {
		parts = parts[:len(parts)-1]
	}
	if len(parts) > 4 {
		return "", false
	}
	var nums []uint64
	for _, p := range parts {
		n, ok := ipv4Number(p)
		if !ok {
			return "", false
		}
		nums = append(nums, n)
	}
	for _, n := range nums[:len(nums)-1] {
		if n > 255 {
			return "", false
		}
	}
	last := nums[len(nums)-1]
	if last >= 1<<(8*(5-len(nums))) {
		return "", false
	}
	v := last
	for i, n := range nums[:len(nums)-1] {
		v += n << (8 * (3 - i))
	}
	return strconv.Itoa(int(v>>24)) + "." + strconv.Itoa(int(v>>16&255)) + "." + strconv.Itoa(int(v>>8&255)) + "." + strconv.Itoa(int(v&255)), true
}

func ipv4Number(s string) (uint64, bool) {
	if s == "" {
		return 0, false
	}
	base := 10
	switch {
	case len(s) >= 2 && (s[:2] == "0x" || s[:2] == "0X"):
		s, base = s[2:], 16
		if s == "" {
			return 0, true
		}
	case len(s) >= 2 && s[0] == '0':
		s, base = s[1:], 8
	}
	n, err := strconv.ParseUint(s, base, 32)
	if err != nil {
		return 0, false
	}
	return n, true
}

// setQueryParam sets key=value in u's query as hls.js's setQueryParam does: the pair is
// component-encoded, an existing key is replaced in place (its duplicates dropped), and the
// rest of the query is left byte for byte.
func setQueryParam(u *url.URL, key, value string) {
	ek := encodeURIComponent(key)
	param := ek + "=" + encodeURIComponent(value)
	replaced := false
	var params []string
	for _, p := range strings.Split(u.RawQuery, "&") {
		switch {
		case p == ek || strings.HasPrefix(p, ek+"="):
			if !replaced {
				params = append(params, param)
				replaced = true
			}
		case p != "":
			params = append(params, p)
		}
	}
	if !replaced {
		params = append(params, param)
	}
	u.RawQuery = strings.Join(params, "&")
	u.ForceQuery = false
}

// encodeURIComponent escapes as JavaScript's function of that name: all but
// A-Z a-z 0-9 - _ . ! ~ * ' ( ).
func encodeURIComponent(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for _, c := range []byte(s) {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-_.!~*'()", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}
