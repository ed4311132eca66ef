package steering

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/grafov/m3u8"

	"edgecdn/edge"
	"edgecdn/internal/cli"
	"edgecdn/internal/cluster"
	"edgecdn/internal/cluster/clustertest"
	"edgecdn/internal/harness"
	"edgecdn/internal/hls"
	"edgecdn/internal/steerapi"
	"edgecdn/loadbalancer"
	"edgecdn/origin"
	"edgecdn/origin/packager"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// stack is a whole CDN in one process on loopback: an origin, one edge and one balancer per
// zone, and the steering service, all in one gossip cluster.
type stack struct {
	steer     *Server
	base      string // steering's URL
	seed      string // gossip address to join
	edges     map[string]*cluster.Cluster
	edgeSrv   map[string]*edge.Server
	edgeURL   map[string]string // zone -> http://HOST:PORT of its edge
	lbAddr    map[string]string // zone -> HOST:PORT of its balancer
	originURL string
	keys      [][]byte // the edges' URL-signing keys
	stops     []func()
}

// stackOpts varies a test stack: zero values are one title and unsigned URLs.
type stackOpts struct {
	titles int
	keys   [][]byte // edges' and steering's URL-signing keys
	bind   bool     // steering binds tokens to the client's address
	dwell  time.Duration
}

func serveOn(t testing.TB, serve func(net.Listener) error, shutdown func(context.Context) error) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { serve(ln); close(done) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		shutdown(ctx)
		<-done
	})
	return ln.Addr().String()
}

func member(t testing.TB, name string, meta cluster.Meta, join string, load func() cluster.Load) *cluster.Cluster {
	t.Helper()
	return clustertest.Start(t, cluster.Config{Name: name, Meta: meta, Join: cli.SplitList(join), LoadFunc: load, LoadInterval: 100 * time.Millisecond})
}

func newStack(t testing.TB, zones ...string) *stack { return newStackWith(t, stackOpts{}, zones...) }

func newStackWith(t testing.TB, opts stackOpts, zones ...string) *stack {
	t.Helper()
	dir := t.TempDir()
	if _, err := packager.Package(context.Background(), packager.Config{Out: dir, Titles: max(opts.titles, 1), Duration: 12 * time.Second, Ladder: "small", Logger: quiet}); err != nil {
		t.Fatal(err)
	}
	o, err := origin.New(origin.Config{Content: dir, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	st := &stack{edges: map[string]*cluster.Cluster{}, edgeSrv: map[string]*edge.Server{}, edgeURL: map[string]string{}, lbAddr: map[string]string{}, keys: opts.keys}
	st.originURL = "http://" + serveOn(t, o.Serve, o.Shutdown)
	sc, err := New(Config{Origins: []string{st.originURL}, Logger: quiet, TTL: time.Second, SigningKeys: opts.keys, TokenBindClient: opts.bind, MinDwell: opts.dwell})
	if err != nil {
		t.Fatal(err)
	}
	st.steer = sc
	st.base = "http://" + serveOn(t, sc.Serve, sc.Shutdown)
	smember := member(t, "steering", cluster.Meta{Role: cluster.RoleSteering}, "", nil)
	st.seed = smember.GossipAddr()
	sc.AttachCluster(smember)
	for _, z := range zones {
		st.addZone(t, z)
	}
	st.waitZones(t, zones...)
	return st
}

// addZone starts an edge and a balancer for zone z.
func (st *stack) addZone(t testing.TB, z string) {
	t.Helper()
	e, err := edge.New(edge.Config{Name: "edge-" + z, Zone: z, Origins: []string{st.originURL}, Logger: quiet, ProbeInterval: -1, SigningKeys: st.keys})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ec := member(t, "edge-"+z, cluster.Meta{Role: cluster.RoleEdge, Zone: z, HTTP: ln.Addr().String()}, st.seed, e.Load)
	e.AttachCluster(ec)
	done := make(chan struct{})
	go func() { e.Serve(ln); close(done) }()
	t.Cleanup(func() { e.Close(); <-done })
	st.edges[z], st.edgeSrv[z], st.edgeURL[z] = ec, e, "http://"+ln.Addr().String()

	lb, err := loadbalancer.New(loadbalancer.Config{Name: "lb-" + z, Zone: z, Logger: quiet, ProbeInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	addr := serveOn(t, lb.Serve, lb.Shutdown)
	st.lbAddr[z] = addr
	lb.AttachCluster(member(t, "lb-"+z, cluster.Meta{Role: cluster.RoleLB, Zone: z, Public: addr}, st.seed, nil))
}

func (st *stack) waitZones(t testing.TB, zones ...string) {
	t.Helper()
	want := slices.Clone(zones)
	slices.Sort(want)
	harness.Eventually(t, 30*time.Second, fmt.Sprintf("steering sees zones %v", want), func() bool { return slices.Equal(st.steer.view().zones, want) })
	// And each zone's balancer has its edge: until then it answers 503.
	for _, z := range zones {
		harness.Eventually(t, 30*time.Second, "the balancer of "+z+" ready", func() bool {
			resp, err := http.Get("http://" + st.lbAddr[z] + "/readyz")
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK
		})
	}
}

func getBody(t *testing.T, u string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func steer(t *testing.T, st *stack, zone string) steerapi.Ranking {
	t.Helper()
	code, b := getBody(t, st.base+"/steer/title-000?zone="+zone)
	var r steerapi.Ranking
	if code != 200 || json.Unmarshal(b, &r) != nil {
		t.Fatalf("/steer: %d %s", code, b)
	}
	return r
}

func TestRankingFollowsTheCluster(t *testing.T) {
	st := newStack(t, "zone-a", "zone-b", "zone-c")
	r := steer(t, st, "zone-b")
	if len(r.Edges) != 3 || r.Edges[0].Zone != "zone-b" || !slices.Contains(r.Edges[0].Reasons, "same zone") {
		t.Fatalf("ranking for zone-b: %+v", r.Edges)
	}
	for _, e := range r.Edges {
		if !strings.HasPrefix(e.URL, "http://127.0.0.1:") || !e.Healthy || len(e.Reasons) == 0 {
			t.Errorf("edge %+v", e)
		}
	}
	// Unsigned: the answer has exactly the fields it had before signed URLs.
	_, raw := getBody(t, st.base+"/steer/title-000?zone=zone-b")
	for _, f := range []string{`"token"`, `"token_expires"`, `"base"`, "/t/"} {
		if bytes.Contains(raw, []byte(f)) {
			t.Errorf("unsigned /steer carries %s: %s", f, raw)
		}
	}
	// An overloaded edge: a member of zone-b reporting a load far over its zone's mean.
	hot := member(t, "edge-hot", cluster.Meta{Role: cluster.RoleEdge, Zone: "zone-b", HTTP: "127.0.0.1:1"}, st.seed,
		func() cluster.Load { return cluster.Load{RPS: 100000} })
	_ = hot
	harness.Eventually(t, 5*time.Second, "the overloaded edge ranked after zone-b's other edge", func() bool {
		r := steer(t, st, "zone-b")
		for i, e := range r.Edges {
			if e.Name == "edge-hot" {
				return i > 0 && slices.Contains(e.Reasons, "load over bound") && r.Edges[0].Name == "edge-zone-b"
			}
		}
		return false
	})
	// Zone b's edge dies (no goodbye): it drops below every healthy edge once the gossip sees it.
	st.edges["zone-b"].Shutdown()
	d := harness.Eventually(t, 15*time.Second, "the dead edge ranked last", func() bool {
		r := steer(t, st, "zone-b")
		last := r.Edges[len(r.Edges)-1]
		return last.Name == "edge-zone-b" && !last.Healthy && slices.Contains(last.Reasons, "unhealthy")
	})
	t.Logf("dead edge out of the lead %v after it died (gossip failure detection)", d.Round(time.Millisecond))
}

func playSession(t *testing.T, st *stack, zone string) (*hls.Multivariant, string) {
	t.Helper()
	code, b := getBody(t, st.base+"/play/title-000/master.m3u8?zone="+zone)
	if code != 200 {
		t.Fatalf("/play: %d %s", code, b)
	}
	mv, err := hls.ParseMultivariant(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("playback manifest does not parse: %v\n%s", err, b)
	}
	if _, kind, err := m3u8.DecodeFrom(bytes.NewReader(b), true); err != nil || kind != m3u8.MASTER {
		t.Fatalf("grafov/m3u8: %v", err)
	}
	if mv.Steering == nil || !strings.HasPrefix(mv.Steering.ServerURI, "/steering/") {
		t.Fatalf("no content steering tag: %+v", mv.Steering)
	}
	return mv, mv.Steering.ServerURI
}

func TestPlaybackManifestResolves(t *testing.T) {
	st := newStack(t, "zone-a", "zone-b", "zone-c")
	mv, _ := playSession(t, st, "zone-c")
	pathways := map[string]int{}
	for _, v := range mv.Variants {
		pathways[v.PathwayID]++
		if strings.Contains(v.URI, "/t/") {
			t.Errorf("unsigned playback manifest carries a token: %s", v.URI)
		}
		code, b := getBody(t, v.URI)
		if code != 200 {
			t.Fatalf("variant %s (pathway %s): %d", v.URI, v.PathwayID, code)
		}
		media, err := hls.ParseMedia(bytes.NewReader(b))
		if err != nil || len(media.Segments) == 0 || !media.EndList {
			t.Fatalf("variant %s: not a playable media playlist: %v", v.URI, err)
		}
		seg, _ := url.JoinPath(v.URI[:strings.LastIndex(v.URI, "/")], media.Segments[0].URI)
		if code, body := getBody(t, seg); code != 200 || len(body) < 8 || body[0] != 0x47 && string(body[4:8]) != "styp" { // MPEG-TS or CMAF
			t.Fatalf("first segment %s: %d, %d bytes", seg, code, len(body))
		}
	}
	if len(pathways) != 3 || mv.Steering.PathwayID != "zone-c" || mv.Variants[0].PathwayID != "zone-c" {
		t.Errorf("pathways %v, first %q; want 3 with zone-c first", pathways, mv.Steering.PathwayID)
	}
	if pathways["zone-a"] != pathways["zone-b"] || pathways["zone-b"] != pathways["zone-c"] {
		t.Errorf("each variant once per pathway: %v", pathways)
	}
}

func TestSteeringManifest(t *testing.T) {
	st := newStackWith(t, stackOpts{dwell: time.Nanosecond}, "zone-a", "zone-b")
	_, uri := playSession(t, st, "zone-b")
	get := func(q string) map[string]any {
		t.Helper()
		if !strings.HasPrefix(q, "/") {
			q = uri + q
		}
		code, b := getBody(t, st.base+q)
		var m map[string]any
		if code != 200 || json.Unmarshal(b, &m) != nil {
			t.Fatalf("manifest%s: %d %s", q, code, b)
		}
		// What steering writes is what a player reads, to the byte.
		pm, err := steerapi.ParseManifest(b)
		if again, _ := json.Marshal(pm); err != nil || string(again)+"\n" != string(b) {
			t.Errorf("manifest%s as a player reads it: %s, %v; written %s", q, again, err, b)
		}
		return m
	}
	m := get("?_HLS_pathway=zone-b&_HLS_throughput=5000000")
	// Field names and types exactly as the spec has them.
	if v, ok := m["VERSION"].(float64); !ok || v != 1 {
		t.Errorf("VERSION %v", m["VERSION"])
	}
	if v, ok := m["TTL"].(float64); !ok || v != 1 {
		t.Errorf("TTL %v", m["TTL"])
	}
	// The RELOAD-URI carries the session's next state.
	reload, _ := m["RELOAD-URI"].(string)
	id, ok := strings.CutPrefix(reload, "/steering/")
	id, ok2 := strings.CutSuffix(id, ".json")
	if ss, err := decodeSession([]byte(id)); !ok || !ok2 || err != nil || ss.Reloads != 1 || ss.Cur != "zone-b" || ss.Title != "title-000" {
		t.Errorf("RELOAD-URI %v: %+v %v", m["RELOAD-URI"], ss, err)
	}
	prio := func(m map[string]any) []string {
		var out []string
		for _, p := range m["PATHWAY-PRIORITY"].([]any) {
			out = append(out, p.(string))
		}
		return out
	}
	if got := prio(m); !slices.Equal(got, []string{"zone-b", "zone-a"}) {
		t.Errorf("PATHWAY-PRIORITY %v, want [zone-b zone-a]", got)
	}
	for k := range m {
		if !slices.Contains([]string{"VERSION", "TTL", "RELOAD-URI", "PATHWAY-PRIORITY", "PATHWAY-CLONES"}, k) {
			t.Errorf("unexpected field %q", k)
		}
	}
	// Low throughput in the first report, before any segment was measured: no evidence.
	if got := prio(get("?_HLS_pathway=zone-b&_HLS_throughput=1000")); !slices.Equal(got, []string{"zone-b", "zone-a"}) {
		t.Errorf("low throughput in the first report: %v", got)
	}
	// Low throughput reported at a reload, on the current, first pathway: moved to the next.
	if got := prio(get(reload + "?_HLS_pathway=zone-b&_HLS_throughput=1000")); !slices.Equal(got, []string{"zone-a", "zone-b"}) {
		t.Errorf("low throughput: %v", got)
	}
	// A new zone appears mid-session: a clone of an existing pathway.
	st.addZone(t, "zone-c")
	st.waitZones(t, "zone-a", "zone-b", "zone-c")
	m = get("?_HLS_pathway=zone-b")
	clones, _ := m["PATHWAY-CLONES"].([]any)
	if len(clones) != 1 || !slices.Contains(prio(m), "zone-c") {
		t.Fatalf("new zone: clones %v, priority %v", clones, prio(m))
	}
	c := clones[0].(map[string]any)
	if r := c["URI-REPLACEMENT"].(map[string]any); c["ID"] != "zone-c" || c["BASE-ID"] != "zone-b" || r["HOST"] != nil || len(r["PER-VARIANT-URIS"].(map[string]any)) == 0 {
		t.Errorf("clone %v: want PER-VARIANT-URIS (another port), no HOST", c)
	}
	// Zone b goes down: its pathway moves last.
	st.edges["zone-b"].Shutdown()
	d := harness.Eventually(t, 15*time.Second, "zone-b last", func() bool {
		p := prio(get("?_HLS_pathway=zone-b"))
		return p[len(p)-1] == "zone-b" && p[0] != "zone-b"
	})
	t.Logf("zone down: its pathway moved last %v after its only edge died", d.Round(time.Millisecond))
}

func TestHostileRequests(t *testing.T) {
	st := newStack(t, "zone-a")
	_, uri := playSession(t, st, "zone-a")
	for _, p := range []string{
		uri + "?_HLS_pathway=%22%3Cscript%3E",
		uri + "?_HLS_pathway=" + strings.Repeat("a", 100),
		uri + "?_HLS_throughput=abc",
		uri + "?_HLS_throughput=-5",
		uri + "?_HLS_throughput=99999999999999999999999",
		"/steering/notbase64!!.json",
		"/steering/" + strings.Repeat("A", 5000) + ".json",
		"/steering/e30.json", // {} : no pathways
		"/steer/..%2Fetc?zone=zone-a",
		"/steer/title-000?zone=%00",
		"/play/..%2F..%2Fetc/master.m3u8",
	} {
		code, _ := getBody(t, st.base+p)
		if code != 400 {
			t.Errorf("GET %s: %d, want 400", p, code)
		}
	}
	if code, _ := getBody(t, st.base+"/play/nope/master.m3u8"); code != 404 {
		t.Errorf("unknown title: %d, want 404", code)
	}
	if code, _ := getBody(t, st.base+"/steer/title-000?zone=zone-a"); code != 200 {
		t.Errorf("after hostile requests: %d", code)
	}
}

func FuzzSession(f *testing.F) {
	f.Add(session{Zone: "zone-a", Pathways: []string{"zone-a", "zone-b"}, MinBW: 400000, Nonce: "ab"}.encode())
	f.Add(session{Zone: "zone-a", Pathways: []string{"zone-a"}, MinBW: 1, Nonce: "ab", Title: "title-000", Host: "127.0.0.11:8000",
		SegSec: 4, Cur: "zone-a", Since: 1_700_000_000, Reloads: 3}.encode())
	f.Add(session{Pathways: []string{"a"}, Host: "[::1]:80", Title: "../x"}.encode())
	f.Add("e30")
	f.Add("")
	f.Fuzz(func(t *testing.T, id string) {
		ss, err := decodeSession([]byte(id))
		if err != nil {
			return
		}
		for _, p := range append(ss.Pathways, ss.Zone, ss.Cur) {
			if p != "" && !validID([]byte(p)) {
				t.Fatalf("session %q carries pathway %q", id, p)
			}
		}
		if ss.Title != "" && !validTitle([]byte(ss.Title)) || ss.Host != "" && !validHostPort(ss.Host) || ss.Reloads < 0 || ss.Since < 0 {
			t.Fatalf("session %q accepted: %+v", id, ss)
		}
	})
}
