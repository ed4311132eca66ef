package loadbalancer

import (
	"bufio"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"

	"edgecdn/internal/httpx"
)

// The balancer speaks HTTP/1.1 to its edges over connections of its own (not fasthttp's
// HostClient) so that it holds the edge's socket: a response body the edge sends goes on to the
// client's socket with splice(2) (net.TCPConn.ReadFrom from a TCP connection), through a pipe
// in the kernel, never copied into the balancer's memory. Only what arrived with the response
// head (up to edgeReadBuffer bytes) is copied; a body that fits there (a playlist) is answered
// from memory and the connection goes back to the pool at once.

const (
	// edgeReadBuffer is the read buffer of a connection to an edge: the response head and
	// the start of the body arrive in one read; a body within it is copied, a longer one
	// spliced.
	edgeReadBuffer = 16 << 10
	// edgeIdleFor is how long an idle connection to an edge is kept: less than the edge's
	// own idle timeout (60 s), so that the balancer closes it first.
	edgeIdleFor = 50 * time.Second
	// spliceChunk is how much one splice call moves at most; the read deadline is renewed
	// before each, so that a slow client does not time out a body that keeps moving.
	spliceChunk = 1 << 20
	// maxFallbackBody bounds a response body without Content-Length, which is read whole.
	maxFallbackBody = 64 << 20
)

var errNoFreeConns = errors.New("no free connection to the edge (--max-conns-per-edge)")

// edgeConns is a pool of keep-alive connections to one edge.
type edgeConns struct {
	addr        string
	max         int
	dialTimeout time.Duration

	mu       sync.Mutex
	idle     []*edgeConn // the most recently used last
	open     int
	cleaning bool
	closed   bool
	sa       syscall.Sockaddr // the resolved address (sockaddr)
	gone     atomic.Bool      // closed, read without the lock
}

type edgeConn struct {
	c       *net.TCPConn
	br      *bufio.Reader // reads through rd
	rd      edgeReader
	lastUse time.Time
	// rdl and wdl are the read and write deadlines set on c: a request renews them only when
	// they are closer than the timeout less deadlineSlack (see roundTrip).
	rdl, wdl time.Time
}

// deadlineSlack is how much of a timeout a connection's deadlines may have run down before a
// request renews them: an edge gets between 15/16 of the header timeout and all of it. Setting
// a deadline re-arms a runtime timer, twice per request (read and write) for every request on a
// busy connection; renewed only when run down, a connection kept busy renews them about once
// per timeout/16 instead.
const deadlineSlack = 16

// setDeadlines makes sure the connection's read and write deadlines are at least
// timeout*(1-1/deadlineSlack) and at most timeout away from now.
func (ec *edgeConn) setDeadlines(now time.Time, timeout time.Duration) {
	least := now.Add(timeout - timeout/deadlineSlack)
	if ec.rdl.Before(least) || ec.wdl.Before(least) {
		d := now.Add(timeout)
		ec.c.SetDeadline(d)
		ec.rdl, ec.wdl = d, d
	}
}

// setReadDeadline sets the read deadline timeout from now, as setDeadlines does.
func (ec *edgeConn) setReadDeadline(now time.Time, timeout time.Duration) {
	if ec.rdl.Before(now.Add(timeout - timeout/deadlineSlack)) {
		d := now.Add(timeout)
		ec.c.SetReadDeadline(d)
		ec.rdl = d
	}
}

// get returns an idle connection (reused true) or, with fresh or none idle, a new one.
func (p *edgeConns) get(fresh bool) (ec *edgeConn, reused bool, err error) {
	p.mu.Lock()
	for !fresh && len(p.idle) > 0 {
		n := len(p.idle) - 1
		ec = p.idle[n]
		p.idle[n] = nil
		p.idle = p.idle[:n]
		if time.Since(ec.lastUse) < edgeIdleFor {
			p.mu.Unlock()
			return ec, true, nil
		}
		p.open--
		ec.c.Close()
	}
	if p.open >= p.max {
		p.mu.Unlock()
		return nil, false, errNoFreeConns
	}
	p.open++
	p.mu.Unlock()
	c, err := net.DialTimeout("tcp", p.addr, p.dialTimeout)
	if err != nil {
		p.mu.Lock()
		p.open--
		p.mu.Unlock()
		return nil, false, err
	}
	tc, ok := c.(*net.TCPConn)
	if !ok {
		c.Close()
		p.mu.Lock()
		p.open--
		p.mu.Unlock()
		return nil, false, errors.New("edge connection is not TCP")
	}
	return newEdgeConn(tc), false, nil
}

func newEdgeConn(tc *net.TCPConn) *edgeConn {
	ec := &edgeConn{c: tc}
	ec.rd.c = tc
	ec.rd.rc, _ = tc.SyscallConn() // never fails on an open TCP connection; without it rd reads plainly
	ec.rd.step = ec.rd.stepFn
	ec.br = bufio.NewReaderSize(&ec.rd, edgeReadBuffer)
	return ec
}

// edgeReader is what a connection's bufio.Reader reads from. Reading a response as
// net.TCPConn.Read does costs two read(2) calls: Go's poller tries the read first, and a read
// right after the request was written finds nothing yet (EAGAIN) before the goroutine parks
// until the socket is readable. With a request pending (send), the first Read writes the
// request from inside RawConn.Read and then waits for the socket to become readable without
// trying a read first: the readiness the edge's answer brings comes after the poller's state
// was reset (RawConn.Read resets it before calling step), so it cannot be missed, and the one
// read(2) that follows finds the answer. Every other Read is net.TCPConn.Read.
type edgeReader struct {
	c    *net.TCPConn
	rc   syscall.RawConn
	step func(fd uintptr) bool // stepFn, bound once so that a request does not allocate it

	req  []byte // the request to write before the next read
	rest []byte // what of req the socket did not take at once (its send buffer full)
	p    []byte
	n    int
	err  error
	werr error
}

// send makes the next Read write req first.
func (r *edgeReader) send(req []byte) { r.req = req }

// writeError is a failed write of the request: the edge had closed the connection, as a read
// error with nothing read means too.
type writeError struct{ error }

func (e writeError) Unwrap() error { return e.error }

func (r *edgeReader) Read(p []byte) (int, error) {
	if r.req == nil || r.rc == nil {
		if r.req != nil {
			req := r.req
			r.req = nil
			if _, err := r.c.Write(req); err != nil {
				return 0, writeError{err}
			}
		}
		return r.c.Read(p)
	}
	r.p, r.n, r.err, r.werr = p, 0, nil, nil
	err := r.rc.Read(r.step)
	r.p, r.req = nil, nil
	switch {
	case r.werr != nil:
		return 0, writeError{r.werr}
	case r.rest != nil:
		// The request did not fit the socket's send buffer (a large body): the rest goes
		// the ordinary way, under the write deadline, and so does the read.
		rest := r.rest
		r.rest = nil
		if _, err := r.c.Write(rest); err != nil {
			return 0, writeError{err}
		}
		return r.c.Read(p)
	case err != nil:
		return 0, err
	}
	return r.n, r.err
}

// stepFn is RawConn.Read's function: the first call writes the request and asks to wait for
// the socket to be readable; the next ones read.
func (r *edgeReader) stepFn(fd uintptr) bool {
	if r.req != nil {
		rest, done, err := httpx.WriteFD(fd, r.req)
		r.req = nil
		if err != nil {
			r.werr = err
		} else {
			r.rest = rest
		}
		return !done
	}
	for {
		n, err := syscall.Read(int(fd), r.p)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			return false
		case err != nil:
			r.err = err
		case n == 0 && len(r.p) > 0:
			r.err = io.EOF
		default:
			r.n = n
		}
		return true
	}
}

// reserve counts a connection about to be opened (by an event loop) against max.
func (p *edgeConns) reserve() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.open >= p.max {
		return errNoFreeConns
	}
	p.open++
	return nil
}

// openCount is the number of connections open to the edge.
func (p *edgeConns) openCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.open
}

// unreserve counts a connection of reserve's closed.
func (p *edgeConns) unreserve() {
	p.mu.Lock()
	p.open--
	p.mu.Unlock()
}

// isClosed reports whether the edge left the pool (its connections are not used again).
func (p *edgeConns) isClosed() bool {
	return p.gone.Load()
}

// sockaddr returns the edge's address to connect to, resolved once; each call has its own copy
// (syscall.Connect writes into the one it is given).
func (p *edgeConns) sockaddr() (syscall.Sockaddr, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.sa == nil {
		a, err := net.ResolveTCPAddr("tcp", p.addr)
		if err != nil {
			return nil, err
		}
		if v4 := a.IP.To4(); v4 != nil {
			sa := &syscall.SockaddrInet4{Port: a.Port}
			copy(sa.Addr[:], v4)
			p.sa = sa
		} else {
			sa := &syscall.SockaddrInet6{Port: a.Port}
			copy(sa.Addr[:], a.IP.To16())
			p.sa = sa
		}
	}
	switch sa := p.sa.(type) {
	case *syscall.SockaddrInet4:
		return &syscall.SockaddrInet4{Port: sa.Port, Addr: sa.Addr}, nil
	case *syscall.SockaddrInet6:
		return &syscall.SockaddrInet6{Port: sa.Port, Addr: sa.Addr}, nil
	}
	return nil, errors.New("edge address is not TCP")
}

// put gives back a connection whose last response was read whole.
func (p *edgeConns) put(ec *edgeConn) {
	ec.lastUse = time.Now()
	p.mu.Lock()
	if p.closed {
		p.open--
		p.mu.Unlock()
		ec.c.Close()
		return
	}
	p.idle = append(p.idle, ec)
	start := !p.cleaning
	p.cleaning = true
	p.mu.Unlock()
	if start {
		go p.clean()
	}
}

// drop closes a connection that cannot be used again.
func (p *edgeConns) drop(ec *edgeConn) {
	ec.c.Close()
	p.mu.Lock()
	p.open--
	p.mu.Unlock()
}

// clean closes connections idle for edgeIdleFor; it runs while there are idle connections.
func (p *edgeConns) clean() {
	t := time.NewTicker(edgeIdleFor / 5)
	defer t.Stop()
	for range t.C {
		p.mu.Lock()
		now := time.Now()
		i := 0
		for i < len(p.idle) && now.Sub(p.idle[i].lastUse) >= edgeIdleFor {
			p.idle[i].c.Close()
			p.open--
			i++
		}
		n := copy(p.idle, p.idle[i:])
		clear(p.idle[n:])
		p.idle = p.idle[:n]
		if n == 0 || p.closed {
			p.cleaning = false
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
	}
}

// close closes the idle connections; those in use close when their response is done.
func (p *edgeConns) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	p.gone.Store(true)
	for _, ec := range p.idle {
		ec.c.Close()
		p.open--
	}
	clear(p.idle)
	p.idle = p.idle[:0]
}

// edgeResponse is one exchange with an edge: the request sent, the response head read, and,
// as the client's response body stream, what is left of the body on the connection.
type edgeResponse struct {
	req  fasthttp.RequestHeader
	wbuf []byte
	h    fasthttp.ResponseHeader

	pool *edgeConns
	ec   *edgeConn
	n    int64 // body bytes still on ec
	keep bool  // ec may serve another request once the body is read
	lr   io.LimitedReader
	body []byte // a body without Content-Length, read whole

	readTimeout time.Duration
}

var responsePool = sync.Pool{New: func() any {
	r := new(edgeResponse)
	r.h.DisableNormalizing()
	return r
}}

func acquireResponse() *edgeResponse { return responsePool.Get().(*edgeResponse) }

// release gives the connection back (or closes it, with body left on it) and the response
// to its pool.
func (r *edgeResponse) release() {
	if r.ec != nil {
		// Bytes past the body (an edge that sent a body with a HEAD answer or a 304) would be
		// taken for the next response's head: such a connection is not reused.
		if r.n == 0 && r.keep && r.ec.br.Buffered() == 0 {
			r.pool.put(r.ec)
		} else {
			r.pool.drop(r.ec)
		}
	}
	r.ec, r.pool, r.n, r.keep, r.body = nil, nil, 0, false, r.body[:0]
	r.lr.R = nil
	r.req.Reset()
	r.h.Reset()
	r.h.DisableNormalizing()
	if cap(r.body) > 64<<10 {
		r.body = nil
	}
	responsePool.Put(r)
}

// errStale is a reused connection that the edge had closed before the request reached it.
var errStale = errors.New("edge closed an idle connection")

// exchange sends r.req (with body) on a connection of p and reads the response head. A
// connection from the pool that turns out closed by the edge, with nothing of a response read,
// is replaced by a new one once when the request may be sent again (idempotent).
func (r *edgeResponse) exchange(p *edgeConns, now time.Time, body []byte, idempotent, head bool, headerTimeout, readTimeout time.Duration) error {
	r.wbuf = r.req.AppendBytes(r.wbuf[:0])
	r.wbuf = append(r.wbuf, body...)
	r.pool, r.readTimeout = p, readTimeout
	fresh := false
	for {
		ec, reused, err := p.get(fresh)
		if err != nil {
			return err
		}
		err = r.roundTrip(ec, now, headerTimeout)
		if err == nil {
			r.ec = ec
			return r.bodyLength(head)
		}
		p.drop(ec)
		if errors.Is(err, errStale) && reused && idempotent && !fresh {
			fresh = true
			continue
		}
		return err
	}
}

func (r *edgeResponse) roundTrip(ec *edgeConn, now time.Time, headerTimeout time.Duration) error {
	// Sending the request and reading its response head, within the header timeout (renewed
	// only when run down: setDeadlines).
	ec.setDeadlines(now, headerTimeout)
	// The request goes out with the first read of its answer (edgeReader): one write(2) and
	// one read(2) for a response that fits the read buffer.
	if ec.br.Buffered() != 0 {
		// Never so: a connection goes back to the pool with nothing left to read.
		return errors.Join(errStale, errors.New("bytes left on a pooled connection"))
	}
	ec.rd.send(r.wbuf)
	if _, err := ec.br.Peek(1); err != nil {
		var we writeError
		if isTimeout(err) && !errors.As(err, &we) {
			return err
		}
		return errors.Join(errStale, err) // nothing of a response: closed or reset
	}
	return r.h.Read(ec.br)
}

// bodyLength sets how much body follows the head on the connection; a body without
// Content-Length is read whole here.
func (r *edgeResponse) bodyLength(head bool) error {
	r.keep = !r.h.ConnectionClose()
	code := r.h.StatusCode()
	if head || code < 200 || code == fasthttp.StatusNoContent || code == fasthttp.StatusNotModified {
		r.n = 0
		return nil
	}
	if cl := r.h.ContentLength(); cl >= 0 {
		r.n = int64(cl)
		return nil
	}
	// Chunked, or up to the connection's end: rare from an edge (it always knows the length).
	r.ec.setReadDeadline(time.Now(), r.readTimeout)
	toClose := r.h.ContentLength() == -2
	body, err := readUnsized(&r.h, r.ec.br, r.body)
	if err != nil || toClose {
		r.keep = false
	}
	r.body = body
	return err
}

// readUnsized reads a body without Content-Length (chunked, or up to the connection's end)
// whole from br into dst, at most maxFallbackBody, and gives h that Content-Length.
func readUnsized(h *fasthttp.ResponseHeader, br *bufio.Reader, dst []byte) ([]byte, error) {
	var resp fasthttp.Response
	h.CopyTo(&resp.Header)
	if err := resp.ReadBody(br, maxFallbackBody); err != nil {
		return dst[:0], err
	}
	dst = append(dst[:0], resp.Body()...)
	h.SetContentLength(len(dst))
	return dst, nil
}

// buffered reports whether the whole body already sits in the read buffer.
func (r *edgeResponse) buffered() bool { return int64(r.ec.br.Buffered()) >= r.n }

// discard drops the body (a response that is retried elsewhere): read from the buffer when it
// is there, else the connection is closed.
func (r *edgeResponse) discard() {
	if r.n > 0 && r.buffered() {
		r.ec.br.Discard(int(r.n))
		r.n = 0
	}
}

// Read makes the body an io.Reader, for a writer that is not a bufio.Writer over a TCP socket.
func (r *edgeResponse) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.n {
		p = p[:r.n]
	}
	r.ec.setReadDeadline(time.Now(), r.readTimeout)
	n, err := r.ec.br.Read(p)
	r.n -= int64(n)
	if err == io.EOF && r.n > 0 {
		err = io.ErrUnexpectedEOF
	}
	if err == nil && r.n == 0 {
		err = io.EOF
	}
	return n, err
}

// WriteTo sends the body to w: what came with the head from the buffer, the rest with
// splice(2) when w is the client connection's bufio.Writer (fasthttp's, over a *net.TCPConn).
func (r *edgeResponse) WriteTo(w io.Writer) (int64, error) {
	var sent int64
	if b := r.ec.br.Buffered(); b > 0 && r.n > 0 {
		k := int(min(int64(b), r.n))
		p, _ := r.ec.br.Peek(k)
		m, err := w.Write(p)
		r.ec.br.Discard(m)
		r.n -= int64(m)
		sent += int64(m)
		if err != nil {
			return sent, err
		}
	}
	bw, ok := w.(*bufio.Writer)
	if !ok {
		m, err := io.Copy(w, readerOnly{r})
		return sent + m, err
	}
	if r.n > 0 {
		// An empty buffer makes bufio.Writer.ReadFrom hand the reader to the socket's
		// ReadFrom, which splices from a TCP connection.
		if err := bw.Flush(); err != nil {
			return sent, err
		}
	}
	for r.n > 0 {
		r.ec.setReadDeadline(time.Now(), r.readTimeout)
		r.lr.R, r.lr.N = r.ec.c, min(r.n, spliceChunk)
		m, err := bw.ReadFrom(&r.lr)
		r.n -= m
		sent += m
		if err != nil {
			return sent, err
		}
		if m == 0 {
			return sent, io.ErrUnexpectedEOF
		}
	}
	return sent, nil
}

// Close ends the body stream: fasthttp calls it once the response is written (or dropped).
func (r *edgeResponse) Close() error {
	r.release()
	return nil
}

// readerOnly hides WriteTo, for io.Copy.
type readerOnly struct{ io.Reader }

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
