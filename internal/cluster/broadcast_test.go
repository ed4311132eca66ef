package cluster

import (
	"context"
	"encoding/json"
	"net"
	"sync"
	"testing"
	"time"

	"edgecdn/internal/harness"
)

// eventRecorder records the events a member applied.
type eventRecorder struct {
	mu  sync.Mutex
	got []Event
}

func (r *eventRecorder) on(ev Event) []byte {
	r.mu.Lock()
	r.got = append(r.got, ev)
	r.mu.Unlock()
	return []byte("ok " + ev.Kind)
}

func (r *eventRecorder) count(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, e := range r.got {
		if e.ID == id {
			n++
		}
	}
	return n
}

func TestEventsReachEveryMemberOnceWithAcks(t *testing.T) {
	key := []byte("s3cret")
	recs := map[string]*eventRecorder{}
	var cs []*Cluster
	for i, name := range []string{"a", "b", "c", "d"} {
		r := &eventRecorder{}
		recs[name] = r
		cfg := Config{Name: name, Meta: Meta{Role: RoleEdge}, EventKey: key, OnEvent: r.on}
		if i > 0 {
			cfg.Join = []string{cs[0].GossipAddr()}
		}
		cs = append(cs, start(t, cfg))
	}
	for _, c := range cs {
		harness.Eventually(t, 5*time.Second, c.Name()+" sees 4", func() bool { return len(c.Healthy("")) == 4 })
	}
	ev, err := cs[1].Publish("purge", []byte(`{"path":"/vod/t/a.ts"}`))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	got, missing := cs[1].WaitAcks(ctx, ev.ID, []string{"a", "b", "c", "d"})
	if len(missing) != 0 {
		t.Fatalf("missing acks from %v", missing)
	}
	for name, body := range got {
		if string(body) != "ok purge" {
			t.Errorf("ack of %s: %q", name, body)
		}
	}
	// The gossip brings the event several more times: it is applied once everywhere.
	harness.Eventually(t, 3*time.Second, "duplicates seen", func() bool { return cs[0].EventStats().Duplicates+cs[2].EventStats().Duplicates > 0 })
	for name, r := range recs {
		if n := r.count(ev.ID); n != 1 {
			t.Errorf("%s applied the event %d times, want 1", name, n)
		}
	}
	// A member that was not there gets the event from push/pull when it joins.
	late := &eventRecorder{}
	e := start(t, Config{Name: "e", Meta: Meta{Role: RoleEdge}, EventKey: key, OnEvent: late.on, Join: []string{cs[2].GossipAddr()}})
	harness.Eventually(t, 5*time.Second, "the late member applies the event", func() bool { return late.count(ev.ID) == 1 })
	got, missing = cs[1].WaitAcks(ctx, ev.ID, []string{"e"})
	if len(missing) != 0 || string(got["e"]) != "ok purge" {
		t.Errorf("the late member's ack: %q, missing %v", got["e"], missing)
	}
	_ = e

	// c's ack is lost on the way (dropped here): the publisher sends the event again to the
	// member that has not acked, which acks again with its answer and applies it no second time.
	cs[2].dropAcks.Store(1)
	ev2, err := cs[1].Publish("purge", []byte(`{"path":"/vod/t/b.ts"}`))
	if err != nil {
		t.Fatal(err)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 3*resendEvery)
	defer cancel2()
	got, missing = cs[1].WaitAcks(ctx2, ev2.ID, []string{"a", "b", "c", "d"})
	if len(missing) != 0 || string(got["c"]) != "ok purge" {
		t.Errorf("after a lost ack: c's ack %q, missing %v; want it again after a resend", got["c"], missing)
	}
	if n := cs[1].EventStats().Resent; n == 0 {
		t.Error("no resend counted")
	}
	if n := recs["c"].count(ev2.ID); n != 1 {
		t.Errorf("c applied the event %d times, want 1", n)
	}
}

func TestEventsRefuseForgedExpiredAndReplayed(t *testing.T) {
	r := &eventRecorder{}
	a := start(t, Config{Name: "a", Meta: Meta{Role: RoleEdge}, EventKey: []byte("s3cret"), OnEvent: r.on})
	other := eventState{key: eventKey([]byte("guess"))}
	mine := eventState{key: eventKey([]byte("s3cret"))}
	sign := func(es *eventState, ev Event) []byte {
		b, _ := json.Marshal(ev)
		return es.sign(msgEvent, b)
	}
	fresh := Event{ID: "1", At: time.Now(), From: "x", Kind: "purge"}
	a.receiveEvent(sign(&other, fresh))
	a.receiveEvent(append([]byte{msgEvent}, []byte("short")...))
	tampered := sign(&mine, fresh)
	tampered[len(tampered)-2] ^= 1
	a.receiveEvent(tampered)
	old := Event{ID: "2", At: time.Now().Add(-DefaultEventMaxAge - time.Second), From: "x", Kind: "purge"}
	a.receiveEvent(sign(&mine, old))
	future := Event{ID: "3", At: time.Now().Add(2 * eventMaxSkew), From: "x", Kind: "purge"}
	a.receiveEvent(sign(&mine, future))
	good := sign(&mine, fresh)
	a.receiveEvent(good)
	a.receiveEvent(good) // a replay
	harness.Eventually(t, 2*time.Second, "the good event applied", func() bool { return r.count("1") == 1 })
	st := a.EventStats()
	if st.Forged != 3 || st.Expired != 2 || st.Duplicates != 1 || st.Applied != 1 {
		t.Errorf("stats %+v: want 3 forged, 2 expired, 1 duplicate, 1 applied", st)
	}
	if n := r.count("2") + r.count("3"); n != 0 {
		t.Errorf("%d refused events applied", n)
	}
	// A member without the key publishes nothing and applies nothing.
	b := start(t, Config{Name: "b", Meta: Meta{Role: RoleEdge}})
	if _, err := b.Publish("purge", nil); err != ErrNoEventKey {
		t.Errorf("publish without a key: %v", err)
	}
	b.receiveEvent(good)
	if st := b.EventStats(); st.Applied != 0 || st.Forged != 1 {
		t.Errorf("member without a key: %+v", st)
	}
}

// Two clusters that formed apart merge once a member's join address is outside its own.
func TestSplitAtStartHeals(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	aAddr := l.Addr().String()
	l.Close()
	b := start(t, Config{Name: "b", Meta: Meta{Role: RoleEdge}, RejoinInterval: 200 * time.Millisecond})
	// c lists a and b, as a headless Service lists every pod; a does not answer yet.
	c := start(t, Config{Name: "c", Meta: Meta{Role: RoleEdge}, Join: []string{b.GossipAddr(), aAddr}, RejoinInterval: 200 * time.Millisecond})
	harness.Eventually(t, 5*time.Second, "c and b together", func() bool { return len(c.Healthy("")) == 2 })
	// a starts alone: the first member of a cluster of its own.
	a := start(t, Config{Name: "a", Meta: Meta{Role: RoleEdge}, GossipListen: aAddr})
	harness.Eventually(t, 10*time.Second, "one cluster of 3", func() bool {
		return len(a.Healthy("")) == 3 && len(b.Healthy("")) == 3 && len(c.Healthy("")) == 3
	})
}
