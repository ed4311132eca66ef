package httpx

import (
	"net"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

// A client's keep-alive connection costs Go's poller two read(2) calls per request: after the
// response is written, fasthttp's connection loop reads for the next request at once, finds
// nothing yet (EAGAIN), parks, and reads again when the poller says the socket is readable.
// ClientListener's connections save the first: when a server has a whole response in memory
// and says so (ArmLastWrite), the write of that response is made from inside RawConn.Read,
// which then waits for the socket to become readable (the client's next request) without
// trying a read first, and the read that follows finds the request. The readiness the next
// request brings comes after the poller's state was reset (RawConn.Read resets it before
// calling step), so it cannot be missed; a request that was already on its way (a client
// pipelining requests) can be, and the wait is bounded by NextRequestWait for that case, after
// which the connection goes on as before.

// NextRequestWait bounds the wait for a client's next request after a response written from
// inside it: longer than most clients' round trip, so that a player asking for the next object
// at once (a segment after its playlist, a burst that fills the buffer) comes within it; short
// enough that a pipelining client whose next request was missed waits little and a shutdown is
// not held up (a connection waiting here is not idle to fasthttp).
const NextRequestWait = 250 * time.Millisecond

// ClientListener hands out its TCP connections as clientConns, whose writes ArmLastWrite can
// arm. Their ReadFrom still splices and their SyscallConn is the TCP connection's. An armed
// write leaves a read deadline NextRequestWait after it on the connection: the server must set
// its own before each request, as fasthttp does with a ReadTimeout or IdleTimeout (NewServer
// always sets both). NotsentLowat, when above 0, is set on each connection (SetNotsentLowat).
type ClientListener struct {
	net.Listener
	NotsentLowat int64
}

// Accept returns the next connection.
func (l ClientListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c, nil
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return c, nil
	}
	if l.NotsentLowat > 0 {
		rc.Control(func(fd uintptr) { SetNotsentLowat(int(fd), l.NotsentLowat) })
	}
	cc := &clientConn{TCPConn: tc, rc: rc}
	cc.step = cc.stepFn
	return cc, nil
}

// clientConn is a client's TCP connection (its ReadFrom still splices) whose next Write, once
// armed, writes and then waits for the client's next request.
type clientConn struct {
	*net.TCPConn
	rc   syscall.RawConn
	step func(fd uintptr) bool // stepFn, bound once

	armed   bool // the next Write is a whole response: write and wait
	p, rest []byte
	wrote   bool
	werr    error
}

// ArmLastWrite tells ctx's connection (when it came from a ClientListener) that the response
// fasthttp is about to write is whole and the last thing written before the next request is
// read: a body in memory, set with SetBody or SetBodyRaw, not a body stream. Only a keep-alive
// HTTP/1.1 exchange is armed. A server that is stopping should not call it: a connection
// waiting for its next request is not idle to fasthttp's Shutdown (the wait is bounded by
// NextRequestWait all the same).
func ArmLastWrite(ctx *fasthttp.RequestCtx) {
	if c, ok := ctx.Conn().(*clientConn); ok && ctx.Request.Header.IsHTTP11() &&
		!ctx.Request.Header.ConnectionClose() && !ctx.Response.ConnectionClose() {
		c.armed = true
	}
}

// armMax is the largest write that may be armed: fasthttp's write buffer (64 KiB, httpx)
// flushes a full buffer mid-response, with more to come, and such a write must not wait.
const armMax = 32 << 10

func (c *clientConn) Write(p []byte) (int, error) {
	if !c.armed || len(p) >= armMax {
		c.armed = false
		return c.TCPConn.Write(p)
	}
	c.armed = false
	if err := c.TCPConn.SetReadDeadline(time.Now().Add(NextRequestWait)); err != nil {
		return c.TCPConn.Write(p)
	}
	c.p, c.rest, c.wrote, c.werr = p, nil, false, nil
	c.rc.Read(c.step) // its error (the wait timed out, the client left) is for the next read to find
	c.p = nil
	switch {
	case !c.wrote:
		return c.TCPConn.Write(p) // RawConn.Read failed before calling step
	case c.werr != nil:
		return len(p) - len(c.rest), c.werr
	case c.rest != nil:
		// The socket's send buffer was full (a slow client): the rest goes the ordinary way,
		// under the write deadline.
		rest := c.rest
		c.rest = nil
		n, err := c.TCPConn.Write(rest)
		return len(p) - len(rest) + n, err
	}
	return len(p), nil
}

// stepFn is RawConn.Read's function: the first call writes the response and asks to wait for
// the socket to be readable; the next one returns at once, the request now there to read.
func (c *clientConn) stepFn(fd uintptr) bool {
	if c.wrote {
		return true
	}
	c.wrote = true
	var done bool
	c.rest, done, c.werr = WriteFD(fd, c.p)
	return !done
}

// WriteFD writes p to a non-blocking socket from inside a RawConn's function: done when all of
// it went; else rest is what did not, because the send buffer was full (err nil: the rest goes
// the ordinary way) or because of err.
func WriteFD(fd uintptr, p []byte) (rest []byte, done bool, err error) {
	for len(p) > 0 {
		m, err := syscall.Write(int(fd), p)
		switch err {
		case nil:
			p = p[m:]
		case syscall.EINTR:
		default: // EAGAIN: the send buffer is full
			if err == syscall.EAGAIN {
				err = nil
			}
			return p, false, err
		}
	}
	return nil, true, nil
}
