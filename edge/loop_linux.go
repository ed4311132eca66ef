package edge

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"edgecdn/internal/evloop"
	"edgecdn/internal/httpx"
	"edgecdn/internal/urlpath"
)

// The event loop engine (the default on Linux) serves the client port as nginx does: --loops
// epoll loops (evloop.DefaultLoops), each reading a socket only after epoll said it is
// readable, with no goroutine per connection. A fresh hit in memory is answered by the loop
// itself: its head built as bytes and written with the body in one writev(2), the body never
// copied in user space; a body in a memfd (sendfileMin and over) follows its head by
// sendfile(2), which gives the socket the memfd's pages instead of copying them. Any other request goes to the fasthttp server, which serves it as the goroutine
// engine does: a miss, a range, a precondition, a peer's request, the probes and admin paths
// visit it one request at a time (the connection comes back to the loop after the answer);
// anything the loop does not parse (parseLoopRequest) is handed over with its connection.

// A client connection's states.
const (
	eReading = iota // waiting for (the rest of) a request head
	eWriting        // writing an answer: out, then body
	eAway           // visiting the fasthttp server for one request
)

type econn struct {
	fd         int
	state      int
	in         []byte   // what was read and not yet used: a request head, or its start
	out        []byte   // the answer's head
	body       []byte   // the answer's body, a cached object's own bytes (nil: in mf, or none)
	mf         *memBody // the answer's body in a memfd, sent with sendfile(2), or nil
	outOff     int
	bodyOff    int
	closeAfter bool
	deadline   time.Time
	rd         bool // the socket may have something to read (evloop: edge-triggered)
	iov        [2]syscall.Iovec
}

type eloop struct {
	*evloop.Loop[*econn]
	s       *Server
	origins httpx.CORSOrigins
	away    int // connections visiting the fasthttp server
	kb      [urlpath.MaxLen + 256]byte
}

// loops is the event loop engine of a Server.
type loops = evloop.Engine[*econn]

// serveLoops serves ln with the event loop engine; served false means ln is not one the engine
// can take (not a TCP listener) and the caller serves it with fasthttp.
func (s *Server) serveLoops(ln net.Listener) (served bool, err error) {
	origins, err := httpx.NewCORSOrigins(s.cfg.CORSOrigins) // nil (any origin) for none listed
	if err != nil {
		return true, err
	}
	n := s.cfg.Loops
	if n <= 0 {
		n = evloop.DefaultLoops()
	}
	for i := range n {
		s.set.GetOrCreateGauge(fmt.Sprintf(`edgecdn_edge_loop_connections{loop="%d"}`, i), func() float64 { return float64(s.loops.Connections(i)) })
	}
	s.loops.NotsentLowat = s.cfg.NotsentLowat
	s.loops.YieldCPU = s.cfg.YieldCPU
	s.loops.OnYield = s.m.loopYields.Inc
	return s.loops.Serve(ln, n, s.log, "edge", func(el *evloop.Loop[*econn]) evloop.Handler[*econn] {
		return &eloop{Loop: el, s: s, origins: origins}
	}, s.srv.Serve)
}

// stopLoops stops the loops: evloop.Engine.Stop.
func (s *Server) stopLoops(ctx context.Context) error { return s.loops.Stop(ctx) }

// Accept takes a new client connection.
func (l *eloop) Accept(fd int, _ syscall.Sockaddr) {
	c := &econn{fd: fd, in: make([]byte, 0, httpx.ReadBufferSize), rd: true}
	if !l.Register(fd, c) {
		syscall.Close(fd)
		return
	}
	c.deadline = l.Now.Add(httpx.DefaultIdleTimeout)
	l.read(c)
}

// Event is a readiness event of a connection.
func (l *eloop) Event(c *econn, ev uint32) {
	if ev&evloop.ReadableEvents != 0 {
		c.rd = true
	}
	switch c.state {
	case eReading:
		if ev&evloop.ReadableEvents != 0 {
			l.read(c)
		}
	case eWriting:
		if ev&(syscall.EPOLLOUT|syscall.EPOLLHUP|syscall.EPOLLERR) != 0 {
			l.write(c)
		}
	}
}

// Expire closes connections past their deadline; stopping, it closes idle connections and
// reports whether none is left, none away either (unless the shutdown's deadline passed).
func (l *eloop) Expire() bool {
	stopping := l.Stopping()
	for _, c := range l.Conns() {
		switch {
		case stopping && c.state == eReading && len(c.in) == 0:
			l.Close(&c.fd)
		case !c.deadline.IsZero() && !l.Now.Before(c.deadline):
			l.Close(&c.fd) // idle, a head begun and not finished, or a client that stopped reading
		}
	}
	return stopping && len(l.Conns()) == 0 && (l.away == 0 || l.s.loops.Killed())
}

// read reads what the client sent and serves each request whose head is whole.
func (l *eloop) read(c *econn) {
	for c.fd >= 0 && c.state == eReading {
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
			c.rd = false // the idle deadline runs from the last answer, a head's from its first byte
			return
		case err == syscall.EINTR:
		case err != nil || n == 0:
			l.Close(&c.fd)
			return
		default:
			if n < cap(c.in)-len(c.in) {
				c.rd = false
			}
			if len(c.in) == 0 {
				c.deadline = l.Now.Add(httpx.DefaultReadTimeout)
			}
			c.in = c.in[:len(c.in)+n]
		}
	}
}

// request serves the request whose head is c.in[:n]: a fresh hit here, anything else on the
// fasthttp server.
func (l *eloop) request(c *econn, n int) {
	s := l.s
	r, ok := parseLoopRequest(c.in[:n])
	if !ok {
		l.handoff(c)
		return
	}
	if r.visit || len(s.cfg.SigningKeys) > 0 {
		l.visit(c, n)
		return
	}
	key, err := AppendKey(l.kb[:0], r.path, r.query, s.cfg.QueryAllowlist)
	if err != nil {
		l.visit(c, n) // the fasthttp server answers 400 or 414
		return
	}
	o, ok := s.cache.GetBytes(key)
	if !ok || !o.fresh(l.Now) {
		l.visit(c, n)
		return
	}
	s.noteRequest(key)
	s.m.hits[o.kind].Inc()
	s.m.loopHits.Inc()
	c.closeAfter = r.closeAfter || l.Stopping() || s.stopping.Load()
	c.out = l.hitHead(c.out[:0], o, &r, c.closeAfter)
	c.outOff, c.bodyOff, c.body, c.mf = 0, 0, nil, nil
	if !r.head {
		c.body, c.mf = o.body, o.mem
		s.m.servedBytes[o.kind].Add(int(o.size()))
	}
	c.in = c.in[:copy(c.in, c.in[n:])] // a pipelined request waits
	c.state = eWriting
	c.deadline = l.Now.Add(httpx.DefaultIdleTimeout) // renewed by every write that makes progress
	l.write(c)
}

// hitHead appends the head of a hit's answer, the fields serveObject sets, in the order
// fasthttp writes them.
func (l *eloop) hitHead(dst []byte, o *object, r *loopRequest, closeAfter bool) []byte {
	s := l.s
	dst = append(dst, "HTTP/1.1 200 OK\r\nServer: edgecdn-edge\r\nDate: "...)
	dst = append(dst, l.Date()...)
	if len(o.contentType) > 0 {
		dst = append(dst, "\r\nContent-Type: "...)
		dst = append(dst, o.contentType...)
	}
	dst = append(dst, "\r\nContent-Length: "...)
	dst = evloop.AppendInt(dst, o.size())
	dst = append(dst, "\r\nX-Served-By: "...)
	dst = append(dst, s.h.name...)
	dst = append(dst, "\r\nVia: "...)
	dst = append(dst, s.h.via...)
	if v := s.cmsd.Load(); v != nil {
		dst = append(dst, "\r\nCMSD-Dynamic: "...)
		dst = append(dst, *v...)
	}
	dst = append(dst, "\r\nCache-Status: "...)
	dst = append(dst, s.h.hit...)
	dst = append(dst, "\r\nAge: "...)
	dst = evloop.AppendInt(dst, int64(max(l.Now.Sub(o.stored)/time.Second, 0)))
	dst = append(dst, "\r\nETag: "...)
	dst = append(dst, o.etag...)
	if len(o.lastModified) > 0 {
		dst = append(dst, "\r\nLast-Modified: "...)
		dst = append(dst, o.lastModified...)
	}
	if len(o.cacheControl) > 0 {
		dst = append(dst, "\r\nCache-Control: "...)
		dst = append(dst, o.cacheControl...)
	}
	dst = append(dst, "\r\nAccept-Ranges: bytes\r\n"...)
	dst = evloop.AppendCORS(dst, l.origins, r.origin, false)
	if closeAfter {
		dst = append(dst, "Connection: close\r\n"...)
	}
	return append(dst, "\r\n"...)
}

// write writes the answer's head and body with writev (sendfile for a body in a memfd) until
// done or the socket is full.
func (l *eloop) write(c *econn) {
	if c.mf != nil && !l.sendfile(c) {
		return
	}
	for c.outOff < len(c.out) || c.bodyOff < len(c.body) {
		cnt := 0
		if p := c.out[c.outOff:]; len(p) > 0 {
			c.iov[cnt].Base = &p[0]
			c.iov[cnt].SetLen(len(p))
			cnt++
		}
		if p := c.body[c.bodyOff:]; len(p) > 0 {
			c.iov[cnt].Base = &p[0]
			c.iov[cnt].SetLen(len(p))
			cnt++
		}
		r, _, e := syscall.RawSyscall(syscall.SYS_WRITEV, uintptr(c.fd), uintptr(unsafe.Pointer(&c.iov[0])), uintptr(cnt))
		switch e {
		case 0:
		case syscall.EAGAIN:
			return
		case syscall.EINTR:
			continue
		default:
			l.Close(&c.fd)
			return
		}
		w := int(r)
		k := min(w, len(c.out)-c.outOff)
		c.outOff += k
		c.bodyOff += w - k
		// A client that takes its answer slowly keeps its connection while it takes some.
		c.deadline = l.Now.Add(httpx.DefaultIdleTimeout)
	}
	c.body, c.mf = nil, nil
	c.iov = [2]syscall.Iovec{}
	if c.closeAfter {
		syscall.Shutdown(c.fd, syscall.SHUT_WR)
		l.Close(&c.fd)
		return
	}
	l.next(c)
}

// sendfile writes the head with MSG_MORE (it goes out with the body's first bytes) and the
// body with sendfile(2) from its memfd, until done (true) or the socket is full or failed
// (false: wait for EPOLLOUT, or c is closed).
func (l *eloop) sendfile(c *econn) bool {
	for c.outOff < len(c.out) || int64(c.bodyOff) < c.mf.n {
		var r uintptr
		var e syscall.Errno
		if p := c.out[c.outOff:]; len(p) > 0 {
			r, _, e = syscall.RawSyscall6(syscall.SYS_SENDTO, uintptr(c.fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)), syscall.MSG_MORE, 0, 0)
		} else {
			off := int64(c.bodyOff)
			r, _, e = syscall.RawSyscall6(syscall.SYS_SENDFILE, uintptr(c.fd), uintptr(c.mf.fd), uintptr(unsafe.Pointer(&off)), uintptr(c.mf.n-off), 0, 0)
		}
		switch {
		case e == syscall.EAGAIN:
			return false
		case e == syscall.EINTR:
			continue
		case e != 0 || r == 0: // r == 0: the memfd is sealed at the body's length, so never
			l.Close(&c.fd)
			return false
		}
		k := min(int(r), len(c.out)-c.outOff) // all of r is head's, or all is body's
		c.outOff += k
		c.bodyOff += int(r) - k
		c.deadline = l.Now.Add(httpx.DefaultIdleTimeout)
	}
	return true
}

// next waits for the connection's next request (it may have come already).
func (l *eloop) next(c *econn) {
	c.state = eReading
	if len(c.in) > 0 {
		c.deadline = l.Now.Add(httpx.DefaultReadTimeout) // a pipelined request's head, begun already
	} else {
		c.deadline = l.Now.Add(httpx.DefaultIdleTimeout)
	}
	l.read(c)
}

// handoff gives c to the fasthttp server for good, with what was read of it.
func (l *eloop) handoff(c *econn) {
	nc, err := l.Release(&c.fd)
	if err != nil {
		return
	}
	l.s.m.loopHandoffs.Inc()
	l.s.loops.Handoffs().Hand(&evloop.PrefixConn{TCPConn: nc, Pending: append([]byte(nil), c.in...)})
}

// visit gives the fasthttp server c's request whose head is c.in[:n], and c for as long as it
// takes to answer it: the connection comes back to the loop when the server reads past the
// request (visitConn), with what the client pipelined behind it.
func (l *eloop) visit(c *econn, n int) {
	head := append([]byte(nil), c.in[:n]...)
	c.in = c.in[:copy(c.in, c.in[n:])]
	tc, err := l.Release(&c.fd)
	if err != nil {
		return
	}
	l.away++
	c.state = eAway
	l.s.m.loopVisits.Inc()
	l.s.loops.Handoffs().Hand(&visitConn{TCPConn: tc, pending: head, l: l, c: c})
}

// back takes c back from a visit, on fd.
func (l *eloop) back(c *econn, fd int) {
	l.away--
	if fd < 0 {
		return // the fasthttp server closed it
	}
	if l.Stopping() {
		syscall.Close(fd)
		return
	}
	c.fd, c.rd = fd, true
	if !l.Register(fd, c) {
		syscall.Close(fd)
		return
	}
	l.next(c)
}

// visitConn is a connection visiting the fasthttp server for one request: its reads return the
// request's head, then io.EOF, and the server, finding no next request, closes it, which gives
// the socket back to the loop. A server that closes it before reading past the request (the
// answer said Connection: close, a write failed, the server is stopping) closes the socket.
type visitConn struct {
	*net.TCPConn
	l       *eloop
	c       *econn
	mu      sync.Mutex
	pending []byte
	eof     bool // a read found the request's end: the server is done with it
	closed  bool
}

func (v *visitConn) Read(b []byte) (int, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.pending) > 0 {
		n := copy(b, v.pending)
		v.pending = v.pending[n:]
		return n, nil
	}
	v.eof = true
	return 0, io.EOF
}

func (v *visitConn) Close() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return nil
	}
	v.closed = true
	fd := -1
	if v.eof && !v.l.s.loops.Killed() {
		if rc, err := v.TCPConn.SyscallConn(); err == nil {
			rc.Control(func(s uintptr) {
				if d, _, e := syscall.Syscall(syscall.SYS_FCNTL, s, syscall.F_DUPFD_CLOEXEC, 0); e == 0 {
					fd = int(d)
				}
			})
		}
	}
	err := v.TCPConn.Close()
	l, c := v.l, v.c
	if !l.Post(func() { l.back(c, fd) }) && fd >= 0 {
		syscall.Close(fd)
	}
	return err
}
