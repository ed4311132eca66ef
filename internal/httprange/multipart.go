package httprange

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
)

// Multipart is a multipart/byteranges body (RFC 9110 section 14.6) whose
// framing is computed up front, so that the exact Content-Length is known
// before any content is read and the response need not be chunked.
type Multipart struct {
	ranges      []Range
	contentType string // header value for the whole response
	head        []byte // all part headers, back to back
	headEnd     []int  // head[headEnd[i-1]:headEnd[i]] precedes ranges[i]
	tail        []byte // closing delimiter
	length      int64
}

// NewMultipart prepares a multipart/byteranges body for rs (as returned by
// Parse, ideally after Coalesce) of a representation of size bytes.
//
// contentType is repeated in every part, as RFC 9110 asks, and omitted when
// empty. The boundary is derived by hashing boundary (typically the ETag),
// which keeps responses for the same representation byte-identical, and so
// cacheable and testable, while turning any string (quotes, W/ prefixes)
// into a valid RFC 2046 boundary that is unlikely to occur in the content.
//
// RFC 9110 forbids a multipart answer to a single-range request, so callers
// should use it only when the request had several ranges.
func NewMultipart(rs []Range, size int64, contentType, boundary string) *Multipart {
	sum := sha256.Sum256([]byte(boundary))
	b := hex.EncodeToString(sum[:16])
	ct := sanitizeHeaderValue(contentType)

	m := &Multipart{
		// Copied because callers typically pass a slice of a stack buffer.
		ranges:      append([]Range(nil), rs...),
		contentType: "multipart/byteranges; boundary=" + b,
		headEnd:     make([]int, len(rs)),
	}
	var head []byte
	for i, r := range rs {
		if i > 0 {
			// The CRLF before a delimiter belongs to the delimiter
			// (RFC 2046 section 5.1.1), so the content bytes stay exact.
			head = append(head, "\r\n"...)
		}
		head = append(head, "--"...)
		head = append(head, b...)
		head = append(head, "\r\n"...)
		if ct != "" {
			head = append(head, "Content-Type: "...)
			head = append(head, ct...)
			head = append(head, "\r\n"...)
		}
		head = append(head, "Content-Range: "...)
		head = r.AppendContentRange(head, size)
		head = append(head, "\r\n\r\n"...)
		m.headEnd[i] = len(head)
		m.length += r.Length
	}
	m.head = head
	m.tail = []byte("\r\n--" + b + "--\r\n")
	m.length += int64(len(m.head) + len(m.tail))
	return m
}

// ContentType returns the Content-Type header value for the response,
// including the boundary parameter the client needs to split the body.
func (m *Multipart) ContentType() string { return m.contentType }

// Len returns the exact body length, so the caller can send Content-Length
// instead of chunking (which fasthttp would otherwise have to do).
func (m *Multipart) Len() int64 { return m.length }

// WriteTo writes the body, reading each range from content, and must write
// exactly Len() bytes. A content shorter than the size given to NewMultipart
// yields io.ErrUnexpectedEOF, since Content-Length has already been promised
// and the caller has to abort the connection rather than finish the response.
//
// The extra content argument deliberately keeps Multipart from implementing
// io.WriterTo: it holds no reference to the content, so it can be built before
// the content is opened.
func (m *Multipart) WriteTo(w io.Writer, content io.ReaderAt) (int64, error) {
	var total int64
	prev := 0
	for i, r := range m.ranges {
		n, err := w.Write(m.head[prev:m.headEnd[i]])
		total += int64(n)
		if err != nil {
			return total, err
		}
		prev = m.headEnd[i]

		// io.Copy lets w use ReadFrom (sendfile for *os.File into a socket).
		c, err := io.Copy(w, io.NewSectionReader(content, r.Start, r.Length))
		total += c
		if err != nil {
			return total, err
		}
		if c != r.Length {
			return total, io.ErrUnexpectedEOF
		}
	}
	n, err := w.Write(m.tail)
	total += int64(n)
	return total, err
}

// sanitizeHeaderValue drops control characters so that a Content-Type taken
// from an upstream response cannot inject extra part headers via CR or LF.
func sanitizeHeaderValue(s string) string {
	clean := true
	for i := range len(s) {
		if c := s[i]; (c < ' ' && c != '\t') || c == 0x7f {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := range len(s) {
		if c := s[i]; (c >= ' ' || c == '\t') && c != 0x7f {
			b = append(b, c)
		}
	}
	return string(b)
}
