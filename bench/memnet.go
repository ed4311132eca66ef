package main

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
)

// memNet is an in-memory network for memberlist: packets and streams between transports of one
// process, without sockets. Unlike memberlist's MockNetwork it is safe while members come and
// go, and a stopped member behaves like a dead host: packets to it are lost, streams refused.
type memNet struct {
	mu    sync.RWMutex
	nodes map[string]*memTransport
	port  int
	sent  *atomic.Int64
}

func newMemNet(sent *atomic.Int64) *memNet {
	return &memNet{nodes: map[string]*memTransport{}, port: 30000, sent: sent}
}

// memTransport is one member's memberlist.Transport on a memNet.
type memTransport struct {
	net     *memNet
	addr    *net.UDPAddr
	packets chan *memberlist.Packet
	streams chan net.Conn
	closed  atomic.Bool
}

var _ memberlist.Transport = (*memTransport)(nil)

func (n *memNet) newTransport() *memTransport {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.port++
	t := &memTransport{net: n, addr: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: n.port},
		packets: make(chan *memberlist.Packet, 1024), streams: make(chan net.Conn, 64)}
	n.nodes[t.addr.String()] = t
	return t
}

func (n *memNet) peer(addr string) *memTransport {
	n.mu.RLock()
	defer n.mu.RUnlock()
	if t := n.nodes[addr]; t != nil && !t.closed.Load() {
		return t
	}
	return nil
}

func (t *memTransport) FinalAdvertiseAddr(string, int) (net.IP, int, error) {
	return t.addr.IP, t.addr.Port, nil
}

func (t *memTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	now := time.Now()
	t.net.sent.Add(int64(len(b)))
	dest := t.net.peer(addr)
	if dest == nil || t.closed.Load() {
		return now, nil // lost, as a datagram to a dead host
	}
	select {
	case dest.packets <- &memberlist.Packet{Buf: append([]byte(nil), b...), From: t.addr, Timestamp: now}:
	default: // the receiver's buffer is full: lost, as in a socket's
	}
	return now, nil
}

func (t *memTransport) PacketCh() <-chan *memberlist.Packet { return t.packets }

func (t *memTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	dest := t.net.peer(addr)
	if dest == nil || t.closed.Load() {
		return nil, fmt.Errorf("dial %s: connection refused", addr)
	}
	a, b := net.Pipe()
	select {
	case dest.streams <- memConn{b, dest.addr, t.addr}:
		return countingConn{memConn{a, t.addr, dest.addr}, t.net.sent}, nil
	case <-time.After(timeout):
		a.Close()
		b.Close()
		return nil, errors.New("dial " + addr + ": timeout")
	}
}

func (t *memTransport) StreamCh() <-chan net.Conn { return t.streams }

func (t *memTransport) Shutdown() error {
	t.closed.Store(true)
	return nil
}

// memConn is a pipe end with the members' addresses (memberlist logs and checks them).
type memConn struct {
	net.Conn
	local, remote net.Addr
}

func (c memConn) LocalAddr() net.Addr  { return c.local }
func (c memConn) RemoteAddr() net.Addr { return c.remote }
