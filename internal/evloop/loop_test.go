//go:build linux

package evloop

import (
	"context"
	"io"
	"log/slog"
	"net"
	"syscall"
	"testing"
	"time"
)

// echo is a Handler that writes back what it reads.
type echo struct {
	l *Loop[*int]
}

func (e *echo) Accept(fd int, _ syscall.Sockaddr) {
	c := new(int)
	*c = fd
	if !e.l.Register(fd, c) {
		syscall.Close(fd)
	}
}

func (e *echo) Event(c *int, ev uint32) {
	var b [512]byte
	for {
		n, err := RawRead(*c, b[:])
		if err == syscall.EAGAIN {
			return
		}
		if err != nil || n == 0 {
			e.l.Close(c)
			return
		}
		off := 0
		WriteFrom(*c, b[:n], &off)
	}
}

func (e *echo) Expire() bool {
	if !e.l.Stopping() {
		return false
	}
	for _, c := range e.l.Conns() {
		e.l.Close(c)
	}
	return true
}

// echoGroup is n loops of echo Handlers on a new loopback listener.
func echoGroup(t *testing.T, n int) (net.Listener, *Group[*int]) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g, ok, err := NewGroup(ln, n, slog.New(slog.NewTextHandler(io.Discard, nil)), "test", func(l *Loop[*int]) Handler[*int] { return &echo{l: l} })
	if !ok || err != nil {
		t.Fatalf("NewGroup: %v %v", ok, err)
	}
	return ln, g
}

// held is how many connections the group's loops hold.
func held(g *Group[*int]) (n int64) {
	for _, l := range g.Loops {
		n += l.n.Load()
	}
	return n
}

// TestGroup serves a listener with an echo Handler: connections are served, idle loops park
// and wake for the next bytes, Post runs on the loop, Stop ends the loops and the port refuses
// connections, and Post after the end reports false.
func TestGroup(t *testing.T) {
	ln, g := echoGroup(t, 1)
	ran := make(chan struct{})
	go g.Run(func(hl net.Listener) error { _, err := hl.Accept(); close(ran); return err })
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 5)
	for i := range 3 { // the loop parks between them: it must wake for each
		if _, err := c.Write([]byte("hello")); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "hello" {
			t.Fatalf("echo %d: %q %v", i, buf, err)
		}
		time.Sleep(20 * time.Millisecond) // idle long enough to park (not a synchronisation)
	}
	if n := held(g); n != 1 {
		t.Errorf("the group counts %d connections, want 1", n)
	}
	onLoop := make(chan bool, 1)
	l := g.Loops[0]
	if !l.Post(func() { onLoop <- l.Now.After(time.Time{}) }) {
		t.Fatal("Post before the stop reported false")
	}
	select {
	case v := <-onLoop:
		if !v {
			t.Error("the posted function did not run on the loop")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the posted function never ran")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := g.Stop(ctx, nil); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	<-ran
	if c2, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		c2.Close()
		t.Error("the port still accepts connections after Stop")
	}
	if n := held(g); n != 0 {
		t.Errorf("the group counts %d connections after the stop, want 0", n)
	}
	if l.Post(func() {}) {
		t.Error("Post after the loop ended reported true")
	}
	if _, err := io.ReadFull(c, buf[:1]); err == nil {
		t.Error("the client connection is still open")
	}
}

// TestHandOver opens a burst of connections to two loops and checks that they end up shared:
// whichever loop the kernel wakes for them, one holding handoverGap more than the other hands
// what it accepts over, so neither holds much more than its half.
func TestHandOver(t *testing.T) {
	ln, g := echoGroup(t, 2)
	done := make(chan struct{})
	go func() { g.Run(func(net.Listener) error { return nil }); close(done) }()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := g.Stop(ctx, nil); err != nil {
			t.Errorf("Stop: %v", err)
		}
		<-done
	}()
	const n = 64
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range n {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	for _, c := range conns { // each answers once it is registered on a loop
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		var b [1]byte
		if _, err := io.ReadFull(c, b[:]); err != nil {
			t.Fatalf("echo: %v", err)
		}
	}
	a, b := g.Loops[0].n.Load(), g.Loops[1].n.Load()
	if a+b != n {
		t.Fatalf("the loops hold %d and %d connections, want %d in all", a, b, n)
	}
	if d := a - b; d > 2*handoverGap || d < -2*handoverGap {
		t.Errorf("the loops hold %d and %d of %d connections: more than %d apart", a, b, n, 2*handoverGap)
	}
}

// lowatProbe is a Handler that reports each accepted connection's TCP_NOTSENT_LOWAT.
type lowatProbe struct {
	l   *Loop[*int]
	got chan int
}

func (p *lowatProbe) Accept(fd int, _ syscall.Sockaddr) {
	v, err := syscall.GetsockoptInt(fd, syscall.IPPROTO_TCP, 25) // TCP_NOTSENT_LOWAT
	if err != nil {
		v = -2
	}
	p.got <- v
	syscall.Close(fd)
}
func (p *lowatProbe) Event(*int, uint32) {}
func (p *lowatProbe) Expire() bool       { return p.l.Stopping() }

// TestEngineNotsentLowat: Engine.NotsentLowat is set on every connection the loops accept, and
// a connection accepted without it keeps the kernel's (no limit, not 16 KiB).
func TestEngineNotsentLowat(t *testing.T) {
	for _, want := range []int64{16 << 10, 0} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		got := make(chan int, 1)
		e := &Engine[*int]{NotsentLowat: want}
		done := make(chan error, 1)
		go func() {
			_, err := e.Serve(ln, 1, slog.New(slog.NewTextHandler(io.Discard, nil)), "test",
				func(l *Loop[*int]) Handler[*int] { return &lowatProbe{l: l, got: got} },
				func(hl net.Listener) error { _, err := hl.Accept(); return err })
			done <- err
		}()
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		select {
		case v := <-got:
			if want > 0 && v != int(want) {
				t.Errorf("NotsentLowat %d: the accepted connection has %d", want, v)
			}
			if want == 0 && v == 16<<10 {
				t.Errorf("NotsentLowat 0: the accepted connection has %d", v)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no connection accepted in 10 s")
		}
		c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := e.Stop(ctx); err != nil {
			t.Error(err)
		}
		cancel()
		<-done
	}
}

// TestYieldCPU keeps a loop busy without parking (a posted function that posts itself again)
// for 20 ms: with a YieldCPU of 100 us it gave its core away (sched_yield) at least once, with
// none it never did.
func TestYieldCPU(t *testing.T) {
	for _, every := range []time.Duration{100 * time.Microsecond, 0} {
		_, g := echoGroup(t, 1)
		yields := 0 // the loop's goroutine's alone: OnYield and the posted function run there
		g.yieldCPU, g.onYield = every, func() { yields++ }
		go g.Run(func(hl net.Listener) error { _, err := hl.Accept(); return err })
		l := g.Loops[0]
		got := make(chan int, 1)
		var start time.Time
		var spin func()
		spin = func() {
			if start.IsZero() {
				start = time.Now()
			}
			if time.Since(start) < 20*time.Millisecond {
				l.Post(spin)
				return
			}
			got <- yields
		}
		l.Post(spin)
		select {
		case n := <-got:
			if every > 0 && n == 0 {
				t.Errorf("YieldCPU %v: no yield in 20 ms of a busy loop", every)
			}
			if every == 0 && n != 0 {
				t.Errorf("YieldCPU 0: %d yields", n)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the busy loop did not finish in 10 s")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := g.Stop(ctx, nil); err != nil {
			t.Error(err)
		}
		cancel()
	}
}
