// Package httprange parses HTTP Range headers (RFC 9110 section 14) and writes multipart/byteranges bodies.
package httprange

import (
	"errors"
	"slices"
	"strconv"
)

// MaxRanges caps the number of range specs accepted in one header. Without a
// cap a tiny request such as "bytes=0-,0-,0-,..." makes the server send the
// whole representation many times over (range amplification, RFC 9110
// section 17.15).
const MaxRanges = 16

var (
	// ErrUnsatisfiable reports a well-formed header none of whose ranges
	// overlaps the representation; the caller should answer 416 with
	// "Content-Range: bytes */size".
	ErrUnsatisfiable = errors.New("httprange: range not satisfiable")

	// ErrInvalid reports a header that does not follow the grammar (or asks
	// for more than MaxRanges ranges); RFC 9110 lets the server ignore such a
	// header, so the caller should serve the full representation with 200.
	ErrInvalid = errors.New("httprange: invalid range header")
)

// Range is a byte range [Start, Start+Length) resolved against a representation's size.
type Range struct{ Start, Length int64 }

// ContentRange returns the Content-Range value for r, for callers that need a
// string; the hot path should prefer AppendContentRange.
func (r Range) ContentRange(size int64) string {
	var buf [64]byte // "bytes " + three 19-digit numbers + "-/" fits
	return string(r.AppendContentRange(buf[:0], size))
}

// AppendContentRange appends the Content-Range value for r ("bytes 0-99/1000")
// to dst so that fasthttp callers can build the header without allocating.
func (r Range) AppendContentRange(dst []byte, size int64) []byte {
	dst = append(dst, "bytes "...)
	dst = strconv.AppendInt(dst, r.Start, 10)
	dst = append(dst, '-')
	dst = strconv.AppendInt(dst, r.Start+r.Length-1, 10)
	dst = append(dst, '/')
	return strconv.AppendInt(dst, size, 10)
}

// Parse parses a Range header value against size, appending ranges to dst (pass a stack array's [:0] to avoid allocation).
//
// An empty header yields dst unchanged and a nil error. Ranges are returned
// in request order and are not merged (see Coalesce). End positions past the
// representation are clamped, and specs starting at or beyond size are
// dropped as long as at least one spec is satisfiable; otherwise the result
// is ErrUnsatisfiable. Any syntax error, reversed range, number that does not
// fit in an int64 or more than MaxRanges specs yields ErrInvalid, which takes
// precedence over ErrUnsatisfiable because an unparsable header must be
// ignored rather than answered with 416. A negative size is treated as 0.
// On error the returned slice is dst with nothing appended.
func Parse(dst []Range, header []byte, size int64) ([]Range, error) {
	orig := len(dst)
	h := trimOWS(header)
	if len(h) == 0 {
		return dst, nil
	}
	if size < 0 {
		size = 0
	}
	// Range units are case-insensitive (RFC 9110 section 14.1), so "Bytes=" from
	// odd clients must not fall back to a full 200.
	if len(h) < 6 || h[5] != '=' || !isBytesUnit(h[:5]) {
		return dst[:orig], ErrInvalid
	}
	h = h[6:]

	specs := 0
	for more := true; more; {
		var spec []byte
		spec, h, more = cutByte(h, ',')
		spec = trimOWS(spec)
		if len(spec) == 0 {
			// The list syntax (RFC 9110 section 5.6.1) requires recipients
			// to accept empty elements such as "0-1,,2-3".
			continue
		}
		specs++
		if specs > MaxRanges {
			return dst[:orig], ErrInvalid
		}

		first, last, ok := cutByte(spec, '-')
		if !ok {
			return dst[:orig], ErrInvalid
		}
		// Like net/http, tolerate blanks around '-' ("0 - 1"); being strict
		// here would only make us send 200s to clients that meant well.
		first, last = trimOWS(first), trimOWS(last)

		if len(first) == 0 { // suffix-range "-N"
			n, ok := parseUint(last)
			if !ok {
				return dst[:orig], ErrInvalid
			}
			if n == 0 || size == 0 {
				continue // unsatisfiable spec
			}
			n = min(n, size)
			dst = append(dst, Range{Start: size - n, Length: n})
			continue
		}

		start, ok := parseUint(first)
		if !ok {
			return dst[:orig], ErrInvalid
		}
		end := size - 1
		if len(last) > 0 {
			l, ok := parseUint(last)
			if !ok || l < start {
				return dst[:orig], ErrInvalid
			}
			end = min(l, end)
		}
		if start >= size {
			continue // unsatisfiable spec
		}
		dst = append(dst, Range{Start: start, Length: end - start + 1})
	}

	if specs == 0 { // "bytes=" or "bytes=,,"
		return dst[:orig], ErrInvalid
	}
	if len(dst) == orig {
		return dst, ErrUnsatisfiable
	}
	return dst, nil
}

// Coalesce sorts and merges overlapping or adjacent ranges in place (RFC 9110 recommends against serving overlapping ranges); returns the merged slice.
//
// Merging adjacent ranges too keeps multipart responses to the fewest parts,
// and sorting lets clients that only handle ascending parts work. Empty
// ranges are dropped because they cannot be expressed in a Content-Range.
// The ranges must come from Parse (non-negative, within int64).
func Coalesce(rs []Range) []Range {
	if len(rs) < 2 {
		if len(rs) == 1 && rs[0].Length <= 0 {
			return rs[:0]
		}
		return rs
	}
	// slices.SortFunc, unlike sort.Slice, does not allocate.
	slices.SortFunc(rs, func(a, b Range) int {
		switch {
		case a.Start < b.Start:
			return -1
		case a.Start > b.Start:
			return 1
		}
		return 0
	})
	out := rs[:0]
	for _, r := range rs {
		if r.Length <= 0 {
			continue
		}
		if n := len(out); n > 0 {
			cur := &out[n-1]
			// Subtracting starts (both non-negative) cannot overflow,
			// whereas cur.Start+cur.Length near MaxInt64 could.
			if r.Start-cur.Start <= cur.Length {
				cur.Length = max(cur.Length, r.Start-cur.Start+r.Length)
				continue
			}
		}
		out = append(out, r)
	}
	return out
}

// isBytesUnit reports whether b is "bytes" in any case, without the
// allocation a bytes.ToLower would cost.
func isBytesUnit(b []byte) bool {
	const unit = "bytes"
	if len(b) != len(unit) {
		return false
	}
	for i := range len(unit) {
		// OR-ing 0x20 folds ASCII upper case onto lower case; no other
		// byte maps onto these letters.
		if b[i]|0x20 != unit[i] {
			return false
		}
	}
	return true
}

// parseUint parses a non-empty run of ASCII digits. strconv.ParseInt is not
// used because it would need a string conversion and accepts a sign.
func parseUint(b []byte) (int64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	const maxInt64 = 1<<63 - 1
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := int64(c - '0')
		if n > (maxInt64-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

// cutByte is bytes.Cut for a single byte, kept local so the hot loop does
// not depend on the inliner seeing through a []byte separator.
func cutByte(b []byte, sep byte) (before, after []byte, found bool) {
	for i, c := range b {
		if c == sep {
			return b[:i], b[i+1:], true
		}
	}
	return b, nil, false
}

// trimOWS strips the optional whitespace (SP and HTAB) that RFC 9110 allows
// around list elements.
func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}
