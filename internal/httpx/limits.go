package httpx

import (
	"bytes"
	"errors"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
)

// ReadBufferSize bounds a request's line and header block; a longer one gets 414 (the request
// line alone is longer than the first 200 bytes fasthttp reports) or 431.
const ReadBufferSize = 8 << 10

// Lingering close of a refused request head: how much of what the client still sends is read,
// and for how long, so that closing does not reset the connection before the client has read
// the answer (a close with unread data sends RST, and the client loses the status).
const (
	lingerBytes = 4 << 20
	lingerTime  = 2 * time.Second
	lingerIdle  = 50 * time.Millisecond
)

var (
	http11 = []byte("HTTP/1.1")
	http10 = []byte("HTTP/1.0")
)

// checkVersion answers 505 to a request line whose HTTP version is neither 1.1 nor 1.0 (RFC
// 9110, 15.6.6): fasthttp would answer it as HTTP/1.1.
func checkVersion(next fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		if p := ctx.Request.Header.Protocol(); !bytes.Equal(p, http11) && !bytes.Equal(p, http10) {
			ctx.SetConnectionClose()
			Fail(ctx, fasthttp.StatusHTTPVersionNotSupported, "HTTP version not supported: HTTP/1.1 or HTTP/1.0")
			return
		}
		next(ctx)
	}
}

// requestError answers a request fasthttp could not read (fasthttp.Server.ErrorHandler; fasthttp
// closes the connection after it): 414 or 431 for a request head above ReadBufferSize, read to
// its end first so that the client gets the status; 408 for a timeout; 400 otherwise.
func requestError(ctx *fasthttp.RequestCtx, err error) {
	var small *fasthttp.ErrSmallBuffer
	var ne net.Error
	switch {
	case errors.As(err, &small):
		linger(ctx.Conn())
		if requestLineTooLong(err) {
			Fail(ctx, fasthttp.StatusRequestURITooLong, "request line too long")
		} else {
			Fail(ctx, fasthttp.StatusRequestHeaderFieldsTooLarge, "request header fields too large")
		}
	case errors.As(err, &ne) && ne.Timeout():
		Fail(ctx, fasthttp.StatusRequestTimeout, "request timeout")
	default:
		Fail(ctx, fasthttp.StatusBadRequest, "bad request")
	}
}

// requestLineTooLong reports whether a fasthttp small-buffer error shows a buffer whose first
// line has no end: fasthttp's message quotes the first 200 bytes of the buffer (the whole of it
// when short) after "contents: ".
func requestLineTooLong(err error) bool {
	msg := err.Error()
	i := strings.Index(msg, "contents: ")
	if i < 0 {
		return false
	}
	q, qerr := strconv.QuotedPrefix(msg[i+len("contents: "):])
	if qerr != nil {
		return false
	}
	first, qerr := strconv.Unquote(q)
	return qerr == nil && !strings.Contains(first, "\n")
}

// linger reads and drops what the client is still sending, up to lingerBytes or lingerTime,
// until it pauses for lingerIdle.
func linger(c net.Conn) {
	if c == nil {
		return
	}
	end := time.Now().Add(lingerTime)
	buf := make([]byte, 32<<10)
	for n := 0; n < lingerBytes; {
		d := time.Now().Add(lingerIdle)
		if d.After(end) {
			d = end
		}
		c.SetReadDeadline(d)
		k, err := c.Read(buf)
		n += k
		if err != nil {
			break
		}
	}
	c.SetReadDeadline(time.Time{})
}
