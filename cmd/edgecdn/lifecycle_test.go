package main

// A member's life as processes: it serves before it has joined and is ready only once joined;
// stopped with SIGTERM it drains (announced in the gossip, still serving), leaves (seen as
// left, never dead), and only then closes its listener.
//
//	go test -count=1 -run 'TestGraceful|TestReadyOnce' -v ./cmd/edgecdn

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"edgecdn/internal/harness"
	"edgecdn/player-sim/player"
)

// status is GET http://addr+path's status code, 0 when it does not answer within 500 ms.
func status(addr, path string) int {
	c := &http.Client{Timeout: 500 * time.Millisecond}
	resp, err := c.Get("http://" + addr + path)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestReadyOnceJoined: an edge whose only join address never answers (a dead pod address)
// answers /healthz at once while it tries, is not ready during its join attempts, and becomes
// ready alone once they found nobody (the first member of a new cluster); a second edge joining
// it is ready as soon as it has joined.
func TestReadyOnceJoined(t *testing.T) {
	content := packageContent(t, "8s")
	origin := startProc(t, "origin", "origin listening", bin, "origin", "--content", content.dir, "--listen", "127.0.0.1:0", "--log-format", "json")
	gp := freeGossipPorts(t, 2)
	start := time.Now()
	first := startProc(t, "edge-1", "edge listening", bin, "edge", "--name", "edge-1", "--zone", "z", "--origin", "http://"+origin.Addr,
		"--listen", "127.0.0.1:0", "--gossip-listen", "127.0.0.1:"+strconv.Itoa(gp[0]), "--join", harness.BlackHole(t), "--log-format", "json")
	if s := status(first.Addr, "/healthz"); s != http.StatusOK {
		t.Errorf("/healthz while joining: %d, want 200 at once", s)
	}
	if s := status(first.Addr, "/readyz"); s != http.StatusServiceUnavailable {
		t.Errorf("/readyz while joining: %d, want 503 (not joined yet)", s)
	}
	// Content is served meanwhile (from the origin).
	if s := status(first.Addr, "/vod/title-000/master.m3u8"); s != http.StatusOK {
		t.Errorf("content while joining: %d, want 200", s)
	}
	d := pollUntil(t, 30*time.Second, "edge-1 ready alone", func() (bool, string) {
		if s := status(first.Addr, "/healthz"); s != http.StatusOK {
			return false, fmt.Sprintf("/healthz %d during the join attempts", s)
		}
		s := status(first.Addr, "/readyz")
		return s == http.StatusOK, fmt.Sprintf("/readyz %d", s)
	})
	t.Logf("ready alone %v after start (3 join attempts of up to 2 s into a black hole)", time.Since(start).Round(time.Millisecond))
	if time.Since(start) < 2*time.Second || d == 0 {
		t.Errorf("ready after %v: before its join attempts could have ended", time.Since(start))
	}
	second := startProc(t, "edge-2", "edge listening", bin, "edge", "--name", "edge-2", "--zone", "z", "--origin", "http://"+origin.Addr,
		"--listen", "127.0.0.1:0", "--gossip-listen", "127.0.0.1:"+strconv.Itoa(gp[1]), "--join", harness.BlackHole(t)+",127.0.0.1:"+strconv.Itoa(gp[0]), "--log-format", "json")
	begin := time.Now()
	pollUntil(t, 10*time.Second, "edge-2 ready once joined", func() (bool, string) {
		s := status(second.Addr, "/readyz")
		return s == http.StatusOK, fmt.Sprintf("/readyz %d", s)
	})
	if d := time.Since(begin); d > 2*time.Second {
		t.Errorf("edge-2 ready %v after start: a dead join address held it up", d)
	}
	v, err := getCluster(testClient(), second.Addr)
	if err != nil || v.state("edge-1") != "alive" {
		t.Errorf("edge-2's view: %s %v", v.summary(), err)
	}
}

// TestGracefulEdgeStopMidPlayback proves that players do not notice an edge stopped gracefully
// under them. Three edges of one zone gossip with a balancer and a steering service; a fleet of
// 8 players plays, half through steering (each stays on its first ranked edge until it fails
// or the edge asks it to move), half through the balancer. Once every player holds 4 s of
// buffer, the edge most steering players are on gets SIGTERM. It drains: the balancer,
// steering and both other edges' rings drop it within 2 s, while it still serves what it is
// sent and tells players to move (CMSD du); after --drain-delay it leaves the gossip (seen as
// left, never dead) and exits. The fleet sees 0 failed requests, 0 stalls, 0 failed players.
func TestGracefulEdgeStopMidPlayback(t *testing.T) {
	content := packageContent(t, "36s")
	origin := startProc(t, "origin", "origin listening", bin, "origin", "--content", content.dir, "--listen", "127.0.0.1:0", "--log-format", "json")
	originURL := "http://" + origin.Addr
	const zone = "zone-g"
	const drain = 5 * time.Second
	z := startZoneStack(t, zone, originURL, "g", "--drain-delay", drain.String())
	names := z.names
	c := testClient()
	const title = "title-000"
	z.waitFormed(t, c, title)

	const players = 8
	viaSteering := func(i int) bool { return i%2 == 0 }
	f := z.startFleet(t, title, players, 11, viaSteering)
	mu, got, done := &f.mu, f.got, f.done
	f.waitBuffer(t, 4)
	on := f.lastEdges(viaSteering)
	victimName := ""
	for _, name := range names {
		if victimName == "" || on[name] > on[victimName] {
			victimName = name
		}
	}
	victim, survivors := z.signal(t, victimName, syscall.SIGTERM)
	stopped := time.Now()
	t.Logf("graceful stop mid-playback: SIGTERM %s (steering players on it: %d of %d), --drain-delay %v", victimName, on[victimName], players/2, drain)

	// Dropped by everyone that chooses edges, while it still serves.
	ringAt, lbAt, steerAt := z.waitDropped(t, c, title, victimName, "draining", survivors, stopped, 2*time.Second)
	t.Logf("graceful stop mid-playback: dropped (draining, out of the ring) at both survivors %v, out of the balancer's rotation %v, unhealthy at steering %v",
		ringAt.Round(time.Millisecond), lbAt.Round(time.Millisecond), steerAt.Round(time.Millisecond))
	if s := status(victim.Addr, "/readyz"); s != http.StatusServiceUnavailable {
		t.Errorf("%s draining: /readyz %d, want 503", victimName, s)
	}
	if s := status(victim.Addr, "/vod/"+title+"/master.m3u8"); s != http.StatusOK {
		t.Errorf("%s draining: content %d, want 200 (it serves until the drain ends)", victimName, s)
	}

	// It exits after its drain, and the survivors see it left, never dead.
	var states sync.Map
	select {
	case <-victim.Done:
	case <-time.After(drain + 15*time.Second):
		t.Fatalf("%s still running %v after SIGTERM", victimName, drain+15*time.Second)
	}
	exited := time.Since(stopped)
	if !victim.Cmd.ProcessState.Success() {
		t.Errorf("%s after SIGTERM: %v, want exit 0", victimName, victim.Cmd.ProcessState)
	}
	if exited < drain {
		t.Errorf("%s exited %v after SIGTERM, before its %v drain", victimName, exited, drain)
	}
	pollUntil(t, 5*time.Second, victimName+" left at both survivors", func() (bool, string) {
		var st []string
		for _, s := range survivors {
			v, err := getCluster(c, s.Addr)
			if err != nil {
				return false, err.Error()
			}
			states.Store(v.state(victimName), true)
			if v.state(victimName) != "left" {
				st = append(st, s.Name+": "+v.summary())
			}
		}
		return len(st) == 0, strings.Join(st, "; ")
	})
	if _, dead := states.Load("dead"); dead {
		t.Errorf("a survivor saw %s dead after its graceful leave", victimName)
	}
	t.Logf("graceful stop mid-playback: %s exited %v after SIGTERM (drain %v), seen left", victimName, exited.Round(time.Millisecond), drain)

	var rep *player.Report
	select {
	case rep = <-done:
	case <-time.After(75 * time.Second):
		t.Fatal("the fleet did not finish")
	}
	if rep == nil {
		t.Fatal("no fleet report")
	}
	mu.Lock()
	defer mu.Unlock()
	moved := 0
	for i := range got {
		var before string
		for _, ch := range got[i] {
			if ch.at.Before(stopped) {
				before = ch.c.EdgeName
			} else if before == victimName && ch.c.EdgeName != victimName {
				moved++
				break
			}
		}
	}
	t.Logf("graceful stop mid-playback: fleet: %d players, %d failed, %d failed requests, %d stalls, %d segments, %d edge switches, %d corrupt; %d players moved off %s",
		rep.Players, rep.Failed, rep.Errors, rep.RebufferCount, rep.Segments, rep.EdgeSwitches, rep.Corrupt, moved, victimName)
	if on[victimName] == 0 || moved == 0 {
		t.Errorf("no player was on %s and moved (steering players on it %d, moved %d): the test did not exercise a move", victimName, on[victimName], moved)
	}
	if rep.Players != players || rep.Failed != 0 || rep.Errors != 0 || rep.RebufferCount != 0 || rep.Corrupt != 0 {
		t.Errorf("after %s stopped gracefully: %d players of %d, %d failed, %d failed requests, %d stalls, %d corrupt; want all, and 0 of each",
			victimName, rep.Players, players, rep.Failed, rep.Errors, rep.RebufferCount, rep.Corrupt)
		for i, r := range rep.PerPlayer {
			if r.Failed || r.Errors > 0 || r.Rebuffers > 0 {
				t.Logf("player %d: failed %v (%s), %d errors, %d stalls", i, r.Failed, r.FailReason, r.Errors, r.Rebuffers)
			}
		}
	}
}
