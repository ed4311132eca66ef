package cluster

import (
	"context"
	"crypto/hmac"
	crand "crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// Event is a signed message to every member (a purge, a fill plan). It carries an ID and the
// publisher's time: a member applies an event once, refuses one older than EventMaxAge or not
// signed with the event key, and re-offers the events it knows in memberlist's push/pull
// exchange, so a member that was away for a while still gets them when it is back.
type Event struct {
	ID   string    `json:"id"`
	At   time.Time `json:"at"`
	From string    `json:"from"` // the publishing member, which collects the acks
	Kind string    `json:"kind"`
	Body []byte    `json:"body,omitempty"`
}

// EventStats counts the events a member has seen.
type EventStats struct {
	Published, Applied       int64
	Duplicates               int64 // an event already applied (gossip brings each several times)
	Forged, Expired, Unknown int64 // refused: bad signature, too old (or too far ahead), unreadable
	Resent                   int64 // events this member sent again to a member that had not acked
}

// Event tuning.
const (
	// DefaultEventMaxAge is how long an event is accepted, remembered and re-offered.
	DefaultEventMaxAge = 10 * time.Minute
	eventMaxSkew       = time.Minute // how far ahead of this member's clock an event may be
	maxRecentEvents    = 1024        // re-offered in push/pull at most
	maxDirectUDP       = 1200        // events larger than this go to members over TCP
	msgEvent           = 'E'
	msgAck             = 'A'
	// msgResend is an event the publisher sends again, straight to a member whose ack it has
	// not had: a member that has the event already acks it again (a lost ack), where a copy
	// from the gossip is only a duplicate.
	msgResend = 'R'
	// resendEvery is how often the publisher sends an event again to the members that have
	// not acked it, while it waits for their acks.
	resendEvery = time.Second
)

// ErrNoEventKey is returned by Publish when the member has no event key (Config.EventKey).
var ErrNoEventKey = errors.New("cluster: no event key: cluster-wide events are off (an admin token turns them on)")

// eventState is a member's event state.
type eventState struct {
	key []byte // HMAC-SHA256 key derived from Config.EventKey; nil: events off

	mu     sync.Mutex
	seen   map[string]time.Time // ID -> the event's time, forgotten after EventMaxAge
	recent [][]byte             // signed messages, oldest first, re-offered in push/pull
	acks   map[string]*ackSet   // events this member published, by ID
	// answers are what OnEvent returned for the events applied here, by ID, for an ack sent
	// again; forgotten with seen.
	answers map[string][]byte
	stats   EventStats
}

type ackSet struct {
	ev      Event
	payload []byte // the event's JSON, signed again for a resend
	got     map[string][]byte
	changed chan struct{} // closed and replaced on each new ack
}

// eventKey derives the HMAC key of events from the configured secret, so the admin token
// itself never signs anything.
func eventKey(secret []byte) []byte {
	if len(secret) == 0 {
		return nil
	}
	m := hmac.New(sha256.New, []byte("edgecdn cluster events v1"))
	m.Write(secret)
	return m.Sum(nil)
}

func (e *eventState) sign(kind byte, payload []byte) []byte {
	m := hmac.New(sha256.New, e.key)
	m.Write([]byte{kind})
	m.Write(payload)
	return append(append([]byte{kind}, m.Sum(nil)...), payload...)
}

// open checks a signed message and returns its payload.
func (e *eventState) open(b []byte) ([]byte, bool) {
	if e.key == nil || len(b) < 1+sha256.Size {
		return nil, false
	}
	m := hmac.New(sha256.New, e.key)
	m.Write(b[:1])
	m.Write(b[1+sha256.Size:])
	return b[1+sha256.Size:], hmac.Equal(m.Sum(nil), b[1:1+sha256.Size])
}

// EventsOn reports whether this member publishes and accepts events (it has an event key).
func (c *Cluster) EventsOn() bool { return c.ev.key != nil }

// EventStats returns the member's event counters.
func (c *Cluster) EventStats() EventStats {
	c.ev.mu.Lock()
	defer c.ev.mu.Unlock()
	return c.ev.stats
}

// Publish sends an event of the given kind to every member, applies it here too (OnEvent),
// and returns it; WaitAcks collects the members' answers.
func (c *Cluster) Publish(kind string, body []byte) (Event, error) {
	if c.ev.key == nil {
		return Event{}, ErrNoEventKey
	}
	var id [16]byte
	crand.Read(id[:])
	ev := Event{ID: hex.EncodeToString(id[:]), At: time.Now(), From: c.cfg.Name, Kind: kind, Body: body}
	payload, err := json.Marshal(ev)
	if err != nil {
		return Event{}, err
	}
	msg := c.ev.sign(msgEvent, payload)
	c.ev.mu.Lock()
	c.ev.acks[ev.ID] = &ackSet{ev: ev, payload: payload, got: map[string][]byte{}, changed: make(chan struct{})}
	c.ev.stats.Published++
	c.ev.mu.Unlock()
	c.accept(msg, ev, false, false)
	// Straight to every member now (the gossip alone takes a few rounds to reach them all),
	// and into the gossip for those the direct message misses.
	for _, n := range c.reachable() {
		if len(msg) <= maxDirectUDP {
			c.ml.SendBestEffort(n, msg)
		} else {
			go c.ml.SendReliable(n, msg)
		}
	}
	return ev, nil
}

// reachable returns the live members other than this one, from this node's own copy.
func (c *Cluster) reachable() []*memberlist.Node {
	var out []*memberlist.Node
	for _, m := range c.Members() {
		if m.Name == c.cfg.Name || !m.State.Live() {
			continue
		}
		if n := nodeOf(m); n != nil {
			out = append(out, n)
		}
	}
	return out
}

func nodeOf(m Member) *memberlist.Node {
	host, port, err := net.SplitHostPort(m.Gossip)
	p, perr := strconv.Atoi(port)
	ip := net.ParseIP(host)
	if err != nil || perr != nil || ip == nil {
		return nil
	}
	return &memberlist.Node{Name: m.Name, Addr: ip, Port: uint16(p)}
}

// receiveEvent handles a signed event from another member (a broadcast, a direct message or
// push/pull state).
func (c *Cluster) receiveEvent(msg []byte) {
	payload, ok := c.ev.open(msg)
	if !ok {
		c.ev.count(func(s *EventStats) { s.Forged++ })
		return
	}
	var ev Event
	if json.Unmarshal(payload, &ev) != nil || ev.ID == "" || ev.From == "" || ev.Kind == "" {
		c.ev.count(func(s *EventStats) { s.Unknown++ })
		return
	}
	if msg[0] == msgResend {
		// Gossiped and re-offered as the event it is.
		msg = c.ev.sign(msgEvent, payload)
		c.accept(msg, ev, true, true)
		return
	}
	c.accept(slices.Clone(msg), ev, true, false)
}

func (e *eventState) count(f func(*EventStats)) {
	e.mu.Lock()
	f(&e.stats)
	e.mu.Unlock()
}

// accept applies an event once: it checks its age, records its ID, queues it for the gossip
// and hands it to OnEvent; the answer goes back to the publisher as an ack.
func (c *Cluster) accept(msg []byte, ev Event, remote, resent bool) {
	now := time.Now()
	if age := now.Sub(ev.At); age > c.cfg.EventMaxAge || age < -eventMaxSkew {
		c.ev.count(func(s *EventStats) { s.Expired++ })
		return
	}
	c.ev.mu.Lock()
	if _, dup := c.ev.seen[ev.ID]; dup {
		c.ev.stats.Duplicates++
		answer, applied := c.ev.answers[ev.ID]
		c.ev.mu.Unlock()
		if resent && applied && ev.From != c.cfg.Name && !c.closed.Load() {
			// The publisher missed this member's ack: send it again.
			c.wg.Add(1)
			go func() {
				defer c.wg.Done()
				c.sendAck(ev, answer)
			}()
		}
		return
	}
	c.ev.seen[ev.ID] = ev.At
	c.ev.recent = append(c.ev.recent, msg)
	if len(c.ev.recent) > maxRecentEvents {
		c.ev.recent = slices.Delete(c.ev.recent, 0, len(c.ev.recent)-maxRecentEvents)
	}
	c.ev.stats.Applied++
	c.ev.mu.Unlock()
	c.queue.QueueBroadcast(&broadcast{name: "event " + ev.ID, msg: msg})
	// Off memberlist's receive path: a handler may take a while (a purge scans the cache).
	if c.closed.Load() {
		return
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		var answer []byte
		if c.cfg.OnEvent != nil {
			answer = c.cfg.OnEvent(ev)
		}
		c.ev.mu.Lock()
		if _, ok := c.ev.seen[ev.ID]; ok {
			c.ev.answers[ev.ID] = answer
		}
		c.ev.mu.Unlock()
		if ev.From == c.cfg.Name {
			c.addAck(ev.ID, c.cfg.Name, answer)
			return
		}
		c.sendAck(ev, answer)
	}()
}

type ackMsg struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Body []byte `json:"body,omitempty"`
}

func (c *Cluster) sendAck(ev Event, answer []byte) {
	if c.dropAcks.Load() > 0 && c.dropAcks.Add(-1) >= 0 {
		return // tests: an ack lost on the way
	}
	b, err := json.Marshal(ackMsg{ID: ev.ID, Name: c.cfg.Name, Body: answer})
	if err != nil {
		return
	}
	msg := c.ev.sign(msgAck, b)
	c.mu.RLock()
	m := c.members[ev.From]
	var n *memberlist.Node
	if m != nil {
		n = nodeOf(*m)
	}
	c.mu.RUnlock()
	if n == nil || c.closed.Load() {
		return
	}
	// A small ack goes by UDP, twice, a random few hundred milliseconds apart (duplicates are
	// harmless): by TCP, 200 members acking one publisher at once took seconds (bench
	// scale200: 5 of 10 purges not confirmed by all in 10 s). A large one (an answer with
	// counts) goes by TCP, tried three times.
	if len(msg) <= maxDirectUDP {
		for try := 0; try < 2 && !c.closed.Load(); try++ {
			c.ml.SendBestEffort(n, msg)
			select {
			case <-c.ctx.Done():
				return
			case <-time.After(300*time.Millisecond + rand.N(300*time.Millisecond)):
			}
		}
		return
	}
	for try := 0; try < 3 && !c.closed.Load(); try++ {
		err := c.ml.SendReliable(n, msg)
		if err == nil {
			return
		}
		c.log.Debug("acking an event", "id", ev.ID, "to", ev.From, "try", try+1, "err", err)
		select {
		case <-c.ctx.Done():
			return
		case <-time.After(time.Duration(200<<try)*time.Millisecond + rand.N(200*time.Millisecond)):
		}
	}
}

func (c *Cluster) receiveAck(msg []byte) {
	payload, ok := c.ev.open(msg)
	if !ok {
		c.ev.count(func(s *EventStats) { s.Forged++ })
		return
	}
	var a ackMsg
	if json.Unmarshal(payload, &a) != nil || a.ID == "" || a.Name == "" {
		c.ev.count(func(s *EventStats) { s.Unknown++ })
		return
	}
	c.addAck(a.ID, a.Name, a.Body)
}

func (c *Cluster) addAck(id, name string, body []byte) {
	c.ev.mu.Lock()
	defer c.ev.mu.Unlock()
	s := c.ev.acks[id]
	if s == nil {
		return // not published here, or forgotten
	}
	if _, ok := s.got[name]; !ok {
		s.got[name] = body
		close(s.changed)
		s.changed = make(chan struct{})
	}
}

// WaitAcks waits until every member named in want has acknowledged event id (applied it), or
// ctx ends. It returns the answers received, by member, and the members of want that have
// not answered.
func (c *Cluster) WaitAcks(ctx context.Context, id string, want []string) (got map[string][]byte, missing []string) {
	resend := time.NewTicker(resendEvery)
	defer resend.Stop()
	for {
		c.ev.mu.Lock()
		s := c.ev.acks[id]
		if s == nil {
			c.ev.mu.Unlock()
			return nil, want
		}
		missing = missing[:0]
		for _, n := range want {
			if _, ok := s.got[n]; !ok {
				missing = append(missing, n)
			}
		}
		got = make(map[string][]byte, len(s.got))
		for k, v := range s.got {
			got[k] = v
		}
		ch := s.changed
		c.ev.mu.Unlock()
		if len(missing) == 0 {
			return got, nil
		}
		select {
		case <-ctx.Done():
			return got, missing
		case <-ch:
		case <-resend.C:
			c.resend(id, missing)
		}
	}
}

// resend sends event id again, straight to each of the named members (over TCP), which ack it
// again if they have it already: an ack lost on the way, or an event that missed a member
// (one that joined as it went out), costs one resendEvery, not the caller's whole deadline.
func (c *Cluster) resend(id string, names []string) {
	c.ev.mu.Lock()
	s := c.ev.acks[id]
	var msg []byte
	if s != nil {
		msg = c.ev.sign(msgResend, s.payload)
	}
	c.ev.mu.Unlock()
	if msg == nil || c.closed.Load() {
		return
	}
	for _, name := range names {
		c.mu.RLock()
		m := c.members[name]
		var n *memberlist.Node
		if m != nil {
			n = nodeOf(*m)
		}
		c.mu.RUnlock()
		if n == nil {
			continue
		}
		c.ev.count(func(s *EventStats) { s.Resent++ })
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			c.ml.SendReliable(n, msg)
		}()
	}
}

// forgetEvents drops events older than EventMaxAge: their IDs (an older copy is refused by
// its age anyway) and their ack sets.
func (c *Cluster) forgetEvents(now time.Time) {
	c.ev.mu.Lock()
	defer c.ev.mu.Unlock()
	for id, at := range c.ev.seen {
		if now.Sub(at) > c.cfg.EventMaxAge+eventMaxSkew {
			delete(c.ev.seen, id)
			delete(c.ev.acks, id)
			delete(c.ev.answers, id)
		}
	}
	i := 0
	for i < len(c.ev.recent) {
		payload := c.ev.recent[i][1+sha256.Size:]
		var ev Event
		if json.Unmarshal(payload, &ev) == nil && now.Sub(ev.At) <= c.cfg.EventMaxAge {
			break
		}
		i++
	}
	c.ev.recent = slices.Delete(c.ev.recent, 0, i)
}

// recentEvents returns the signed events to re-offer in push/pull.
func (c *Cluster) recentEvents() [][]byte {
	c.ev.mu.Lock()
	defer c.ev.mu.Unlock()
	return slices.Clone(c.ev.recent)
}

// SignEvent returns the wire form of ev signed with secret, as Publish sends it: for tools
// that inject events into the gossip, and for tests of the refusals.
func SignEvent(secret []byte, ev Event) ([]byte, error) {
	payload, err := json.Marshal(ev)
	if err != nil {
		return nil, err
	}
	e := eventState{key: eventKey(secret)}
	return e.sign(msgEvent, payload), nil
}
