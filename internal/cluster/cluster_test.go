package cluster

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"edgecdn/internal/harness"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func start(t *testing.T, cfg Config) *Cluster {
	t.Helper()
	if cfg.GossipListen == "" {
		cfg.GossipListen = "127.0.0.1:0"
	}
	if cfg.Logger == nil {
		cfg.Logger = quiet
	}
	c, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Shutdown() })
	return c
}

func state(c *Cluster, name string) State {
	for _, m := range c.Members() {
		if m.Name == name {
			return m.State
		}
	}
	return ""
}

func TestMembershipMetaAndLoad(t *testing.T) {
	a := start(t, Config{Name: "a", Meta: Meta{Role: RoleEdge, Zone: "zone-a", HTTP: "127.0.0.1:1001"},
		LoadFunc: func() Load { return Load{RPS: 42, Conns: 7} }, LoadInterval: 100 * time.Millisecond})
	b := start(t, Config{Name: "b", Meta: Meta{Role: RoleEdge, Zone: "zone-b", HTTP: "127.0.0.1:1002"}, Join: []string{a.GossipAddr()}})
	c := start(t, Config{Name: "c", Meta: Meta{Role: RoleLB, Zone: "zone-a", Public: "10.0.0.1"}, Join: []string{b.GossipAddr()}})
	for _, x := range []*Cluster{a, b, c} {
		harness.Eventually(t, 5*time.Second, x.Name()+" sees 3 members", func() bool { return len(x.Healthy("")) == 3 })
	}
	edges := c.Healthy(RoleEdge)
	if len(edges) != 2 || edges[0].Name != "a" || edges[0].Zone != "zone-a" || edges[0].HTTP != "127.0.0.1:1001" || edges[1].Zone != "zone-b" {
		t.Errorf("edges seen by c: %+v", edges)
	}
	if lbs := a.Healthy(RoleLB); len(lbs) != 1 || lbs[0].Public != "10.0.0.1" {
		t.Errorf("balancers seen by a: %+v", lbs)
	}
	harness.Eventually(t, 5*time.Second, "a's load reaches c", func() bool {
		for _, m := range c.Members() {
			if m.Name == "a" && m.Load != nil && m.Load.RPS == 42 && m.Load.Conns == 7 {
				return true
			}
		}
		return false
	})
}

func TestLeaveAndFailure(t *testing.T) {
	a := start(t, Config{Name: "a", Meta: Meta{Role: RoleEdge}})
	b := start(t, Config{Name: "b", Meta: Meta{Role: RoleEdge}, Join: []string{a.GossipAddr()}})
	c := start(t, Config{Name: "c", Meta: Meta{Role: RoleEdge}, Join: []string{a.GossipAddr()}})
	// b says goodbye to the members it knows: wait until it knows a, not only a knows b.
	harness.Eventually(t, 5*time.Second, "3 members", func() bool { return len(a.Healthy("")) == 3 && len(b.Healthy("")) == 3 })
	watch := a.Watch()

	// Bounds with room for a loaded machine under -race: the goodbye is one TCP message.
	b.Leave(5 * time.Second)
	d := harness.Eventually(t, 10*time.Second, "b's leave seen", func() bool { return state(a, "b") == Left })
	t.Logf("graceful leave seen after %v", d)
	select {
	case <-watch:
	default:
		t.Error("no change notification for the leave")
	}

	c.Shutdown() // as SIGKILL: no goodbye
	d = harness.Eventually(t, 15*time.Second, "c's failure detected", func() bool { return state(a, "c") == Dead })
	t.Logf("failure detected after %v (probe 500 ms, suspicion x4)", d)
}

func TestWrongKeyRefused(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	a := start(t, Config{Name: "a", Meta: Meta{Role: RoleEdge}, Key: key})
	b := start(t, Config{Name: "b", Meta: Meta{Role: RoleEdge}, Key: key, Join: []string{a.GossipAddr()}})
	harness.Eventually(t, 5*time.Second, "b joins with the key", func() bool { return len(a.Healthy("")) == 2 })

	other := []byte("fedcba9876543210fedcba9876543210")
	intruder, err := Start(Config{Name: "x", Meta: Meta{Role: RoleEdge}, Key: other, GossipListen: "127.0.0.1:0", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer intruder.Shutdown()
	if n, err := intruder.ml.Join([]string{a.GossipAddr()}); err == nil {
		t.Errorf("a member with the wrong key joined (%d contacted)", n)
	}
	plain, err := Start(Config{Name: "y", Meta: Meta{Role: RoleEdge}, GossipListen: "127.0.0.1:0", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Shutdown()
	if _, err := plain.ml.Join([]string{a.GossipAddr()}); err == nil {
		t.Error("a member without a key joined an encrypted cluster")
	}
	if state(a, "x") != "" || state(a, "y") != "" || len(b.Healthy("")) != 2 {
		t.Errorf("members after the intruders: %+v", a.Members())
	}
}

// TestKeyRotation walks a key rotation one member at a time, as a rolling restart does: every
// step's members talk to the previous step's (old -> old,new -> new,old -> new), while a member
// with only the new key and one with only the old never do.
func TestKeyRotation(t *testing.T) {
	oldK := []byte("0123456789abcdef0123456789abcdef")
	newK := []byte("fedcba9876543210fedcba9876543210")
	steps := []struct {
		name  string
		first []byte
		more  [][]byte
	}{
		{"old", oldK, nil},
		{"old+new", oldK, [][]byte{newK}},
		{"new+old", newK, [][]byte{oldK}},
		{"new", newK, nil},
	}
	for i := 0; i+1 < len(steps); i++ {
		a, b := steps[i], steps[i+1]
		t.Run(a.name+" with "+b.name, func(t *testing.T) {
			ma := start(t, Config{Name: "a", Meta: Meta{Role: RoleEdge}, Key: a.first, OldKeys: a.more})
			mb := start(t, Config{Name: "b", Meta: Meta{Role: RoleEdge}, Key: b.first, OldKeys: b.more, Join: []string{ma.GossipAddr()}})
			harness.Eventually(t, 10*time.Second, "both alive in both views", func() bool {
				return len(ma.Healthy("")) == 2 && len(mb.Healthy("")) == 2
			})
		})
	}
	onlyOld := start(t, Config{Name: "o", Meta: Meta{Role: RoleEdge}, Key: oldK})
	onlyNew, err := Start(Config{Name: "n", Meta: Meta{Role: RoleEdge}, Key: newK, GossipListen: "127.0.0.1:0", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer onlyNew.Shutdown()
	if _, err := onlyNew.ml.Join([]string{onlyOld.GossipAddr()}); err == nil {
		t.Error("a member with only the new key joined one with only the old")
	}
	first, others, err := ParseKeys(base64.StdEncoding.EncodeToString(newK) + ", " + base64.StdEncoding.EncodeToString(oldK))
	if err != nil || string(first) != string(newK) || len(others) != 1 || string(others[0]) != string(oldK) {
		t.Errorf("ParseKeys(new, old) = %q %q %v", first, others, err)
	}
	if _, _, err := ParseKeys(base64.StdEncoding.EncodeToString(newK) + ",c2hvcnQ="); err == nil || !strings.Contains(err.Error(), "key 2") {
		t.Errorf("a short second key: %v, want an error naming key 2", err)
	}
}

// TestJoinByName: a join address whose name resolves to several addresses (a Kubernetes
// headless Service) joins all of them.
func TestJoinByName(t *testing.T) {
	ln, err := net.ListenPacket("udp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("no 127.0.0.2 on this host: %v", err)
	}
	port := ln.LocalAddr().(*net.UDPAddr).Port
	ln.Close()
	var ms []*Cluster
	for i := 2; i <= 3; i++ {
		ms = append(ms, start(t, Config{Name: fmt.Sprintf("e%d", i), Meta: Meta{Role: RoleEdge}, GossipListen: fmt.Sprintf("127.0.0.%d:%d", i, port)}))
	}
	resolve := func(_ context.Context, host string) ([]string, error) {
		if host != "edges.edgecdn.svc" {
			return nil, fmt.Errorf("unknown host %s", host)
		}
		return []string{"127.0.0.2", "127.0.0.3"}, nil
	}
	n := start(t, Config{Name: "new", Meta: Meta{Role: RoleEdge}, Join: []string{"edges.edgecdn.svc:" + strconv.Itoa(port)}, Resolve: resolve})
	harness.Eventually(t, 5*time.Second, "3 members", func() bool { return len(n.Healthy("")) == 3 })
	for _, m := range ms {
		harness.Eventually(t, 5*time.Second, m.Name()+" sees the new member", func() bool { return state(m, "new") == Alive })
	}
}

func TestParseKey(t *testing.T) {
	for _, c := range []struct {
		in  string
		n   int
		bad bool
	}{
		{"", 0, false},
		{"MDEyMzQ1Njc4OWFiY2RlZg==", 16, false},
		{"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=", 32, false},
		{"c2hvcnQ=", 0, true},
		{"!!!", 0, true},
	} {
		k, err := ParseKey(c.in)
		if (err != nil) != c.bad || len(k) != c.n {
			t.Errorf("ParseKey(%q) = %d bytes, %v", c.in, len(k), err)
		}
	}
	if _, err := Start(Config{Name: "k", Key: []byte("short"), GossipListen: "127.0.0.1:0", Logger: quiet}); err == nil {
		t.Error("Start accepted a 5-byte key")
	}
}

// FuzzParseKeys: --gossip-key never panics; what it accepts is one or more keys of 16, 24 or
// 32 bytes, the first one first.
func FuzzParseKeys(f *testing.F) {
	k := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	for _, s := range []string{"", k, k + "," + k, k + ",,", " , ", "c2hvcnQ=", "%%%", k + ",c2hvcnQ="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		first, others, err := ParseKeys(s)
		if err != nil {
			return
		}
		if first == nil && len(others) > 0 {
			t.Fatalf("%q: further keys without a first", s)
		}
		for _, key := range append([][]byte{first}, others...) {
			if n := len(key); key != nil && n != 16 && n != 24 && n != 32 {
				t.Fatalf("%q: accepted a key of %d bytes", s, n)
			}
		}
	})
}

// TestDrainThenLeave: a member that drains is seen Draining (not Healthy) by the others at
// once, then Left when it leaves, never Dead in between; departed members are forgotten after
// ForgetAfter.
func TestDrainThenLeave(t *testing.T) {
	a := start(t, Config{Name: "a", Meta: Meta{Role: RoleEdge}, ForgetAfter: 2 * time.Second, LoadInterval: 50 * time.Millisecond})
	b := start(t, Config{Name: "b", Meta: Meta{Role: RoleEdge, Zone: "z"}, Join: []string{a.GossipAddr()}})
	c := start(t, Config{Name: "c", Meta: Meta{Role: RoleEdge}, Join: []string{a.GossipAddr()}})
	harness.Eventually(t, 5*time.Second, "3 members", func() bool { return len(a.Healthy("")) == 3 && len(c.Healthy("")) == 3 })

	// Record every state a and c give b, from the drain on.
	var mu sync.Mutex
	seen := map[State]bool{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			for _, x := range []*Cluster{a, c} {
				st := state(x, "b")
				mu.Lock()
				seen[st] = true
				mu.Unlock()
			}
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	if err := b.SetDraining(time.Second); err != nil {
		t.Fatal(err)
	}
	d := harness.Eventually(t, 2*time.Second, "b draining at a and c", func() bool { return state(a, "b") == Draining && state(c, "b") == Draining })
	t.Logf("drain seen after %v", d)
	if len(a.Healthy(RoleEdge)) != 2 {
		t.Errorf("a still counts b healthy while it drains: %+v", a.Healthy(RoleEdge))
	}
	for _, m := range a.Members() {
		if m.Name == "b" && m.Zone != "z" {
			t.Errorf("draining b lost its metadata: %+v", m)
		}
	}
	if err := b.Leave(time.Second); err != nil {
		t.Errorf("leave: %v", err)
	}
	harness.Eventually(t, 2*time.Second, "b left at a and c", func() bool { return state(a, "b") == Left && state(c, "b") == Left })
	close(stop)
	wg.Wait()
	if seen[Dead] || seen[Suspect] {
		t.Errorf("b was seen %v on its way out; want alive, draining, left only", seen)
	}
	harness.Eventually(t, 5*time.Second, "b forgotten after ForgetAfter", func() bool { return state(a, "b") == "" })
}

// TestJoinPastDeadAddresses: a member whose join list holds addresses that never answer joins
// the live member at once (the addresses are tried together, not one after the other), and
// Joined reports it.
func TestJoinPastDeadAddresses(t *testing.T) {
	a := start(t, Config{Name: "a", Meta: Meta{Role: RoleEdge}})
	if !a.Joined() {
		t.Error("a member with nothing to join is not Joined")
	}
	join := []string{harness.BlackHole(t), harness.BlackHole(t), harness.BlackHole(t), harness.BlackHole(t), a.GossipAddr()}
	begin := time.Now()
	b := start(t, Config{Name: "b", Meta: Meta{Role: RoleEdge}, Join: join, JoinTimeout: 3 * time.Second})
	if time.Since(begin) > time.Second {
		t.Errorf("Start took %v: the join must not hold it up", time.Since(begin))
	}
	select {
	case <-b.JoinedC():
	case <-time.After(2 * time.Second):
		t.Fatalf("not joined 2 s after start past 4 dead addresses (a serial join takes 4 x 3 s)")
	}
	t.Logf("joined after %v past 4 dead addresses", time.Since(begin))
	if len(b.Healthy("")) != 2 {
		t.Errorf("b sees %+v", b.Healthy(""))
	}
}

// TestJoinedAlone: the first member of a new cluster, whose join address answers nothing, is
// not Joined during its join attempts and Joined after them; a member joining later finds it.
func TestJoinedAlone(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	nobody := ln.Addr().String()
	ln.Close()
	a := start(t, Config{Name: "a", Meta: Meta{Role: RoleEdge}, Join: []string{nobody}, JoinAttempts: 2})
	if a.Joined() {
		t.Error("Joined before the join attempts ended")
	}
	d := harness.Eventually(t, 10*time.Second, "a joined alone", a.Joined)
	t.Logf("alone after %v (2 attempts)", d)
	if d < 900*time.Millisecond {
		t.Errorf("joined alone after %v: before its second attempt", d)
	}
	b := start(t, Config{Name: "b", Meta: Meta{Role: RoleEdge}, Join: []string{a.GossipAddr()}})
	harness.Eventually(t, 5*time.Second, "b joined a", func() bool { return b.Joined() && len(a.Healthy("")) == 2 })
}

// TestDrainOnce: Drain sets stopping and runs its hook once, before any cluster is joined too;
// a second Drain does nothing.
func TestDrainOnce(t *testing.T) {
	var stopping atomic.Bool
	var c atomic.Pointer[Cluster]
	hooks := 0
	for range 2 {
		Drain(&stopping, &c, quiet, func() {
			if !stopping.Load() {
				t.Error("the hook ran before stopping was set")
			}
			hooks++
		})
	}
	if !stopping.Load() || hooks != 1 {
		t.Errorf("stopping %v, hook ran %d times; want true, once", stopping.Load(), hooks)
	}
}

// TestStopLeaves: Stop sets stopping and leaves the cluster the server joined (a departure, not
// a death, for the others); before any cluster it only sets stopping.
func TestStopLeaves(t *testing.T) {
	var stopping atomic.Bool
	var none atomic.Pointer[Cluster]
	if err := Stop(&stopping, &none); err != nil || !stopping.Load() {
		t.Fatalf("Stop without a cluster: %v, stopping %v", err, stopping.Load())
	}
	a := start(t, Config{Name: "a", Meta: Meta{Role: RoleEdge, Zone: "z"}})
	b := start(t, Config{Name: "b", Meta: Meta{Role: RoleEdge, Zone: "z"}, Join: []string{a.GossipAddr()}})
	// b says goodbye to the members it knows: wait until it knows a, not only a knows b.
	harness.Eventually(t, 5*time.Second, "a and b see each other", func() bool { return len(a.Healthy("")) == 2 && len(b.Healthy("")) == 2 })
	var cb atomic.Pointer[Cluster]
	cb.Store(b)
	stopping.Store(false)
	if err := Stop(&stopping, &cb); err != nil || !stopping.Load() {
		t.Fatalf("Stop: %v, stopping %v", err, stopping.Load())
	}
	harness.Eventually(t, 5*time.Second, "a sees b leave", func() bool { return state(a, "b") == Left })
}

// TestStartingThenAlive: a member that joins announcing it cannot serve yet is Starting at the
// others (in the gossip, not Healthy: nobody chooses it, events still reach it) until it
// announces that it can; Draining wins over Starting.
func TestStartingThenAlive(t *testing.T) {
	a := start(t, Config{Name: "a", Meta: Meta{Role: RoleEdge}})
	b := start(t, Config{Name: "b", Meta: Meta{Role: RoleEdge, Zone: "z", Starting: true}, Join: []string{a.GossipAddr()}})
	harness.Eventually(t, 5*time.Second, "b starting at a", func() bool { return state(a, "b") == Starting })
	if !b.Starting() {
		t.Error("b does not know it announced itself starting")
	}
	if h := a.Healthy(RoleEdge); len(h) != 1 || h[0].Name != "a" {
		t.Errorf("a counts a starting b healthy: %+v", h)
	}
	if !Starting.Live() || Left.Live() || Dead.Live() {
		t.Error("Live: starting is in the gossip, left and dead are not")
	}
	if err := b.SetStarting(false, time.Second); err != nil {
		t.Fatal(err)
	}
	harness.Eventually(t, 5*time.Second, "b alive at a once it can serve", func() bool { return state(a, "b") == Alive })
	if h := a.Healthy(RoleEdge); len(h) != 2 {
		t.Errorf("a's healthy edges after b can serve: %+v", h)
	}
	for _, m := range a.Members() {
		if m.Name == "b" && m.Zone != "z" {
			t.Errorf("b lost its metadata: %+v", m)
		}
	}

	c := start(t, Config{Name: "c", Meta: Meta{Role: RoleEdge, Starting: true}, Join: []string{a.GossipAddr()}})
	harness.Eventually(t, 5*time.Second, "c starting at a", func() bool { return state(a, "c") == Starting })
	if err := c.SetDraining(time.Second); err != nil {
		t.Fatal(err)
	}
	harness.Eventually(t, 5*time.Second, "c draining at a", func() bool { return state(a, "c") == Draining })
}
