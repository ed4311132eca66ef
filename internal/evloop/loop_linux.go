package evloop

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/valyala/fasthttp"

	"edgecdn/internal/httpx"
)

const (
	// Tick is how often a loop checks deadlines (Handler.Expire) and whether it should stop.
	Tick = 100 * time.Millisecond
	// Yield is how long a loop runs rounds of events without parking before it gives its P
	// to the rest of the process (runtime.Gosched).
	Yield = time.Millisecond
	// EpollET is EPOLLET: a loop's connections are edge-triggered.
	EpollET = 1 << 31
	// ReadableEvents are the events after which a socket may have something to read.
	ReadableEvents = syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLHUP | syscall.EPOLLERR

	epollExcl  = 1 << 28 // EPOLLEXCLUSIVE: one loop woken per new connection
	loopEvents = 256

	// acceptBatch is how many connections a loop accepts at most per wake-up. The listener is
	// in every loop's epoll (EPOLLEXCLUSIVE), so a burst wakes idle loops rather than piling
	// up on the first one awake, and a busy loop sees it ready at each of its rounds. One per
	// round (nginx without multi_accept) was too few: a loop busy with 1 MB answers to the
	// connections it has takes longer per round with each one it accepts, and wrk's 256
	// connections opened at once waited seconds in the backlog behind them (p99 0.9-1.6 s,
	// 48-57 requests over wrk's 2 s timeout in 5 s at 1 MB); 16 bounds what one loop takes of
	// a burst while the rest of it waits a few rounds, not hundreds.
	acceptBatch = 16
	// handoverGap is how many connections more than the emptiest loop of its group a loop may
	// hold and still keep what it accepts; above it, it hands each one it accepts to that
	// loop (Post). EPOLLEXCLUSIVE wakes the first loop waiting in the order the loops joined
	// the listener, and batches let it take most of a burst: wrk's 256 connections opened at
	// once (2 KB playlist, two loops, three runs of 4 s) landed 68/188, 73/183 and 79/177 with
	// batches alone; taking one per wake-up above a share left 66/190 in one run of three, the
	// loop first in line being woken for nearly every connection. Only the excess moves, so a
	// balanced group pays nothing for it.
	handoverGap = 4
)

// A Handler is what a loop serves its connections with. Its methods run on the loop's goroutine.
type Handler[C comparable] interface {
	// Accept takes a new client connection fd (non-blocking, with TCP_NODELAY and keep-alive
	// on), accepted from sa: it registers it (Loop.Register) or closes it.
	Accept(fd int, sa syscall.Sockaddr)
	// Event is the readiness ev (epoll's events) of c, a connection registered.
	Event(c C, ev uint32)
	// Expire runs every Tick: it closes what is past its deadline and, once the loop is
	// stopping, idle client connections; it reports whether the loop may end (stopping, and
	// nothing left to serve), having closed what it holds.
	Expire() (done bool)
}

// Loop is one epoll instance and the goroutine that runs it. Its fields and methods are for its
// goroutine (its Handler's methods), but Post, which any goroutine may call.
type Loop[C comparable] struct {
	Ep  int       // the epoll instance
	Now time.Time // when the current batch of events came

	g         *Group[C]
	h         Handler[C]
	conns     map[int]C
	mu        sync.Mutex // guards conns against Kill's snapshot, the one access from elsewhere
	stopping  bool
	listening bool
	paused    bool // accept failed: the listener is out of the epoll until the next tick
	date      []byte
	dateAt    int64

	// park's state: an epoll instance watching Ep (wake: armed only while parked) in Go's
	// poller for good, and the events its RawConn.Read function found.
	wake   *os.File
	wakeFd int // wake's descriptor (os.File.Fd would make it blocking)
	wakeRC syscall.RawConn
	events []syscall.EpollEvent
	nev    int
	everr  error
	waitFn func(uintptr) bool // l.poll, bound once

	// n is how many connections the loop holds or has been handed and not yet registered:
	// what other loops read to find the emptiest one.
	n atomic.Int64

	efd    int // an eventfd in the epoll: Post's wake-up
	pmu    sync.Mutex
	posted []func()
	run1   []func()
	ended  bool // Post runs nothing more
}

// Group is the loops serving one listener.
type Group[C comparable] struct {
	Loops []*Loop[C]
	// Handoffs is what the fasthttp server serves: the connections the loops give it.
	Handoffs *HandoffListener

	log    *slog.Logger
	name   string
	wg     sync.WaitGroup
	stop   chan struct{}
	lfd    int
	ln     net.Listener
	once   sync.Once
	halted atomic.Bool
	lowat  int64 // TCP_NOTSENT_LOWAT of accepted connections (Engine.NotsentLowat); 0: none
	// yieldCPU and onYield are Engine.YieldCPU and Engine.OnYield.
	yieldCPU time.Duration
	onYield  func()
}

// Engine is a server's event loop engine: its loops once they serve, and what a Shutdown that
// comes before them or runs past its deadline leaves for them. The zero value is ready to use.
type Engine[C comparable] struct {
	// NotsentLowat, when above 0, is set on each connection accepted (httpx.SetNotsentLowat);
	// set it before Serve.
	NotsentLowat int64
	// YieldCPU, when above 0, is how long a loop runs rounds of events without parking
	// before it gives its core to whatever other thread of the machine is waiting for one
	// (sched_yield(2)), and OnYield, when set, runs on the loop's goroutine each time it does.
	// A loop with work never blocks, so without it the kernel takes the core back only at
	// the end of a time slice (milliseconds), and every connection of the loop and of the
	// thread waiting (a load generator on the same cores, a sidecar, another server) waits
	// that long; with it they wait at most about YieldCPU. With nothing else waiting the call
	// returns at once. Set both before Serve.
	YieldCPU time.Duration
	OnYield  func()

	group  atomic.Pointer[Group[C]]
	shut   atomic.Bool // Stop was called (before Serve, perhaps)
	killed atomic.Bool // Stop's deadline passed
}

// Serve serves ln with n loops (0: DefaultLoops) of the Handlers newHandler returns and the
// connections they hand over with serve (a fasthttp server's Serve), until Stop; served false
// means ln is not a listener the loops can serve and the caller serves it otherwise.
func (e *Engine[C]) Serve(ln net.Listener, n int, log *slog.Logger, name string, newHandler func(*Loop[C]) Handler[C], serve func(net.Listener) error) (served bool, err error) {
	if n <= 0 {
		n = DefaultLoops()
	}
	g, ok, err := NewGroup(ln, n, log, name, newHandler)
	if !ok || err != nil {
		return ok, err
	}
	g.lowat = e.NotsentLowat
	g.yieldCPU, g.onYield = e.YieldCPU, e.OnYield
	e.group.Store(g)
	if e.shut.Load() {
		g.Halt() // Stop came first
	}
	g.Run(serve)
	return true, nil
}

// Stop makes the loops stop accepting (the port refuses connections at once), close idle
// connections, finish what is under way and return; at ctx's end Killed turns true, what is
// left is cut, and the error returned wraps ctx's.
func (e *Engine[C]) Stop(ctx context.Context) error {
	e.shut.Store(true)
	g := e.group.Load()
	if g == nil {
		return nil // not serving yet: Serve sees shut and stops at once
	}
	return g.Stop(ctx, func() { e.killed.Store(true) })
}

// Killed reports whether Stop's deadline passed: what the loops still start should fail.
func (e *Engine[C]) Killed() bool { return e.killed.Load() }

// Connections is how many client connections loop i holds (0 before Serve, or past the last
// loop): a gauge per loop shows whether they share the load.
func (e *Engine[C]) Connections(i int) int64 {
	g := e.group.Load()
	if g == nil || i < 0 || i >= len(g.Loops) {
		return 0
	}
	return g.Loops[i].n.Load()
}

// Handoffs is the listener the connections handed over go to; nil before Serve.
func (e *Engine[C]) Handoffs() *HandoffListener { return e.group.Load().Handoffs }

// NewGroup makes n loops (at least one) serving ln, each with the Handler newHandler returns
// for it; ok false means ln is not a listener the loops can serve (not TCP), and the caller
// serves it otherwise. name prefixes the loops' log messages.
func NewGroup[C comparable](ln net.Listener, n int, log *slog.Logger, name string, newHandler func(*Loop[C]) Handler[C]) (g *Group[C], ok bool, err error) {
	tl, isTCP := ln.(*net.TCPListener)
	if !isTCP {
		return nil, false, nil
	}
	rc, err := tl.SyscallConn()
	if err != nil {
		return nil, false, nil
	}
	lfd := -1
	var derr error
	if err := rc.Control(func(fd uintptr) { lfd, derr = syscall.Dup(int(fd)) }); err != nil || derr != nil {
		return nil, false, nil
	}
	syscall.SetNonblock(lfd, true)
	syscall.CloseOnExec(lfd)
	g = &Group[C]{Handoffs: NewHandoffListener(ln.Addr()), log: log, name: name, stop: make(chan struct{}), lfd: lfd, ln: ln}
	for range max(n, 1) {
		l := &Loop[C]{Ep: -1, efd: -1, g: g, conns: map[int]C{}, listening: true}
		g.Loops = append(g.Loops, l)
		if err = l.open(lfd); err != nil {
			g.closeLoops()
			syscall.Close(lfd)
			return nil, true, err
		}
		l.h = newHandler(l)
	}
	return g, true, nil
}

func (l *Loop[C]) open(lfd int) error {
	var err error
	if l.Ep, err = syscall.EpollCreate1(syscall.EPOLL_CLOEXEC); err != nil {
		return err
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | epollExcl, Fd: int32(lfd)}
	if err := syscall.EpollCtl(l.Ep, syscall.EPOLL_CTL_ADD, lfd, &ev); err != nil {
		return err
	}
	r, _, e := syscall.Syscall(syscall.SYS_EVENTFD2, 0, syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if e != 0 {
		return e
	}
	l.efd = int(r)
	ev = syscall.EpollEvent{Events: syscall.EPOLLIN | EpollET, Fd: int32(l.efd)}
	if err := syscall.EpollCtl(l.Ep, syscall.EPOLL_CTL_ADD, l.efd, &ev); err != nil {
		return err
	}
	l.openWake()
	return nil
}

// openWake makes park's wake instance: an epoll instance watching Ep with no events (disarmed),
// non-blocking, in Go's poller as an os.File. Without it (an error: none is expected), park
// blocks in epoll_wait.
func (l *Loop[C]) openWake() {
	wep, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return
	}
	ev := syscall.EpollEvent{Fd: int32(l.Ep)}
	if syscall.EpollCtl(wep, syscall.EPOLL_CTL_ADD, l.Ep, &ev) != nil || syscall.SetNonblock(wep, true) != nil {
		syscall.Close(wep)
		return
	}
	f := os.NewFile(uintptr(wep), "epoll")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return
	}
	l.wake, l.wakeFd, l.wakeRC = f, wep, rc
}

// armWake arms (EPOLLIN) or disarms (no events) the wake instance's watch of Ep.
func (l *Loop[C]) armWake(on bool) {
	ev := syscall.EpollEvent{Fd: int32(l.Ep)}
	if on {
		ev.Events = syscall.EPOLLIN
	}
	syscall.RawSyscall6(syscall.SYS_EPOLL_CTL, uintptr(l.wakeFd), syscall.EPOLL_CTL_MOD, uintptr(l.Ep), uintptr(unsafe.Pointer(&ev)), 0, 0)
}

func (g *Group[C]) closeLoops() {
	for _, l := range g.Loops {
		if l.wake != nil {
			l.wake.Close()
		}
		if l.Ep >= 0 {
			syscall.Close(l.Ep)
		}
		if l.efd >= 0 {
			syscall.Close(l.efd)
		}
	}
}

// Run serves: serve serves the connections handed over (a fasthttp server's Serve on
// Handoffs) while the loops run; Run returns when the loops have stopped (Halt) and serve has
// returned.
func (g *Group[C]) Run(serve func(net.Listener) error) {
	done := make(chan error, 1)
	go func() { done <- serve(g.Handoffs) }()
	for _, l := range g.Loops {
		g.wg.Add(1)
		go func() { defer g.wg.Done(); l.run() }()
	}
	g.wg.Wait()
	syscall.Close(g.lfd)
	g.Handoffs.Close()
	<-done
}

// Halt tells the loops to stop and closes the listening socket: shutdown(2) on it refuses new
// connections at once, even while the loops still hold its descriptor in their epolls.
func (g *Group[C]) Halt() {
	g.once.Do(func() {
		g.halted.Store(true)
		close(g.stop)
		syscall.Shutdown(g.lfd, syscall.SHUT_RD)
		g.ln.Close()
	})
}

// Stop halts the loops and waits until they have finished what is under way, or until ctx is
// done: then kill runs (a caller's flag, say, for its loops to fail what they still start) and
// every connection left is shut down, and the error returned wraps ctx's.
func (g *Group[C]) Stop(ctx context.Context, kill func()) error {
	g.Halt()
	finished := make(chan struct{})
	go func() { g.wg.Wait(); close(finished) }()
	select {
	case <-finished:
		return nil
	case <-ctx.Done():
		if kill != nil {
			kill()
		}
		for _, l := range g.Loops {
			l.kill()
		}
		<-finished
		return fmt.Errorf("%s: connections still open at the shutdown deadline: %w", g.name, ctx.Err())
	}
}

func (l *Loop[C]) kill() {
	// Run on the stopping goroutine: shutting the sockets down (not closing them: the loop still
	// owns the descriptors) makes every pending call fail at once.
	l.mu.Lock()
	fds := make([]int, 0, len(l.conns))
	for fd := range l.conns {
		fds = append(fds, fd)
	}
	l.mu.Unlock()
	for _, fd := range fds {
		syscall.Shutdown(fd, syscall.SHUT_RDWR)
	}
}

// Stopping reports whether the loop is stopping: it no longer accepts, and what it answers
// should close its connection.
func (l *Loop[C]) Stopping() bool { return l.stopping }

// Conns is the loop's connections by descriptor (for Expire; the Handler may close them as it
// goes through).
func (l *Loop[C]) Conns() map[int]C { return l.conns }

// Register adds fd, c's socket, to the loop (edge-triggered, for reading and writing).
func (l *Loop[C]) Register(fd int, c C) bool {
	l.mu.Lock()
	l.conns[fd] = c
	l.mu.Unlock()
	l.n.Add(1)
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLOUT | syscall.EPOLLRDHUP | EpollET, Fd: int32(fd)}
	if err := syscall.EpollCtl(l.Ep, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
		l.forget(fd)
		return false
	}
	return true
}

func (l *Loop[C]) forget(fd int) {
	l.mu.Lock()
	_, ok := l.conns[fd]
	delete(l.conns, fd)
	l.mu.Unlock()
	if ok {
		l.n.Add(-1)
	}
}

// Close closes *fd unless it is closed already (-1), and reports whether it did.
func (l *Loop[C]) Close(fd *int) bool {
	if *fd < 0 {
		return false
	}
	l.forget(*fd)
	syscall.Close(*fd)
	*fd = -1
	return true
}

// Release takes *fd out of the loop and returns it as a *net.TCPConn in Go's poller; *fd is -1
// after it.
func (l *Loop[C]) Release(fd *int) (*net.TCPConn, error) {
	syscall.EpollCtl(l.Ep, syscall.EPOLL_CTL_DEL, *fd, nil)
	l.forget(*fd)
	f := os.NewFile(uintptr(*fd), "")
	*fd = -1
	nc, err := net.FileConn(f) // a duplicate of the descriptor, in Go's poller
	f.Close()
	if err != nil {
		return nil, err
	}
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		nc.Close()
		return nil, errors.New("not a TCP connection")
	}
	return tc, nil
}

// Post runs fn on the loop's goroutine, soon, and reports true; any goroutine may call it. Once
// the loop has ended it runs nothing and reports false. What is posted while the loop ends runs
// as it ends (Stopping true).
func (l *Loop[C]) Post(fn func()) bool {
	l.pmu.Lock()
	if l.ended {
		l.pmu.Unlock()
		return false
	}
	l.posted = append(l.posted, fn)
	l.pmu.Unlock()
	var one = [8]byte{1}
	syscall.Write(l.efd, one[:])
	return true
}

// Date is the Date field's value now.
func (l *Loop[C]) Date() []byte {
	if sec := l.Now.Unix(); sec != l.dateAt || l.date == nil {
		l.dateAt = sec
		l.date = fasthttp.AppendHTTPDate(l.date[:0], l.Now)
	}
	return l.date
}

// poll is park's RawConn.Read function: a non-blocking epoll_wait, and false (wait for the
// instance to become readable) when it found nothing.
func (l *Loop[C]) poll(uintptr) bool {
	l.nev, l.everr = epollWaitNow(l.Ep, l.events)
	return l.nev > 0 || l.everr != nil
}

func (l *Loop[C]) run() {
	l.events = make([]syscall.EpollEvent, loopEvents)
	events := l.events
	lastTick := time.Now()
	lastYield := lastTick
	lastCPU := lastTick
	lfd := l.g.lfd
	l.waitFn = l.poll
	tick := lastTick.Add(Tick)
	for {
		n, err := epollWaitNow(l.Ep, events)
		if n <= 0 && err == nil {
			n, err = l.park(tick)
			lastYield = time.Now() // parked: the P went to whatever wanted it
			lastCPU = lastYield    // and the thread slept
		}
		if err != nil && err != syscall.EINTR {
			l.g.log.Error(l.g.name+": epoll_wait", "err", err)
			return
		}
		l.Now = time.Now()
		for i := 0; i < n; i++ {
			fd := int(events[i].Fd)
			switch fd {
			case lfd:
				if l.listening {
					l.accept()
				}
				continue
			case l.efd:
				l.runPosted()
				continue
			}
			if c, ok := l.conns[fd]; ok {
				l.h.Event(c, events[i].Events)
			}
		}
		// Past YieldCPU without parking, the thread gives its core to any other thread waiting
		// for one (Engine.YieldCPU).
		if l.g.yieldCPU > 0 && l.Now.Sub(lastCPU) >= l.g.yieldCPU {
			schedYield()
			lastCPU = l.Now
			if l.g.onYield != nil {
				l.g.onYield()
			}
		}
		// A loop with work never blocks, so it gives its P to whatever else is runnable (a
		// visit at fasthttp, a fill, the garbage collector) once it has run Yield without
		// parking, rather than after the 10 ms the runtime lets a goroutine run before
		// preempting it. Not after every round: Gosched wakes a thread for any idle P
		// (futex, then that thread finds nothing and sleeps again), which is most rounds of a
		// balancer with one loop on two Ps.
		if l.Now.Sub(lastYield) >= Yield {
			runtime.Gosched()
			lastYield = l.Now
		}
		if l.Now.Sub(lastTick) < Tick {
			continue
		}
		lastTick = l.Now
		tick = lastTick.Add(Tick)
		if !l.stopping {
			select {
			case <-l.g.stop:
				l.stopping = true
				if l.listening {
					syscall.EpollCtl(l.Ep, syscall.EPOLL_CTL_DEL, lfd, nil)
				}
				l.listening = false
			default:
			}
		}
		if l.paused && !l.stopping {
			ev := syscall.EpollEvent{Events: syscall.EPOLLIN | epollExcl, Fd: int32(lfd)}
			if syscall.EpollCtl(l.Ep, syscall.EPOLL_CTL_ADD, lfd, &ev) == nil {
				l.paused, l.listening = false, true
			}
		}
		if l.stopping {
			l.runPosted() // what was posted before the stop is not lost to it
		}
		if l.h.Expire() {
			l.pmu.Lock()
			l.ended = true
			l.pmu.Unlock()
			l.runPosted()
			if l.wake != nil {
				l.wake.Close()
			}
			syscall.Close(l.Ep)
			syscall.Close(l.efd)
			return
		}
	}
}

// park waits until the epoll instance has events or tick is due, and returns the events. The
// loop's goroutine parks as a goroutine waiting on a socket does, holding no thread and no P:
// Go's poller holds the wake instance, an epoll instance watching Ep, and park arms that
// watch (EPOLL_CTL_MOD) for the wait and disarms it after, so that while the loop runs its
// events do not reach the poller. Blocking in epoll_wait instead holds both: the runtime
// takes the P back from the system call after 10 ms and the wake-up must find one again,
// which on an edge serving one request at a time (sequential curls) doubled the CPU per
// request against fasthttp's goroutines (33-42 clock ticks per 200 requests against 16-17;
// parked in the poller 17-20). Kept armed, every event wakes the runtime's netpoller too,
// which under wrk (100 KB, 256 connections) cost 15-25% of the edge's req/s. Both calls are
// raw: a system call entered the runtime's way wakes sysmon from the deep sleep it takes
// while every P is idle, and so woken it polls every 20 us for the next millisecond (50
// timer interrupts and context switches); the park before this one, which put a duplicate of
// Ep into the poller for each wait and closed it after, did that on most parks of a loop in
// an otherwise idle process (edge behind the balancer, 1 MB at 64 connections: 1.2 sysmon
// sleeps per request).
func (l *Loop[C]) park(tick time.Time) (int, error) {
	if l.wake == nil {
		return syscall.EpollWait(l.Ep, l.events, max(int(time.Until(tick)/time.Millisecond), 1))
	}
	l.armWake(true)
	l.wake.SetReadDeadline(tick)
	l.nev, l.everr = 0, nil
	l.wakeRC.Read(l.waitFn) // os.ErrDeadlineExceeded at the tick
	l.armWake(false)
	return l.nev, l.everr
}

func (l *Loop[C]) runPosted() {
	var b [8]byte
	syscall.Read(l.efd, b[:])
	l.pmu.Lock()
	l.run1, l.posted = l.posted, l.run1[:0]
	l.pmu.Unlock()
	for i, fn := range l.run1 {
		fn()
		l.run1[i] = nil
	}
}

// emptiest is the loop of the group that holds the fewest connections, l itself when no other
// holds handoverGap fewer than it.
func (l *Loop[C]) emptiest() *Loop[C] {
	best, bn := l, l.n.Load()-handoverGap
	for _, o := range l.g.Loops {
		if on := o.n.Load(); on < bn {
			best, bn = o, on
		}
	}
	return best
}

// handOver gives the connection fd, accepted from sa, to the emptiest loop of the group when
// this one holds handoverGap more than it, and reports whether it did; the connection is then
// that loop's to register or close.
func (l *Loop[C]) handOver(fd int, sa syscall.Sockaddr) bool {
	if len(l.g.Loops) < 2 {
		return false
	}
	o := l.emptiest()
	if o == l {
		return false
	}
	o.n.Add(1) // counted at once, so that the rest of a burst spreads over the loops
	if !o.Post(func() {
		o.n.Add(-1) // Register counts it again
		o.h.Accept(fd, sa)
	}) {
		o.n.Add(-1) // o has ended: this loop keeps it
		return false
	}
	return true
}

func (l *Loop[C]) accept() {
	for range acceptBatch {
		fd, sa, err := syscall.Accept4(l.g.lfd, syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC)
		if err != nil {
			if err == syscall.EINTR || err == syscall.ECONNABORTED {
				continue
			}
			if err != syscall.EAGAIN && l.g.halted.Load() {
				syscall.EpollCtl(l.Ep, syscall.EPOLL_CTL_DEL, l.g.lfd, nil) // the listener was shut down
				l.listening = false
			} else if err != syscall.EAGAIN {
				// Out of descriptors (EMFILE, ENFILE) or memory: the connection waits in the
				// backlog, and the listener, readable all the while, leaves this loop's epoll
				// until the next tick rather than waking it in a loop.
				l.g.log.Warn(l.g.name+": accept", "err", err)
				if syscall.EpollCtl(l.Ep, syscall.EPOLL_CTL_DEL, l.g.lfd, nil) == nil {
					l.listening = false
					l.paused = true
				}
			}
			return
		}
		syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
		syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_KEEPALIVE, 1)
		httpx.SetNotsentLowat(fd, l.g.lowat)
		if !l.handOver(fd, sa) {
			l.h.Accept(fd, sa)
		}
	}
}

// RawRead is read(2) without the runtime's system call bookkeeping (the socket is
// non-blocking: the call never blocks).
func RawRead(fd int, p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	r, _, e := syscall.RawSyscall(syscall.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)))
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}

// WriteFrom writes p[*off:] to the non-blocking socket fd, advancing *off: nil when all of it
// went, syscall.EAGAIN when the socket's send buffer is full, or the write's error.
func WriteFrom(fd int, p []byte, off *int) error {
	for *off < len(p) {
		r, _, e := syscall.RawSyscall(syscall.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&p[*off])), uintptr(len(p)-*off))
		switch {
		case e == syscall.EINTR:
		case e != 0:
			return e
		default:
			*off += int(r)
		}
	}
	return nil
}

// schedYield is sched_yield(2): the thread goes behind the others waiting for its core.
func schedYield() { syscall.RawSyscall(syscall.SYS_SCHED_YIELD, 0, 0, 0) }

// epollWaitNow polls without blocking (and without the runtime's system call bookkeeping).
func epollWaitNow(ep int, events []syscall.EpollEvent) (int, error) {
	r, _, e := syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, uintptr(ep), uintptr(unsafe.Pointer(unsafe.SliceData(events))), uintptr(len(events)), 0, 0, 0)
	if e != 0 {
		if e == syscall.EINTR {
			return 0, nil
		}
		return 0, e
	}
	return int(r), nil
}
