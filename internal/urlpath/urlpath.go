// Package urlpath turns the raw path of a request into the clean form edgecdn serves and caches
// by, refusing every trick that could reach outside the content tree.
package urlpath

import (
	"errors"
	"unicode/utf8"
)

// MaxLen bounds the raw path; anything longer is refused before it is looked at.
const MaxLen = 1024

var (
	// ErrTooLong: the raw path is over MaxLen bytes (answer 414).
	ErrTooLong = errors.New("urlpath: path too long")
	// ErrBad: the path is malformed or tries to escape (answer 400).
	ErrBad = errors.New("urlpath: bad path")
)

// Clean appends to dst the clean form of the raw request path (without the query): percent
// escapes decoded once, and refused when it has "." or ".." segments, empty segments, a
// backslash, NUL or any control byte, a '%' left after decoding (double encoding), an encoded
// '?' or '#', invalid UTF-8, or no leading slash. A path that passes is safe to join under a content root as is.
// Clean does not allocate when dst has room.
func Clean(dst, raw []byte) ([]byte, error) {
	if len(raw) > MaxLen {
		return dst, ErrTooLong
	}
	if len(raw) == 0 || raw[0] != '/' {
		return dst, ErrBad
	}
	start := len(dst)
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c == '%' {
			if i+2 >= len(raw) {
				return dst[:start], ErrBad
			}
			hi, ok1 := unhex(raw[i+1])
			lo, ok2 := unhex(raw[i+2])
			if !ok1 || !ok2 {
				return dst[:start], ErrBad
			}
			c = hi<<4 | lo
			i += 2
		}
		// '?' and '#' can only arrive percent-encoded here; decoded, they would make the path
		// read as a path plus a query (or fragment) downstream: a cache key collision.
		if c < 0x20 || c == 0x7f || c == '\\' || c == '%' || c == '?' || c == '#' {
			return dst[:start], ErrBad
		}
		dst = append(dst, c)
	}
	p := dst[start:]
	if !utf8.Valid(p) {
		return dst[:start], ErrBad
	}
	// Check every segment between slashes.
	segStart := 1
	for i := 1; i <= len(p); i++ {
		if i < len(p) && p[i] != '/' {
			continue
		}
		seg := p[segStart:i]
		if len(seg) == 0 && i < len(p) || string(seg) == "." || string(seg) == ".." {
			return dst[:start], ErrBad
		}
		segStart = i + 1
	}
	return dst, nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
