package evloop

import (
	"net"
	"sync"
)

// HandoffListener is the listener a fasthttp server serves the connections a loop hands it
// from: so served, they are the server's own, which its Shutdown closes when idle and waits for.
type HandoffListener struct {
	addr   net.Addr
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

// NewHandoffListener returns a listener whose Addr is addr.
func NewHandoffListener(addr net.Addr) *HandoffListener {
	return &HandoffListener{addr: addr, conns: make(chan net.Conn), closed: make(chan struct{})}
}

// Hand gives c to the server, or closes it when the server is stopping.
func (h *HandoffListener) Hand(c net.Conn) {
	select {
	case h.conns <- c:
	case <-h.closed:
		c.Close()
	}
}

// Accept returns the next connection handed over.
func (h *HandoffListener) Accept() (net.Conn, error) {
	select {
	case c := <-h.conns:
		return c, nil
	case <-h.closed:
		return nil, net.ErrClosed
	}
}

// Close makes Accept fail and Hand close what it is given.
func (h *HandoffListener) Close() error {
	h.once.Do(func() { close(h.closed) })
	return nil
}

// Addr is the address of the listener the loops serve.
func (h *HandoffListener) Addr() net.Addr { return h.addr }

// PrefixConn is a connection whose first reads return Pending, what a loop read of it.
type PrefixConn struct {
	*net.TCPConn
	Pending []byte
}

func (p *PrefixConn) Read(b []byte) (int, error) {
	if len(p.Pending) > 0 {
		n := copy(b, p.Pending)
		p.Pending = p.Pending[n:]
		return n, nil
	}
	return p.TCPConn.Read(b)
}
