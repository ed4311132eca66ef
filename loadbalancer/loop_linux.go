package loadbalancer

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"

	"edgecdn/internal/evloop"
	"edgecdn/internal/httpx"
)

// The event loop engine (the default on Linux in proxy mode) serves the client port as HAProxy
// and nginx do: --loops loops (evloop.DefaultLoops), each an epoll instance whose goroutine reads a socket only
// after epoll said it is readable, with non-blocking system calls made without Go's poller and
// no goroutine per connection or per request. A request is a state of its client connection;
// the edge connections a loop opens are its own, kept idle in its own pool per edge. A body
// longer than what came with the response head goes from the edge's socket to the client's
// with splice(2) through a pipe, never through the balancer's memory.
//
// Only the hot path runs here: a GET or HEAD of a content path (forwardRequest), answered by an
// edge with a Content-Length. Anything else — the probes, OPTIONS, other methods, HTTP/1.0, a
// malformed or oversized head — hands the connection to the fasthttp server as it stands (what
// was read of it included), which serves it from then on as the goroutine engine does; so does
// a response without Content-Length (read whole, as the goroutine engine reads it).

const (
	clientBuffer = httpx.ReadBufferSize // a request head longer than this goes to fasthttp (431/414)
	pipeSize     = 1 << 20              // F_SETPIPE_SZ of a loop's pipes: a segment in few splices
	spliceMove   = 1                    // SPLICE_F_MOVE
	spliceNonblk = 2                    // SPLICE_F_NONBLOCK
	fSetPipeSz   = 1031                 // F_SETPIPE_SZ
)

// A client connection's states.
const (
	cReading   = iota // waiting for (the rest of) a request head
	cWaiting          // the request went to an edge, or is going; waiting for its answer's head
	cWriting          // writing an answer held in memory (out)
	cStreaming        // writing out, then splicing the body's rest from the edge
)

type lconn struct {
	fd     int
	client bool

	// A client connection.
	state      int
	in         []byte // what was read and not yet used: a request head, or its start
	out        []byte // what is to be written
	outOff     int
	ip         []byte // the client's address, as X-Forwarded-For carries it
	info       reqInfo
	fwd        []byte // the request head as sent to an edge
	originBuf  []byte // the request's Origin, kept past the head's bytes
	edge       *lconn // the edge connection of the request under way
	left       int64  // body bytes still to splice from edge
	tried      [maxAttempts]*upstream
	ntried     int
	lastErr    error
	lastStatus int
	start      time.Time
	u          *upstream

	// An edge connection.
	pool       *edgeConns
	owner      *lconn // the client connection whose request it carries; nil when idle
	connecting bool
	reused     bool
	fresh      bool // a retry on a new connection after a stale one
	wOff       int  // how much of owner.fwd was written
	buf        []byte
	bufN       int
	pipe       *lpipe
	keep       bool

	deadline time.Time // zero: none
	// rd: the socket may have something to read. It is set by every readable event and cleared
	// by a read that did not fill its buffer (TCP then had no more) or found nothing, so that a
	// read is tried only where something is to be read: after a request is answered, the next
	// one is read only when it arrived during the answer; after a request is sent, its answer
	// is read when epoll says it came.
	rd bool
}

type lpipe struct {
	r, w int
	n    int // bytes in it
}

type loop struct {
	*evloop.Loop[*lconn]
	s       *Server
	idle    map[*edgeConns][]*lconn
	pipes   []*lpipe
	origins httpx.CORSOrigins
}

// loops is the event loop engine of a Server.
type loops = evloop.Engine[*lconn]

// serveLoops serves ln with the event loop engine; served false means ln is not one the engine
// can take (not a TCP listener) and the caller serves it with fasthttp.
func (s *Server) serveLoops(ln net.Listener) (served bool, err error) {
	origins, err := httpx.NewCORSOrigins(s.cfg.CORSOrigins) // nil (any origin) for none listed
	if err != nil {
		return true, err
	}
	n := s.cfg.Loops
	if n == 0 {
		n = evloop.DefaultLoops() // one per P, as the edge; why: README.md, "One loop per P"
	}
	for i := range n {
		s.set.GetOrCreateGauge(fmt.Sprintf(`edgecdn_lb_loop_connections{loop="%d"}`, i), func() float64 { return float64(s.loops.Connections(i)) })
	}
	s.loops.NotsentLowat = s.cfg.NotsentLowat
	s.loops.YieldCPU = s.cfg.YieldCPU
	s.loops.OnYield = s.m.yields.Inc
	return s.loops.Serve(ln, n, s.log, "lb", func(el *evloop.Loop[*lconn]) evloop.Handler[*lconn] {
		return &loop{Loop: el, s: s, idle: map[*edgeConns][]*lconn{}, origins: origins}
	}, s.srv.Serve)
}

// stopLoops stops the loops: evloop.Engine.Stop.
func (s *Server) stopLoops(ctx context.Context) error { return s.loops.Stop(ctx) }

// Event is a readiness event of one of the loop's connections.
func (l *loop) Event(c *lconn, ev uint32) {
	if c.client {
		l.clientEvent(c, ev)
	} else {
		l.edgeEvent(c, ev)
	}
}

// Expire closes connections past their deadline; stopping, it closes idle client connections
// and reports whether none is left (the loop may end).
func (l *loop) Expire() bool {
	clients := 0
	stopping := l.Stopping()
	if l.s.loops.Killed() {
		// Stop's deadline passed: its shutdown(2) of every socket may have missed one the loop
		// opened meanwhile (a connection to an edge, as the kill came), which would hold a
		// request until its header timeout; cut what is left.
		for _, c := range l.Conns() {
			switch {
			case c.client:
				l.closeClient(c) // and the edge connection of its request
			case c.owner == nil:
				l.dropIdle(c) // out of the pool too
			}
		}
	}
	for _, c := range l.Conns() {
		if c.client {
			if stopping && c.state == cReading && len(c.in) == 0 {
				l.closeClient(c)
				continue
			}
			clients++
		}
		if c.deadline.IsZero() || l.Now.Before(c.deadline) {
			continue
		}
		switch {
		case c.client && c.state == cReading:
			l.closeClient(c) // idle, or a head begun and not finished: fasthttp closes it too
		case c.client && c.state == cWaiting:
			l.attemptFailed(c, errLoopTimeout)
		case c.client:
			l.abort(c) // a client or an edge that stopped taking or sending the body
		case c.owner == nil:
			l.dropIdle(c) // idle too long
		}
	}
	if stopping && clients == 0 {
		for _, c := range l.Conns() {
			l.closeEdge(c)
		}
		for _, p := range l.pipes {
			syscall.Close(p.r)
			syscall.Close(p.w)
		}
		return true
	}
	return false
}

// errLoopTimeout is an edge that did not answer within the header timeout.
var errLoopTimeout = timeoutError{}

type timeoutError struct{}

func (timeoutError) Error() string   { return "edge timed out" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

// Accept takes a new client connection.
func (l *loop) Accept(fd int, sa syscall.Sockaddr) {
	c := &lconn{fd: fd, client: true, in: make([]byte, 0, clientBuffer), rd: true}
	switch a := sa.(type) {
	case *syscall.SockaddrInet4:
		c.ip = appendIP(nil, a.Addr[:])
	case *syscall.SockaddrInet6:
		c.ip = appendIP(nil, a.Addr[:])
	}
	if !l.Register(fd, c) {
		syscall.Close(fd)
		return
	}
	c.deadline = l.Now.Add(httpx.DefaultIdleTimeout)
	l.readClient(c)
}

func (l *loop) closeClient(c *lconn) {
	if !l.Close(&c.fd) {
		return
	}
	if e := c.edge; e != nil {
		c.edge = nil
		e.owner = nil
		l.closeEdge(e)
	}
}

func (l *loop) clientEvent(c *lconn, ev uint32) {
	if ev&evloop.ReadableEvents != 0 {
		c.rd = true
	}
	switch c.state {
	case cReading:
		if ev&evloop.ReadableEvents != 0 {
			l.readClient(c)
		}
	case cWriting, cStreaming:
		if ev&(syscall.EPOLLOUT|syscall.EPOLLHUP|syscall.EPOLLERR) != 0 {
			l.flush(c)
		}
	}
}

// readClient reads what the client sent and starts the request when its head is whole.
func (l *loop) readClient(c *lconn) {
	for c.fd >= 0 && c.state == cReading {
		if i := evloop.HeadEnd(c.in); i >= 0 {
			l.request(c, i)
			continue
		}
		if len(c.in) == cap(c.in) {
			l.handoff(c) // a head longer than the buffer: fasthttp answers 431 or 414
			return
		}
		var n int
		var err error = syscall.EAGAIN
		if c.rd {
			n, err = evloop.RawRead(c.fd, c.in[len(c.in):cap(c.in)])
		}
		switch {
		case err == syscall.EAGAIN:
			// The deadline is not renewed here: the idle one runs from the last answer (or
			// the accept), the head's from its first byte, however the client dribbles.
			c.rd = false
			return
		case err == syscall.EINTR:
		case err != nil || n == 0:
			l.closeClient(c)
			return
		default:
			if n < cap(c.in)-len(c.in) {
				c.rd = false
			}
			if len(c.in) == 0 {
				c.deadline = l.Now.Add(httpx.DefaultReadTimeout) // a head begins: whole within the read timeout
			}
			c.in = c.in[:len(c.in)+n]
		}
	}
}

// request starts the request whose head is c.in[:n].
func (l *loop) request(c *lconn, n int) {
	s := l.s
	var ok bool
	c.fwd, c.info, ok = forwardRequest(c.fwd[:0], c.in[:n], c.ip, s.via)
	if !ok {
		l.handoff(c)
		return
	}
	c.originBuf = append(c.originBuf[:0], c.info.origin...)
	c.info.origin = c.originBuf
	// What follows the head (a pipelined request) waits in c.in.
	c.in = c.in[:copy(c.in, c.in[n:])]
	c.state = cWaiting
	c.ntried, c.lastErr, c.lastStatus = 0, nil, 0
	l.attempt(c)
}

// attempt sends c's request to the next edge, or answers the failure when none is left.
func (l *loop) attempt(c *lconn) {
	s := l.s
	if c.ntried >= s.cfg.Attempts {
		l.fail(c)
		return
	}
	u := s.pick(c.tried[:c.ntried])
	if u == nil || s.loops.Killed() {
		l.fail(c)
		return
	}
	c.tried[c.ntried] = u
	c.ntried++
	if c.ntried > 1 {
		s.m.retries.Inc()
	}
	c.u, c.start = u, l.Now
	l.send(c, false)
}

// send sends c's request to c.u on an idle connection of this loop's or a new one (fresh: a new
// one, after an idle one turned out closed by the edge).
func (l *loop) send(c *lconn, fresh bool) {
	u := c.u
	e, err := l.edgeConn(u.conns, fresh)
	if err != nil {
		u.m.requests.Inc()
		l.edgeFailed(c, err)
		return
	}
	e.owner, c.edge = c, e
	e.fresh, e.wOff, e.bufN = fresh, 0, 0
	if e.connecting {
		c.deadline = l.Now.Add(l.s.cfg.ConnectTimeout)
		return
	}
	c.deadline = l.Now.Add(l.s.cfg.HeaderTimeout)
	l.writeEdge(e)
}

// edgeConn returns an idle connection to p of this loop's, or a new one (connecting).
func (l *loop) edgeConn(p *edgeConns, fresh bool) (*lconn, error) {
	idle := l.idle[p]
	for !fresh && len(idle) > 0 {
		e := idle[len(idle)-1]
		idle[len(idle)-1] = nil
		idle = idle[:len(idle)-1]
		l.idle[p] = idle
		if l.Now.Before(e.deadline) && !p.isClosed() {
			e.reused, e.deadline = true, time.Time{}
			return e, nil
		}
		l.closeEdge(e)
	}
	if len(idle) == 0 {
		delete(l.idle, p)
	}
	if err := p.reserve(); err != nil {
		return nil, err
	}
	sa, err := p.sockaddr()
	if err != nil {
		p.unreserve()
		return nil, err
	}
	family := syscall.AF_INET
	if _, ok := sa.(*syscall.SockaddrInet6); ok {
		family = syscall.AF_INET6
	}
	fd, err := syscall.Socket(family, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		p.unreserve()
		return nil, err
	}
	syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
	e := &lconn{fd: fd, pool: p, buf: make([]byte, edgeReadBuffer)}
	err = syscall.Connect(fd, sa)
	switch err {
	case nil:
	case syscall.EINPROGRESS:
		e.connecting = true
	default:
		syscall.Close(fd)
		p.unreserve()
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", err)}
	}
	if !l.Register(fd, e) {
		syscall.Close(fd)
		p.unreserve()
		return nil, errors.New("epoll_ctl failed")
	}
	return e, nil
}

// closeEdge closes an edge connection that will not be used again.
func (l *loop) closeEdge(e *lconn) {
	if !l.Close(&e.fd) {
		return
	}
	if e.pipe != nil {
		l.dropPipe(e.pipe)
		e.pipe = nil
	}
	e.pool.unreserve()
}

// putEdge gives back an edge connection whose response was read whole.
func (l *loop) putEdge(e *lconn) {
	e.owner = nil
	if !e.keep || e.pool.isClosed() || l.Stopping() {
		l.closeEdge(e)
		return
	}
	e.reused, e.bufN, e.connecting = false, 0, false
	e.deadline = l.Now.Add(edgeIdleFor) // idle: closed by expire, or not reused, after it
	if e.pipe != nil {
		l.putPipe(e.pipe)
		e.pipe = nil
	}
	l.idle[e.pool] = append(l.idle[e.pool], e)
}

func (l *loop) edgeEvent(e *lconn, ev uint32) {
	if ev&evloop.ReadableEvents != 0 {
		e.rd = true
	}
	c := e.owner
	if c == nil {
		// An idle connection that became readable: the edge closed it (or sent what it should
		// not have). Either way it is not used again.
		if ev&evloop.ReadableEvents != 0 {
			l.dropIdle(e)
		}
		return
	}
	switch {
	case e.connecting:
		if ev&(syscall.EPOLLOUT|syscall.EPOLLERR|syscall.EPOLLHUP) == 0 {
			return
		}
		e.connecting = false
		if errno, err := syscall.GetsockoptInt(e.fd, syscall.SOL_SOCKET, syscall.SO_ERROR); err != nil || errno != 0 {
			if err == nil {
				err = syscall.Errno(errno)
			}
			c.edge, e.owner = nil, nil
			l.closeEdge(e)
			c.u.m.requests.Inc()
			l.edgeFailed(c, &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", err)})
			return
		}
		c.deadline = l.Now.Add(l.s.cfg.HeaderTimeout)
		l.writeEdge(e)
	case e.wOff < len(c.fwd):
		l.writeEdge(e)
	case c.state == cWaiting:
		l.readEdge(e)
	case c.state == cStreaming:
		l.pump(c)
	}
}

// dropIdle closes an idle connection of this loop's pool.
func (l *loop) dropIdle(e *lconn) {
	idle := l.idle[e.pool]
	for i, x := range idle {
		if x == e {
			idle = append(idle[:i], idle[i+1:]...)
			break
		}
	}
	if len(idle) == 0 {
		delete(l.idle, e.pool)
	} else {
		l.idle[e.pool] = idle
	}
	l.closeEdge(e)
}

// writeEdge writes the request head to the edge, then waits for the answer.
func (l *loop) writeEdge(e *lconn) {
	c := e.owner
	switch err := evloop.WriteFrom(e.fd, c.fwd, &e.wOff); {
	case err == syscall.EAGAIN:
		return
	case err != nil:
		l.edgeLost(c, e, writeError{err})
		return
	}
	l.readEdge(e)
}

// readEdge reads the response head.
func (l *loop) readEdge(e *lconn) {
	c := e.owner
	for {
		if e.bufN == len(e.buf) {
			l.edgeLost(c, e, errors.New("edge response head too large"))
			return
		}
		if !e.rd {
			return
		}
		n, err := evloop.RawRead(e.fd, e.buf[e.bufN:])
		switch {
		case err == syscall.EAGAIN:
			e.rd = false
			return
		case err == syscall.EINTR:
			continue
		case err != nil || n == 0:
			if err == nil {
				err = errors.New("edge closed the connection")
			}
			l.edgeLost(c, e, err)
			return
		}
		if n < len(e.buf)-e.bufN {
			e.rd = false
		}
		e.bufN += n
		if i := evloop.HeadEnd(e.buf[:e.bufN]); i >= 0 {
			l.response(c, e, i)
			return
		}
	}
}

// edgeLost is an exchange that failed before its response head: a reused connection with
// nothing read was closed by the edge (stale) and the request goes again on a new one, once;
// anything else is the edge's failure.
func (l *loop) edgeLost(c *lconn, e *lconn, err error) {
	stale := e.reused && !e.fresh && e.bufN == 0
	c.edge, e.owner = nil, nil
	l.closeEdge(e)
	if stale {
		l.send(c, true)
		return
	}
	c.u.m.requests.Inc()
	l.edgeFailed(c, err)
}

// edgeFailed ejects c's edge and tries another.
func (l *loop) edgeFailed(c *lconn, err error) {
	c.u.m.errors.Inc()
	l.s.eject(c.u, err.Error())
	c.lastErr = err
	l.attempt(c)
}

// attemptFailed is the header timeout of c's exchange.
func (l *loop) attemptFailed(c *lconn, err error) {
	if e := c.edge; e != nil {
		c.edge, e.owner = nil, nil
		l.closeEdge(e)
	}
	c.u.m.requests.Inc()
	l.edgeFailed(c, err)
}

// response handles the edge's response head, e.buf[:n].
func (l *loop) response(c *lconn, e *lconn, n int) {
	s := l.s
	u := c.u
	ri, ok := parseResponse(e.buf[:n])
	u.m.requests.Inc()
	if !ok {
		l.edgeLost(c, e, errors.New("malformed response head from the edge"))
		return
	}
	e.keep = ri.keep
	body := int64(0)
	if !ri.bodyless(c.info.head) {
		body = ri.length
	}
	have := int64(e.bufN - n)
	if body == -2 || body == -1 {
		// Chunked, or up to the connection's end: rare from an edge, read whole by the
		// goroutine path.
		u.m.latency.Since(c.start)
		l.handoffResponse(c, e, n)
		return
	}
	if (ri.status == 502 || ri.status == 503 || ri.status == 504) && c.ntried < s.cfg.Attempts {
		u.m.errors.Inc()
		if ri.status == 503 {
			s.eject(u, "answered 503")
		}
		c.edge = nil
		if have == body {
			l.putEdge(e)
		} else {
			e.owner = nil
			l.closeEdge(e)
		}
		c.lastStatus = ri.status
		l.attempt(c)
		return
	}
	u.m.latency.Since(c.start)
	closeAfter := c.info.closeAfter || l.Stopping()
	c.out = clientHead(c.out[:0], e.buf[:n], l.Date(), l.origins, c.info.origin, closeAfter)
	c.outOff = 0
	if have >= body {
		c.out = append(c.out, e.buf[n:n+int(body)]...)
		if have > body {
			e.keep = false // bytes past the body: the connection is out of step
		}
		c.edge = nil
		l.putEdge(e)
		c.state = cWriting
	} else {
		c.out = append(c.out, e.buf[n:e.bufN]...)
		c.left = body - have
		c.state = cStreaming
	}
	e.bufN = 0
	c.deadline = l.Now.Add(s.cfg.HeaderTimeout)
	l.flush(c)
}

// fail answers the request with the balancer's own failure.
func (l *loop) fail(c *lconn) {
	s := l.s
	s.m.failed.Inc()
	status, msg, retry := fasthttp.StatusBadGateway, "edge unreachable", false
	switch {
	case c.ntried == 0:
		status, msg, retry = fasthttp.StatusServiceUnavailable, "no healthy edge in the zone", true
	case c.lastStatus != 0 && c.lastErr == nil:
		status, msg = c.lastStatus, "edges failed"
	case isTimeout(c.lastErr):
		status, msg = fasthttp.StatusGatewayTimeout, "edge timed out"
	}
	closeAfter := c.info.closeAfter || l.Stopping()
	c.out = errorResponse(c.out[:0], status, msg, retry, l.Date(), l.origins, c.info.origin, closeAfter)
	if c.info.head {
		c.out = c.out[:evloop.HeadEnd(c.out)]
	}
	c.outOff = 0
	c.state = cWriting
	l.flush(c)
}

// flush writes c.out, then splices the body's rest (cStreaming), then reads the next request.
func (l *loop) flush(c *lconn) {
	from := c.outOff
	err := evloop.WriteFrom(c.fd, c.out, &c.outOff)
	if c.outOff > from {
		c.deadline = l.Now.Add(l.s.cfg.HeaderTimeout)
	}
	switch {
	case err == syscall.EAGAIN:
		return
	case err != nil:
		l.closeClient(c)
		return
	}
	if c.state == cStreaming {
		l.pump(c)
		return
	}
	l.done(c)
}

// pump splices the body from c's edge connection to c through a pipe.
func (l *loop) pump(c *lconn) {
	e := c.edge
	if c.outOff < len(c.out) {
		return // the head and the body's start go first (flush calls back)
	}
	if e.pipe == nil {
		p, err := l.getPipe()
		if err != nil {
			l.abort(c)
			return
		}
		e.pipe = p
	}
	p := e.pipe
	for c.left > 0 || p.n > 0 {
		if p.n == 0 {
			n, err := splice(e.fd, p.w, int(min(c.left, pipeSize)))
			switch {
			case err == syscall.EAGAIN:
				e.rd = false
				return
			case err == syscall.EINTR:
				continue
			case err != nil || n == 0:
				l.abort(c) // the edge left mid-body: the client sees a short body and a close
				return
			}
			p.n = int(n)
			c.left -= n
		}
		n, err := splice(p.r, c.fd, p.n)
		switch {
		case err == syscall.EAGAIN:
			return
		case err == syscall.EINTR:
			continue
		case err != nil:
			l.abort(c)
			return
		}
		p.n -= int(n)
		c.deadline = l.Now.Add(l.s.cfg.HeaderTimeout)
	}
	// The body's last byte ended the splices, not an EAGAIN: the edge sends nothing more before
	// the next request, whose answer's arrival epoll will report.
	e.rd = false
	c.edge = nil
	l.putEdge(e)
	l.done(c)
}

// splice moves up to n bytes from in to out with splice(2), non-blocking. Raw, as the loop's
// reads and writes are: a system call entered the runtime's way wakes sysmon from the deep
// sleep it takes while every P is idle (a parked loop), and so woken it polls every 20 us
// for the next millisecond.
func splice(in, out, n int) (int64, error) {
	r, _, e := syscall.RawSyscall6(syscall.SYS_SPLICE, uintptr(in), 0, uintptr(out), 0, uintptr(n), spliceMove|spliceNonblk)
	if e != 0 {
		return 0, e
	}
	return int64(r), nil
}

// abort ends a response that cannot be finished: both connections close.
func (l *loop) abort(c *lconn) {
	l.closeClient(c)
}

// done ends a request: the next one is read, or the connection closes.
func (l *loop) done(c *lconn) {
	if c.info.closeAfter || l.Stopping() {
		syscall.Shutdown(c.fd, syscall.SHUT_WR)
		l.closeClient(c)
		return
	}
	c.state = cReading
	c.out = c.out[:0]
	if cap(c.out) > 64<<10 {
		c.out = nil
	}
	c.outOff = 0
	c.u = nil
	if len(c.in) > 0 {
		c.deadline = l.Now.Add(httpx.DefaultReadTimeout) // a pipelined request's head, begun already
	} else {
		c.deadline = l.Now.Add(httpx.DefaultIdleTimeout)
	}
	l.readClient(c)
}

func (l *loop) getPipe() (*lpipe, error) {
	if n := len(l.pipes); n > 0 {
		p := l.pipes[n-1]
		l.pipes = l.pipes[:n-1]
		return p, nil
	}
	var fds [2]int
	if err := syscall.Pipe2(fds[:], syscall.O_NONBLOCK|syscall.O_CLOEXEC); err != nil {
		return nil, err
	}
	syscall.Syscall(syscall.SYS_FCNTL, uintptr(fds[1]), fSetPipeSz, pipeSize) // best effort: 64 KiB otherwise
	return &lpipe{r: fds[0], w: fds[1]}, nil
}

func (l *loop) putPipe(p *lpipe) {
	if p.n != 0 || len(l.pipes) >= 64 {
		l.dropPipe(p)
		return
	}
	l.pipes = append(l.pipes, p)
}

func (l *loop) dropPipe(p *lpipe) {
	syscall.Close(p.r)
	syscall.Close(p.w)
}

// handoff gives c to the fasthttp server, with what was read of it: the server serves the
// connection from then on.
func (l *loop) handoff(c *lconn) {
	nc, err := l.Release(&c.fd)
	if err != nil {
		return
	}
	l.s.m.handoffs.Inc()
	l.s.loops.Handoffs().Hand(&evloop.PrefixConn{TCPConn: nc, Pending: append([]byte(nil), c.in...)})
}

// handoffResponse answers c with an edge response that has no Content-Length (its head
// e.buf[:n]): a goroutine reads the body whole, as the goroutine engine does, answers it, and
// hands the client connection to the fasthttp server.
func (l *loop) handoffResponse(c *lconn, e *lconn, n int) {
	head := append([]byte(nil), e.buf[:n]...)
	rest := append([]byte(nil), e.buf[n:e.bufN]...)
	pool := e.pool
	c.edge, e.owner = nil, nil
	if e.pipe != nil {
		l.dropPipe(e.pipe)
		e.pipe = nil
	}
	ec, err := l.Release(&e.fd)
	if err != nil {
		pool.unreserve()
		l.closeClient(c)
		return
	}
	cc, err := l.Release(&c.fd)
	if err != nil {
		pool.unreserve()
		ec.Close()
		return
	}
	pending := append([]byte(nil), c.in...)
	info := c.info
	date := append([]byte(nil), l.Date()...)
	origins, s := l.origins, l.s
	s.m.handoffs.Inc()
	go func() {
		defer pool.unreserve()
		defer ec.Close()
		var h fasthttp.ResponseHeader
		ec.SetReadDeadline(time.Now().Add(s.cfg.HeaderTimeout))
		br := bufio.NewReaderSize(&evloop.PrefixConn{TCPConn: ec, Pending: append(head, rest...)}, edgeReadBuffer)
		err := h.Read(br)
		var body []byte
		if err == nil {
			body, err = readUnsized(&h, br, nil)
		}
		if err != nil {
			// The goroutine engine would try another edge here; with the loop the answer's
			// head has come, and the edge's failure mid-body ends the exchange with a 502.
			cc.Write(errorResponse(nil, fasthttp.StatusBadGateway, "edge unreachable", false, date, origins, info.origin, true))
			cc.Close()
			return
		}
		h.Del("Transfer-Encoding")
		out := clientHead(nil, h.Header(), date, origins, info.origin, info.closeAfter)
		if !info.head {
			out = append(out, body...)
		}
		cc.SetWriteDeadline(time.Now().Add(s.cfg.HeaderTimeout))
		if _, err := cc.Write(out); err != nil || info.closeAfter {
			cc.Close()
			return
		}
		cc.SetWriteDeadline(time.Time{})
		s.loops.Handoffs().Hand(&evloop.PrefixConn{TCPConn: cc, Pending: pending})
	}()
}
