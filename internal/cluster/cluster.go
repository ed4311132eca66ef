// Package cluster is edgecdn's membership: every edge, balancer, DNS server and steering
// service joins one hashicorp/memberlist gossip cluster, announcing its role, zone and HTTP
// address, and edges share their load about once a second.
package cluster

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
)

// Roles a member can have.
const (
	RoleEdge     = "edge"
	RoleLB       = "lb"
	RoleDNS      = "dns"
	RoleSteering = "steering"
)

// Meta is what a member announces about itself; it travels in memberlist's node metadata.
type Meta struct {
	Role    string `json:"r"`
	Zone    string `json:"z,omitempty"`
	HTTP    string `json:"h,omitempty"` // HOST:PORT others reach its HTTP server at
	Public  string `json:"p,omitempty"` // for balancers: the address clients use (--advertise)
	Version string `json:"v,omitempty"`
	// Draining is set when the member is shutting down: it still serves what it is sent, but
	// nobody should choose it any more (State Draining); it leaves the gossip after its drain.
	Draining bool `json:"d,omitempty"`
	// Starting is set while the member cannot serve yet (an edge whose origins' names have not
	// resolved: every miss would fail): nobody chooses it (State Starting) until it announces
	// that it can (SetStarting false). Draining wins over it.
	Starting bool `json:"s,omitempty"`
}

// Load is what an edge reports about its work, about once a second.
type Load struct {
	RPS       float64   `json:"rps"`    // requests per second
	EgressBps float64   `json:"egress"` // body bytes per second served
	Conns     int64     `json:"conns"`  // open client connections
	CacheFill float64   `json:"fill"`   // memory cache bytes / capacity
	At        time.Time `json:"at"`     // when it was measured (the sender's clock)
}

// State of a member as this node sees it.
type State string

// Member states.
const (
	Alive    State = "alive"
	Draining State = "draining" // alive, announced it is shutting down (Meta.Draining): choose it no more
	Starting State = "starting" // alive, announced it cannot serve yet (Meta.Starting): choose it not yet
	Suspect  State = "suspect"
	Dead     State = "dead"
	Left     State = "left"
)

// Member is one node of the cluster.
type Member struct {
	Name   string `json:"name"`
	Meta   `json:"meta"`
	State  State     `json:"state"`
	Gossip string    `json:"gossip"`         // memberlist address
	Load   *Load     `json:"load,omitempty"` // nil until a fresh report has arrived
	Since  time.Time `json:"since"`          // last state change
}

// Healthy reports whether the member is alive and not draining (a suspect is not yet dead, but
// gets no traffic; a draining member still answers, but gets nothing new).
func (m Member) Healthy() bool { return m.State == Alive }

// Live reports whether a member in state s is in the gossip (alive, starting, draining or
// suspect): one to send messages and events to, and to count as known.
func (s State) Live() bool { return s == Alive || s == Starting || s == Draining || s == Suspect }

// maxDeadJoins bounds the dead members one join attempt contacts.
const maxDeadJoins = 3

// ParseKey decodes a gossip key given as base64 (standard or URL alphabet) of 16, 24 or 32
// bytes, as `openssl rand -base64 32` prints.
func ParseKey(s string) ([]byte, error) {
	if s == "" {
		return nil, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil {
			if n := len(k); n == 16 || n == 24 || n == 32 {
				return k, nil
			}
			return nil, fmt.Errorf("gossip key: %d bytes, want 16, 24 or 32 (openssl rand -base64 32)", len(k))
		}
	}
	return nil, errors.New("gossip key: not base64 (openssl rand -base64 32)")
}

// ParseKeys decodes --gossip-key: one key, or comma-separated keys while they rotate. The first
// encrypts what this member sends; every one decrypts what it receives.
func ParseKeys(s string) (first []byte, others [][]byte, err error) {
	for i, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		k, err := ParseKey(f)
		if err != nil {
			return nil, nil, fmt.Errorf("key %d: %w", i+1, err)
		}
		if first == nil {
			first = k
		} else {
			others = append(others, k)
		}
	}
	return first, others, nil
}

// Cluster is this node's view of the cluster.
type Cluster struct {
	cfg   Config
	log   *slog.Logger
	ml    *memberlist.Memberlist
	queue *memberlist.TransmitLimitedQueue
	meta  atomic.Pointer[[]byte] // what NodeMeta announces
	// own is this member's metadata as announced last (meta decoded), guarded by ownMu, which
	// also orders the announcements (SetDraining, SetStarting).
	ownMu sync.Mutex
	own   Meta
	ev    eventState // cluster-wide events (broadcast.go)
	// dropAcks, in tests, is how many of this member's next acks are lost on the way.
	dropAcks atomic.Int32

	joined   atomic.Bool // another member seen, or the join attempts found nobody (first member)
	joinedCh chan struct{}

	mu       sync.RWMutex
	members  map[string]*Member
	leaving  map[string]time.Time // members that said goodbye
	watchers []chan struct{}

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	closed atomic.Bool
}

// Start creates the local member, joins cfg.Join (retrying in the background when none
// answers yet), and starts sharing load.
func Start(cfg Config) (*Cluster, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	meta, err := json.Marshal(cfg.Meta)
	if err != nil {
		return nil, err
	}
	if len(meta) > memberlist.MetaMaxSize {
		return nil, fmt.Errorf("cluster: metadata of %d bytes over memberlist's %d", len(meta), memberlist.MetaMaxSize)
	}
	host, portStr, err := net.SplitHostPort(cfg.GossipListen)
	if err != nil {
		return nil, fmt.Errorf("cluster: --gossip-listen %q: %w", cfg.GossipListen, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("cluster: --gossip-listen %q: bad port", cfg.GossipListen)
	}
	if host == "" {
		host = "0.0.0.0"
	}
	c := &Cluster{cfg: cfg, log: cfg.Logger, own: cfg.Meta, members: map[string]*Member{}, leaving: map[string]time.Time{}, joinedCh: make(chan struct{})}
	c.meta.Store(&meta)
	c.ev = eventState{key: eventKey(cfg.EventKey), seen: map[string]time.Time{}, acks: map[string]*ackSet{}, answers: map[string][]byte{}}
	c.ctx, c.cancel = context.WithCancel(context.Background())

	mc := memberlist.DefaultLANConfig()
	mc.Name = cfg.Name
	mc.BindAddr, mc.BindPort = host, port
	mc.AdvertisePort = port
	if cfg.Advertise != "" {
		ah, ap, err := net.SplitHostPort(cfg.Advertise)
		if err != nil {
			return nil, fmt.Errorf("cluster: --gossip-advertise %q: %w", cfg.Advertise, err)
		}
		mc.AdvertiseAddr = ah
		if mc.AdvertisePort, err = strconv.Atoi(ap); err != nil {
			return nil, fmt.Errorf("cluster: --gossip-advertise %q: bad port", cfg.Advertise)
		}
	} else if host != "0.0.0.0" && host != "::" {
		mc.AdvertiseAddr = host
	}
	mc.ProbeInterval = cfg.ProbeInterval
	mc.ProbeTimeout = cfg.ProbeTimeout
	mc.SuspicionMult = cfg.SuspicionMult
	mc.GossipInterval = 100 * time.Millisecond
	mc.PushPullInterval = 15 * time.Second
	mc.TCPTimeout = cfg.JoinTimeout
	mc.SecretKey = cfg.Key
	if len(cfg.OldKeys) > 0 {
		if mc.Keyring, err = memberlist.NewKeyring(cfg.OldKeys, cfg.Key); err != nil {
			return nil, fmt.Errorf("cluster: %w", err)
		}
	}
	if cfg.Transport != nil {
		mc.Transport = cfg.Transport
		if cfg.Advertise == "" {
			mc.AdvertiseAddr, mc.AdvertisePort = "", 0 // the transport's own bound address
		}
	}
	mc.Delegate = &delegate{c}
	mc.Events = &events{c}
	mc.Logger = log.New(slogWriter{cfg.Logger}, "", 0)
	ml, err := memberlist.Create(mc)
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	c.ml = ml
	c.queue = &memberlist.TransmitLimitedQueue{NumNodes: ml.NumMembers, RetransmitMult: 3}
	c.log.Info("gossip listening", "name", cfg.Name, "addr", c.GossipAddr(), "role", cfg.Meta.Role, "zone", cfg.Meta.Zone, "encrypted", len(cfg.Key) > 0, "accepted_keys", len(cfg.OldKeys)+min(len(cfg.Key), 1))

	if len(cfg.Join) == 0 {
		c.setJoined("no --join: the first member") // nobody to wait for
	}
	c.wg.Add(1)
	go c.loop()
	return c, nil
}

// Joined reports whether the member has joined the cluster: another member has been seen, or
// JoinAttempts attempts found nobody to join (the first member of a new cluster), or it was
// given nobody to join. A member is ready only once joined.
func (c *Cluster) Joined() bool { return c.joined.Load() }

// JoinedC returns a channel closed once Joined is true.
func (c *Cluster) JoinedC() <-chan struct{} { return c.joinedCh }

func (c *Cluster) setJoined(why string) {
	if c.joined.CompareAndSwap(false, true) {
		close(c.joinedCh)
		c.log.Info("joined", "how", why) // no memberlist call: NotifyJoin runs under its lock
	}
}

// join resolves every join address (a name may give many) and joins them all at once, each
// bounded by JoinTimeout; it returns how many answered.
func (c *Cluster) join() (int, error) {
	addrs := c.joinAddrs()
	// Also try members seen dead: this is how two sides of a healed partition find each
	// other again (memberlist alone never contacts a dead member). At most maxDeadJoins of
	// them, picked at random, per attempt: every member trying every dead one (each a push/pull
	// of the whole state) swamped a loaded 200-member cluster, where false deaths are many.
	c.mu.RLock()
	var dead []string
	for _, m := range c.members {
		if m.State == Dead && m.Gossip != "" {
			dead = append(dead, m.Gossip)
		}
	}
	c.mu.RUnlock()
	rand.Shuffle(len(dead), func(i, j int) { dead[i], dead[j] = dead[j], dead[i] })
	addrs = append(addrs, dead[:min(len(dead), maxDeadJoins)]...)
	self := c.GossipAddr()
	addrs = slices.DeleteFunc(addrs, func(a string) bool { return a == self })
	slices.Sort(addrs)
	addrs = slices.Compact(addrs)
	if len(addrs) == 0 {
		return 0, errors.New("no address to join")
	}
	// memberlist.Join tries addresses one after the other, each up to its TCP timeout: with
	// the dead pod addresses a headless Service still lists, that took seconds. One Join per
	// address, all at once.
	var wg sync.WaitGroup
	var n atomic.Int64
	errs := make([]error, len(addrs))
	for i, a := range addrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k, err := c.ml.Join([]string{a})
			n.Add(int64(k))
			errs[i] = err
		}()
	}
	wg.Wait()
	if n.Load() == 0 {
		return 0, errors.Join(errs...)
	}
	return int(n.Load()), nil
}

// firstJoin runs the join attempts of a starting member in the background: a member serves
// before it has joined, and reports Joined when it has.
func (c *Cluster) firstJoin() {
	for i := 1; i <= c.cfg.JoinAttempts; i++ {
		start := time.Now()
		n, err := c.join()
		if err == nil && n > 0 {
			c.log.Info("join contacted members", "contacted", n, "attempt", i)
			return // NotifyJoin of another member sets joined
		}
		c.log.Warn("joining: no member answered", "join", c.cfg.Join, "attempt", i, "of", c.cfg.JoinAttempts, "took", time.Since(start).Round(time.Millisecond), "err", err)
		if i < c.cfg.JoinAttempts {
			select {
			case <-c.ctx.Done():
				return
			case <-time.After(time.Second):
			}
		}
	}
	if c.ml.NumMembers() <= 1 {
		c.log.Warn("no member reachable: the first member of a new cluster; joining again every interval", "interval", c.cfg.RejoinInterval)
	}
	c.setJoined("alone after the join attempts")
}

func (c *Cluster) loop() {
	defer c.wg.Done()
	if len(c.cfg.Join) > 0 {
		c.firstJoin()
	}
	loadT := time.NewTicker(c.cfg.LoadInterval)
	defer loadT.Stop()
	rejoinT := time.NewTicker(c.cfg.RejoinInterval)
	defer rejoinT.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-loadT.C:
			if c.cfg.LoadFunc != nil {
				c.shareLoad(c.cfg.LoadFunc())
			}
			c.forget()
			c.forgetEvents(time.Now())
		case <-rejoinT.C:
			if len(c.cfg.Join) == 0 && !c.anyDead() {
				continue
			}
			if c.ml.NumMembers() <= 1 || c.anyDead() {
				c.join()
			} else if len(c.cfg.Join) > 0 {
				c.joinUnknown()
			}
		}
	}
}

func (c *Cluster) anyDead() bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, m := range c.members {
		if m.State == Dead {
			return true
		}
	}
	return false
}

type loadMsg struct {
	Name string `json:"n"`
	Load
}

const (
	msgLoad  = 'L' // a load report
	msgLeave = 'X' // "I am leaving": lets others tell a departure from a failure
)

func (c *Cluster) shareLoad(l Load) {
	if l.At.IsZero() {
		l.At = time.Now()
	}
	c.setLoad(c.cfg.Name, l)
	b, err := json.Marshal(loadMsg{Name: c.cfg.Name, Load: l})
	if err != nil {
		return
	}
	c.queue.QueueBroadcast(&broadcast{name: c.cfg.Name, msg: append([]byte{msgLoad}, b...)})
}

func (c *Cluster) setLoad(name string, l Load) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.members[name]
	if m == nil || (m.Load != nil && !l.At.After(m.Load.At)) {
		return
	}
	m.Load = &l
}

// forget drops members dead or departed for over ForgetAfter.
func (c *Cluster) forget() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for name, old := range c.members {
		if (old.State == Dead || old.State == Left) && time.Since(old.Since) > c.cfg.ForgetAfter {
			delete(c.members, name)
		}
	}
	for name, at := range c.leaving {
		if time.Since(at) > c.cfg.ForgetAfter {
			delete(c.leaving, name) // a goodbye memberlist's own news came before
		}
	}
}

// Members returns every member this node knows, the dead and departed included (for ForgetAfter),
// sorted by name. Loads older than the stale bound are dropped.
func (c *Cluster) Members() []Member {
	c.mu.RLock()
	defer c.mu.RUnlock()
	now := time.Now()
	out := make([]Member, 0, len(c.members))
	for _, m := range c.members {
		mm := *m
		if mm.Load != nil && now.Sub(mm.Load.At) > c.cfg.StaleLoad {
			mm.Load = nil
		}
		out = append(out, mm)
	}
	slices.SortFunc(out, func(a, b Member) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	return out
}

// Healthy returns the alive members with the given role ("" for any), sorted by name.
func (c *Cluster) Healthy(role string) []Member {
	ms := c.Members()
	return slices.DeleteFunc(ms, func(m Member) bool { return !m.Healthy() || (role != "" && m.Role != role) })
}

// Watch returns a channel that receives (without blocking the cluster; changes coalesce)
// whenever membership, a member's state or its metadata changes.
func (c *Cluster) Watch() <-chan struct{} {
	ch := make(chan struct{}, 1)
	c.mu.Lock()
	c.watchers = append(c.watchers, ch)
	c.mu.Unlock()
	return ch
}

// Follow is how a component keeps a snapshot of the cluster: it calls rebuild(true) now, then in
// a goroutine that wg tracks, rebuild(true) whenever the membership changes (Watch) and
// rebuild(false) every interval (loads; 0: never), until done is closed. rebuild builds a new
// snapshot and swaps it in; readers never see one half built.
func (c *Cluster) Follow(done <-chan struct{}, wg *sync.WaitGroup, interval time.Duration, rebuild func(membership bool)) {
	w := c.Watch()
	rebuild(true)
	wg.Add(1)
	go func() {
		defer wg.Done()
		var tick <-chan time.Time
		if interval > 0 {
			t := time.NewTicker(interval)
			defer t.Stop()
			tick = t.C
		}
		for {
			select {
			case <-done:
				return
			case <-w:
				rebuild(true)
			case <-tick:
				rebuild(false)
			}
		}
	}()
}

func (c *Cluster) notify() {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, ch := range c.watchers {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// Name returns the local member's name.
func (c *Cluster) Name() string { return c.cfg.Name }

// GossipAddr returns the local member's gossip address as others see it.
func (c *Cluster) GossipAddr() string {
	n := c.ml.LocalNode()
	return net.JoinHostPort(n.Addr.String(), strconv.Itoa(int(n.Port)))
}

// SetDraining announces that this member is shutting down: others see it as Draining and stop
// choosing it (balancers, steering, DNS, ring owners) while it still answers. It waits up to
// timeout for the announcement to go out.
func (c *Cluster) SetDraining(timeout time.Duration) error {
	return c.announce(timeout, func(m *Meta) { m.Draining = true })
}

// SetStarting announces whether this member can serve yet (Meta.Starting): while on, the
// others see it as Starting and choose it for nothing; it waits up to timeout for the
// announcement to go out.
func (c *Cluster) SetStarting(on bool, timeout time.Duration) error {
	return c.announce(timeout, func(m *Meta) { m.Starting = on })
}

// Starting reports whether this member announces that it cannot serve yet.
func (c *Cluster) Starting() bool {
	c.ownMu.Lock()
	defer c.ownMu.Unlock()
	return c.own.Starting
}

// announce changes this member's metadata with change and tells the cluster (memberlist's
// UpdateNode, waiting up to timeout for it to go out).
func (c *Cluster) announce(timeout time.Duration, change func(*Meta)) error {
	if c.closed.Load() {
		return nil
	}
	c.ownMu.Lock()
	defer c.ownMu.Unlock()
	meta := c.own
	change(&meta)
	if meta == c.own {
		return nil
	}
	b, err := json.Marshal(meta)
	if err != nil {
		return err
	}
	c.own = meta
	c.meta.Store(&b)
	return c.ml.UpdateNode(timeout)
}

// Drain is a server's graceful stop as the cluster sees it, done once: it sets stopping (when
// it was set already, Drain does nothing more), runs then (nil: nothing; the edge samples its
// load there so that the announcement carries its duress) and, once the server has joined a
// cluster, announces this member as draining (SetDraining, a second at most).
func Drain(stopping *atomic.Bool, c *atomic.Pointer[Cluster], log *slog.Logger, then func()) {
	if stopping.Swap(true) {
		return
	}
	if then != nil {
		then()
	}
	if c := c.Load(); c != nil {
		if err := c.SetDraining(time.Second); err != nil {
			log.Warn("announcing the drain", "err", err)
		}
	}
	log.Info("draining")
}

// Stop is the start of a server's shutdown as the cluster sees it: it sets stopping (not
// ready; announcing a drain now would only delay the leave) and, once the server has joined a
// cluster, leaves it (Leave, 2 s a step) so that the others move its work at once while it
// finishes what it serves.
func Stop(stopping *atomic.Bool, c *atomic.Pointer[Cluster]) error {
	stopping.Store(true)
	if c := c.Load(); c != nil {
		return c.Leave(2 * time.Second)
	}
	return nil
}

// Leave tells the cluster this member is going (others see it Left at once, rather than Dead
// after the failure detector's timeout) and stops gossiping. timeout bounds each of its two
// steps: the goodbye to every member, then memberlist's leave broadcast.
func (c *Cluster) Leave(timeout time.Duration) error {
	if c.closed.Load() {
		return nil // already stopped: memberlist panics on a leave after shutdown
	}
	// memberlist hands its event delegate a departure and a failure alike: say goodbye to
	// every member directly first (TCP, so it arrives before memberlist's own broadcast), so
	// that each records Left, never Dead.
	bye := append([]byte{msgLeave}, c.cfg.Name...)
	var wg sync.WaitGroup
	// From this node's own copy of the members: memberlist.Members hands out its live nodes,
	// which it goes on changing.
	for _, m := range c.Members() {
		if m.Name == c.cfg.Name || !m.State.Live() {
			continue
		}
		host, port, err := net.SplitHostPort(m.Gossip)
		p, perr := strconv.Atoi(port)
		ip := net.ParseIP(host)
		if err != nil || perr != nil || ip == nil {
			continue
		}
		n := &memberlist.Node{Name: m.Name, Addr: ip, Port: uint16(p)}
		wg.Add(1)
		go func() { defer wg.Done(); c.ml.SendReliable(n, bye) }()
	}
	waitTimeout(&wg, timeout)
	err := c.ml.Leave(timeout)
	return errors.Join(err, c.Shutdown())
}

// waitTimeout waits for wg, at most d.
func waitTimeout(wg *sync.WaitGroup, d time.Duration) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
}

// Shutdown stops gossiping without announcing it (others detect the failure).
func (c *Cluster) Shutdown() error {
	c.closed.Store(true)
	c.cancel()
	c.wg.Wait()
	return c.ml.Shutdown()
}

// delegate adapts memberlist's callbacks: metadata, load messages and state exchange.
type delegate struct{ c *Cluster }

var _ memberlist.Delegate = (*delegate)(nil)

func (d *delegate) NodeMeta(limit int) []byte { return *d.c.meta.Load() }

func (d *delegate) NotifyMsg(b []byte) {
	if len(b) < 2 {
		return
	}
	switch b[0] {
	case msgEvent, msgResend:
		d.c.receiveEvent(b)
		return
	case msgAck:
		d.c.receiveAck(b)
		return
	}
	if b[0] == msgLeave {
		name := string(b[1:])
		d.c.mu.Lock()
		d.c.leaving[name] = time.Now()
		// The member is leaving now: it is Left at once, whether memberlist's own news of the
		// departure comes after this (its NotifyLeave then finds the goodbye) or came before
		// (and was taken for a failure).
		m := d.c.members[name]
		upgraded := m != nil && m.State != Left
		if upgraded {
			m.State, m.Since, m.Load = Left, time.Now(), nil
		}
		d.c.mu.Unlock()
		if upgraded {
			d.c.notify()
		}
		return
	}
	if b[0] != msgLoad {
		return
	}
	var m loadMsg
	if json.Unmarshal(b[1:], &m) != nil || m.Name == "" || m.Name == d.c.cfg.Name {
		return
	}
	d.c.setLoad(m.Name, m.Load)
}

func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte {
	return d.c.queue.GetBroadcasts(overhead, limit)
}

// pushPullState is what members exchange in memberlist's push/pull: the loads this node
// knows, so that a joining member has them at once, and the recent events, so that a member
// that was away gets those it missed.
type pushPullState struct {
	Loads  []loadMsg `json:"loads"`
	Events [][]byte  `json:"events,omitempty"` // signed messages
}

// LocalState sends the loads and recent events this node knows.
func (d *delegate) LocalState(join bool) []byte {
	var st pushPullState
	for _, m := range d.c.Members() {
		if m.Load != nil {
			st.Loads = append(st.Loads, loadMsg{Name: m.Name, Load: *m.Load})
		}
	}
	st.Events = d.c.recentEvents()
	b, _ := json.Marshal(st)
	return b
}

func (d *delegate) MergeRemoteState(buf []byte, join bool) {
	var st pushPullState
	if json.Unmarshal(buf, &st) != nil {
		// A member of an older version sends its loads as a bare list.
		if json.Unmarshal(buf, &st.Loads) != nil {
			return
		}
	}
	for _, m := range st.Loads {
		if m.Name != d.c.cfg.Name {
			d.c.setLoad(m.Name, m.Load)
		}
	}
	for _, e := range st.Events {
		if len(e) > 0 && e[0] == msgEvent {
			d.c.receiveEvent(e)
		}
	}
}

// events adapts memberlist's membership events.
type events struct{ c *Cluster }

var _ memberlist.EventDelegate = (*events)(nil)

func (e *events) NotifyJoin(n *memberlist.Node) {
	e.c.mu.Lock()
	delete(e.c.leaving, n.Name) // back again
	e.c.mu.Unlock()
	e.c.update(n, Alive)
	if n.Name != e.c.cfg.Name {
		e.c.setJoined("another member seen: " + n.Name)
	}
}
func (e *events) NotifyUpdate(n *memberlist.Node) { e.c.update(n, stateOf(n)) }
func (e *events) NotifyLeave(n *memberlist.Node) {
	// memberlist's Node never carries left or dead (its State field stays alive): the goodbye
	// message, or a drain announced before, tells a departure from a failure.
	e.c.mu.Lock()
	_, bye := e.c.leaving[n.Name]
	delete(e.c.leaving, n.Name)
	draining := e.c.members[n.Name] != nil && e.c.members[n.Name].State == Draining
	e.c.mu.Unlock()
	st := Dead
	if bye || draining {
		st = Left
	}
	e.c.update(n, st)
}

func stateOf(n *memberlist.Node) State {
	switch n.State {
	case memberlist.StateSuspect:
		return Suspect
	case memberlist.StateDead:
		return Dead
	case memberlist.StateLeft:
		return Left
	}
	return Alive
}

func (c *Cluster) update(n *memberlist.Node, st State) {
	var meta Meta
	if err := json.Unmarshal(n.Meta, &meta); err != nil {
		c.log.Warn("member with unreadable metadata", "name", n.Name, "err", err)
	}
	c.mu.Lock()
	m := c.members[n.Name]
	if m == nil {
		m = &Member{Name: n.Name}
		c.members[n.Name] = m
	}
	if st == Alive && meta.Draining {
		st = Draining
	} else if st == Alive && meta.Starting {
		st = Starting
	}
	if m.State != st {
		m.Since = time.Now()
	}
	m.Meta, m.State = meta, st
	m.Gossip = net.JoinHostPort(n.Addr.String(), strconv.Itoa(int(n.Port)))
	if st != Alive && st != Draining && st != Starting {
		m.Load = nil
	}
	c.mu.Unlock()
	c.log.Info("member", "name", n.Name, "state", st, "role", meta.Role, "zone", meta.Zone, "http", meta.HTTP)
	c.notify()
}

// broadcast is a load report; a newer report from the same member replaces an older one
// still queued.
type broadcast struct {
	name string
	msg  []byte
}

func (b *broadcast) Invalidates(o memberlist.Broadcast) bool {
	ob, ok := o.(*broadcast)
	return ok && ob.name == b.name
}
func (b *broadcast) Message() []byte { return b.msg }
func (b *broadcast) Finished()       {}

// slogWriter turns memberlist's log lines into debug records ("[WARN]" ones into warnings).
type slogWriter struct{ l *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	s := string(p)
	if len(s) > 0 && s[len(s)-1] == '\n' {
		s = s[:len(s)-1]
	}
	switch {
	case len(s) > 6 && s[:6] == "[WARN]", len(s) > 5 && s[:5] == "[ERR]":
		w.l.Warn(s, "source", "memberlist")
	default:
		w.l.Debug(s, "source", "memberlist")
	}
	return len(p), nil
}

var _ io.Writer = slogWriter{}
