package steering

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"edgecdn/internal/cluster"
	"edgecdn/internal/hls"
	"edgecdn/internal/httpx"
	"edgecdn/internal/placement"
	"edgecdn/internal/signing"
	"edgecdn/internal/steerapi"
)

func (s *Server) route(ctx *fasthttp.RequestCtx) {
	if !ctx.IsGet() && !ctx.IsHead() {
		ctx.Response.Header.Set("Allow", httpx.CORSAllowMethods)
		httpx.Fail(ctx, fasthttp.StatusMethodNotAllowed, "method not allowed")
		return
	}
	ctx.Response.Header.Set("Cache-Control", "no-store")
	p := ctx.Request.URI().PathOriginal()
	switch {
	case bytes.HasPrefix(p, []byte("/steer/")):
		s.serveSteer(ctx, p[len("/steer/"):])
	case bytes.HasPrefix(p, []byte("/play/")) && bytes.HasSuffix(p, []byte("/master.m3u8")):
		s.servePlay(ctx, p[len("/play/"):len(p)-len("/master.m3u8")])
	case bytes.HasPrefix(p, []byte("/play/")) && bytes.HasSuffix(p, []byte("/manifest.mpd")):
		s.servePlayDASH(ctx, p[len("/play/"):len(p)-len("/manifest.mpd")])
	case bytes.HasPrefix(p, []byte("/steering/")) && bytes.HasSuffix(p, []byte(".json")):
		s.serveManifest(ctx, p[len("/steering/"):len(p)-len(".json")])
	case s.cfg.Player != nil && (bytes.HasPrefix(p, []byte("/player/")) || string(p) == "/player"):
		s.cfg.Player(ctx)
	default:
		httpx.Fail(ctx, fasthttp.StatusNotFound, "not found")
	}
}

// serveSteer answers GET /steer/<title>?zone=Z with the edges ranked for that client.
func (s *Server) serveSteer(ctx *fasthttp.RequestCtx, title []byte) {
	zone, ok := s.requestZone(ctx, title)
	if !ok {
		return
	}
	v := s.view()
	ranked := s.rank(context.Background(), v, string(title), zone)
	for _, r := range ranked {
		for _, why := range r.Reasons {
			s.m.reason(why).Inc()
		}
	}
	resp := steerapi.Ranking{Title: string(title), Zone: zone, Edges: ranked}
	if tok, exp, ok := s.token(ctx, string(title)); ok {
		resp.Token, resp.TokenExpires = tok, exp.UTC().Format(time.RFC3339)
		for i := range ranked {
			ranked[i].Base = ranked[i].URL + signing.PathPrefix + tok
		}
	}
	s.m.steers.Inc()
	writeJSON(ctx, resp)
}

// token issues a token for the title's prefix /vod/<title>/, valid TokenTTL from now and bound
// to the client's address when so configured; ok is false when URLs are unsigned.
func (s *Server) token(ctx *fasthttp.RequestCtx, title string) (tok string, expires time.Time, ok bool) {
	if len(s.cfg.SigningKeys) == 0 {
		return "", time.Time{}, false
	}
	c := signing.Claims{Prefix: "/vod/" + title + "/", Expires: time.Now().Add(time.Duration(s.skew.Load()) + s.cfg.TokenTTL).Truncate(time.Second)}
	if s.cfg.TokenBindClient {
		c.IP = ctx.RemoteIP().String() // as the edge reads it: a NAT or balancer in between breaks it
	}
	s.m.tokens.Inc()
	return signing.Sign(s.cfg.SigningKeys[0], c), c.Expires, true
}

// firstSegments returns the placement keys of the title's first three segments in its lowest
// rendition, where players start: the edges that own them hold them (or fill them once for
// everyone). Nil when the playlists cannot be read.
func (s *Server) firstSegments(ctx context.Context, title string) []uint64 {
	mv, err := s.masterPlaylist(ctx, title)
	if err != nil || len(mv.Variants) == 0 {
		return nil
	}
	low := mv.Variants[0]
	for _, v := range mv.Variants {
		if v.Bandwidth < low.Bandwidth {
			low = v
		}
	}
	if strings.Contains(low.URI, "://") || strings.HasPrefix(low.URI, "/") {
		return nil
	}
	media, err := s.mediaPlaylist(ctx, title, low.URI)
	if err != nil {
		return nil
	}
	var uris []string
	for i := 0; i < 3 && i < len(media.Segments); i++ {
		uris = append(uris, media.Segments[i].URI)
	}
	return segmentKeys(title, low.URI, uris)
}

// segmentKeys returns the placement keys of segments listed with uris in the media playlist at
// variantURI of title: each URI resolved against the playlist's URL as a player does, then
// keyed as an edge keys the request (placement.PathKey). Segments on other hosts are skipped.
func segmentKeys(title, variantURI string, uris []string) []uint64 {
	base, err := url.Parse("/vod/" + title + "/" + variantURI)
	if err != nil {
		return nil
	}
	var hs []uint64
	for _, u := range uris {
		ref, err := url.Parse(u)
		if err != nil || ref.Host != "" {
			continue
		}
		if h, ok := placement.PathKey(base.ResolveReference(ref).EscapedPath()); ok {
			hs = append(hs, h)
		}
	}
	return hs
}

func (s *Server) rank(ctx context.Context, v view, title, zone string) []steerapi.Ranked {
	req := Request{Title: title, ClientZone: zone, ZoneMean: v.zoneLoad, Factor: s.cfg.BalanceFactor}
	firsts := s.firstSegments(ctx, title)
	var cands []steerapi.Candidate
	for _, m := range v.edges {
		c := steerapi.Candidate{Name: m.Name, Zone: m.Zone, URL: "http://" + m.HTTP, Healthy: m.Healthy()}
		if m.Load != nil {
			c.Load, c.Known = m.Load.RPS, true
		}
		c.Owns = s.owns(v, m, firsts)
		cands = append(cands, c)
	}
	return s.cfg.Policy.Rank(req, cands)
}

// owns counts the keys of firsts that edge m owns in its zone, as the edges place them.
func (s *Server) owns(v view, m cluster.Member, firsts []uint64) int {
	n := 0
	z := v.place[m.Zone]
	for _, h := range firsts {
		if z.Owner(h) == m.Name {
			n++
		}
	}
	return n
}

// session is what a playback session carries in its steering URI: the client's zone, the
// pathways its playlist listed, what clones need (the title, the first pathway's balancer), and
// the steering state (the pathway it was last given, since when, how many manifests it got).
// Keeping it in the URI keeps the service stateless: any replica answers any session, and each
// manifest's RELOAD-URI carries the session's new state.
type session struct {
	Zone     string   `json:"z,omitempty"`
	Pathways []string `json:"p"`
	MinBW    int64    `json:"b"`
	Nonce    string   `json:"n"`
	Title    string   `json:"t,omitempty"`
	Host     string   `json:"h,omitempty"` // HOST:PORT of the balancer of Pathways[0] in the playlist
	SegSec   float64  `json:"d,omitempty"` // segment duration, seconds; 0 unknown
	Cur      string   `json:"c,omitempty"` // the pathway steering last put first
	Since    int64    `json:"s,omitempty"` // unix seconds: since when Cur is first
	Reloads  int      `json:"r,omitempty"` // steering manifests served to the session
}

const maxSessionLen = 2048 // bytes of base64; a session of a dozen zones and its state takes about 450

func (ss session) encode() string {
	b, _ := json.Marshal(ss)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeSession(id []byte) (session, error) {
	var ss session
	bad := errors.New("bad session")
	if len(id) == 0 || len(id) > maxSessionLen {
		return ss, bad
	}
	b := make([]byte, base64.RawURLEncoding.DecodedLen(len(id)))
	n, err := base64.RawURLEncoding.Decode(b, id)
	if err != nil || json.Unmarshal(b[:n], &ss) != nil || len(ss.Pathways) == 0 || len(ss.Pathways) > 64 || ss.MinBW < 0 {
		return session{}, bad
	}
	if ss.Zone != "" && !validID([]byte(ss.Zone)) || ss.Cur != "" && !validID([]byte(ss.Cur)) ||
		ss.Title != "" && !validTitle([]byte(ss.Title)) || ss.Host != "" && !validHostPort(ss.Host) ||
		ss.SegSec < 0 || ss.SegSec > 86400 || ss.Since < 0 || ss.Reloads < 0 {
		return session{}, bad
	}
	for _, p := range ss.Pathways {
		if !validID([]byte(p)) {
			return session{}, bad
		}
	}
	return ss, nil
}

// validHostPort accepts HOST:PORT as a balancer announces it: a name or an address, a port.
func validHostPort(s string) bool {
	h, p, err := net.SplitHostPort(s)
	if err != nil || h == "" || len(s) > 255 || strings.ContainsAny(h, "/?#@%[]\\ ") {
		return false
	}
	n, err := strconv.Atoi(p)
	return err == nil && n > 0 && n < 65536
}

// order returns the zones in the order a new client should use them (zoneOrder).
func (s *Server) order(v view, zone string) []string {
	return zoneOrder(v.zones, v.zoneLoad, zone, s.cfg.BalanceFactor)
}

// playStart is what GET /play/<title>/... answers in HLS and DASH alike before the playlist:
// the client's zone, the title's manifest from the origins (load; 404 with noTitle when the
// title has none, 502 when no origin answers), the view and the zones in the order the client
// should use them (503 when none is healthy). ok is false once it has answered itself.
func (s *Server) playStart(ctx *fasthttp.RequestCtx, title []byte, noTitle string, load func(context.Context) error) (zone string, v view, zones []string, ok bool) {
	if zone, ok = s.requestZone(ctx, title); !ok {
		return "", view{}, nil, false
	}
	switch err := load(context.Background()); {
	case errors.Is(err, errNoTitle):
		httpx.Fail(ctx, fasthttp.StatusNotFound, noTitle)
		return "", view{}, nil, false
	case err != nil:
		s.log.Warn("play manifest", "title", string(title), "err", err)
		httpx.Fail(ctx, fasthttp.StatusBadGateway, "origin unavailable")
		return "", view{}, nil, false
	}
	v = s.view()
	if zones = s.order(v, zone); len(zones) == 0 {
		httpx.Fail(ctx, fasthttp.StatusServiceUnavailable, "no healthy zone")
		return "", view{}, nil, false
	}
	return zone, v, zones, true
}

// servePlay answers GET /play/<title>/master.m3u8: the title's multivariant playlist with one
// pathway per zone (its balancer), the client's zone first, and the content steering tag.
// Each variant carries a STABLE-VARIANT-ID, the same on every pathway, so that a steering
// manifest can clone a pathway with PER-VARIANT-URIS.
func (s *Server) servePlay(ctx *fasthttp.RequestCtx, title []byte) {
	var mv *hls.Multivariant
	zone, v, zones, ok := s.playStart(ctx, title, "no such title", func(c context.Context) (err error) {
		mv, err = s.masterPlaylist(c, string(title))
		return err
	})
	if !ok {
		return
	}
	ss := session{Zone: zone, Pathways: zones, MinBW: minBandwidth(mv), Nonce: nonce(), Title: string(title),
		Host: publicAddr(v.lbs[zones[0]]), SegSec: s.segmentSeconds(context.Background(), string(title)),
		Cur: zones[0], Since: time.Now().Unix()}
	if !validHostPort(ss.Host) {
		ss.Host = ""
	}
	out := &hls.Multivariant{Version: mv.Version, IndependentSegments: mv.IndependentSegments,
		Steering: &hls.ContentSteering{ServerURI: "/steering/" + ss.encode() + ".json", PathwayID: zones[0]}}
	// One token for the session, in every pathway's URIs: a clone by HOST replaces only the
	// host name, so it keeps the token too.
	prefix := ""
	if tok, _, ok := s.token(ctx, string(title)); ok {
		prefix = signing.PathPrefix + tok
	}
	ids := stableIDs(mv)
	for _, z := range zones {
		base := "http://" + publicAddr(v.lbs[z]) + prefix + "/vod/" + string(title) + "/"
		for i, variant := range mv.Variants {
			vv := variant
			if !strings.Contains(vv.URI, "://") && !strings.HasPrefix(vv.URI, "/") {
				vv.URI = base + vv.URI
			}
			vv.PathwayID, vv.StableVariantID = z, ids[i]
			out.Variants = append(out.Variants, vv)
		}
	}
	b := out.Bytes()
	if b == nil {
		httpx.Fail(ctx, fasthttp.StatusBadGateway, "title's playlist cannot carry pathways")
		return
	}
	s.m.plays.Inc()
	ctx.Response.Header.SetContentType("application/vnd.apple.mpegurl")
	ctx.Response.SetBody(b)
}

// stableIDs names each variant of a title's multivariant playlist for STABLE-VARIANT-ID: its
// rendition's folder (750k for 750k/index.m3u8), or v<index> when that is not a valid, unique
// ID.
func stableIDs(mv *hls.Multivariant) []string {
	ids := make([]string, len(mv.Variants))
	seen := map[string]bool{}
	for i, v := range mv.Variants {
		id := path.Dir(v.URI)
		if id == "." || id == "/" || strings.Contains(v.URI, "://") || hls.CheckStableID(id) != nil || seen[id] {
			id = "v" + strconv.Itoa(i)
		}
		seen[id] = true
		ids[i] = id
	}
	return ids
}

// segmentSeconds is the duration of the title's first segment in its lowest variant; 0 when
// it cannot be read.
func (s *Server) segmentSeconds(ctx context.Context, title string) float64 {
	mv, err := s.masterPlaylist(ctx, title)
	if err != nil || len(mv.Variants) == 0 {
		return 0
	}
	low := mv.Variants[0]
	for _, v := range mv.Variants {
		if v.Bandwidth < low.Bandwidth {
			low = v
		}
	}
	if strings.Contains(low.URI, "://") || strings.HasPrefix(low.URI, "/") {
		return 0
	}
	media, err := s.mediaPlaylist(ctx, title, low.URI)
	if err != nil || len(media.Segments) == 0 {
		return 0
	}
	return media.Segments[0].Duration
}

func minBandwidth(mv *hls.Multivariant) int64 {
	var m int64
	for _, v := range mv.Variants {
		if m == 0 || v.Bandwidth < m {
			m = v.Bandwidth
		}
	}
	return m
}

func publicAddr(m cluster.Member) string {
	if m.Public != "" {
		return m.Public
	}
	return m.HTTP
}

func nonce() string {
	var b [6]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// serveManifest answers GET /steering/<session>.json?_HLS_pathway=P&_HLS_throughput=T, and
// DASH clients' ?_DASH_pathway="P1,P2"&_DASH_throughput=T1,T2 (see dashPathway) with the same
// manifest: PATHWAY-PRIORITY orders HLS pathways and DASH service locations alike.
func (s *Server) serveManifest(ctx *fasthttp.RequestCtx, id []byte) {
	ss, err := decodeSession(id)
	if err != nil {
		s.m.badRequests.Inc()
		httpx.Fail(ctx, fasthttp.StatusBadRequest, "bad session")
		return
	}
	args := ctx.QueryArgs()
	if args.Has("_DASH_pathway") || args.Has("_DASH_throughput") {
		current, throughput, ok := dashPathway(args.Peek("_DASH_pathway"), args.Peek("_DASH_throughput"))
		if !ok {
			s.m.badRequests.Inc()
			httpx.Fail(ctx, fasthttp.StatusBadRequest, "bad _DASH_pathway or _DASH_throughput")
			return
		}
		s.answerManifest(ctx, id, ss, current, throughput)
		return
	}
	current := args.Peek("_HLS_pathway")
	if len(current) > 0 && !validID(current) {
		s.m.badRequests.Inc()
		httpx.Fail(ctx, fasthttp.StatusBadRequest, "bad _HLS_pathway")
		return
	}
	var throughput int64
	if t := args.Peek("_HLS_throughput"); len(t) > 0 {
		throughput, err = strconv.ParseInt(string(t), 10, 64)
		if err != nil || throughput < 0 || len(t) > 18 {
			s.m.badRequests.Inc()
			httpx.Fail(ctx, fasthttp.StatusBadRequest, "bad _HLS_throughput")
			return
		}
	}
	s.answerManifest(ctx, id, ss, current, throughput)
}

// answerManifest writes a session's steering manifest for a client on pathway current.
func (s *Server) answerManifest(ctx *fasthttp.RequestCtx, id []byte, ss session, current []byte, throughput int64) {
	v := s.view()
	m, next := s.manifest(ctx, v, ss, string(current), throughput, time.Now())
	m.ReloadURI = "/steering/" + next.encode() + ".json"
	if len(current) > 0 && len(m.PathwayPriority) > 0 && m.PathwayPriority[0] != string(current) {
		s.m.pathwayChanges.Inc()
	}
	s.m.manifests.Inc()
	writeJSON(ctx, m)
}

// manifest orders a session's pathways: the pathway decidePathway chooses first, then the
// other healthy zones (zoneOrder), then the session's pathways that are not healthy now; zones
// that appeared since the playlist was made as clones. It returns the session's next state,
// for the RELOAD-URI.
func (s *Server) manifest(ctx *fasthttp.RequestCtx, v view, ss session, current string, throughput int64, now time.Time) (steerapi.Manifest, session) {
	m := steerapi.Manifest{Version: 1, TTL: int(s.cfg.TTL.Seconds())}
	known := map[string]bool{}
	for _, p := range ss.Pathways {
		known[p] = true
	}
	var zones []string
	for _, z := range v.zones {
		if !known[z] {
			c, ok := s.clone(ctx, v, ss, z)
			if !ok {
				continue
			}
			m.PathwayClones = append(m.PathwayClones, c)
			known[z] = true
		}
		zones = append(zones, z)
	}
	if !known[current] {
		current = "" // a pathway this session never had
	}
	if current == "" {
		current = ss.Cur
	}
	// Dwell counts from when steering put the session on its pathway; a player that moved by
	// itself (an error on its pathway) starts its dwell now.
	since := now
	if current == ss.Cur && ss.Since > 0 {
		since = time.Unix(ss.Since, 0)
	}
	// The first report of a session comes before any segment was measured (hls.js sends its
	// default estimate): no evidence.
	evidence := ss.Reloads > 0
	first, why := decidePathway(pathwayInput{
		zones: zones, load: v.zoneLoad, edges: v.count, client: ss.Zone, current: current, since: since, now: now,
		throughput: throughput, evidence: evidence, minBW: ss.MinBW, own: ownLoad(ss.SegSec, throughput, ss.MinBW, evidence),
		factor: s.cfg.BalanceFactor, minDwell: s.cfg.MinDwell, margin: s.cfg.LoadMargin,
	})
	s.m.reason(why).Inc()
	var prio []string
	if first != "" {
		prio = append(prio, first)
	}
	for _, z := range zoneOrder(zones, v.zoneLoad, ss.Zone, s.cfg.BalanceFactor) {
		if z != first {
			prio = append(prio, z)
		}
	}
	for _, p := range ss.Pathways {
		if !slices.Contains(prio, p) {
			prio = append(prio, p) // unhealthy now: last
		}
	}
	m.PathwayPriority = prio
	next := ss
	next.Reloads = min(ss.Reloads+1, 1<<20)
	if first != "" {
		next.Cur = first
		if first != current || current != ss.Cur {
			next.Since = now.Unix()
		}
	}
	return m, next
}

// clone makes the PATHWAY-CLONES entry for zone z, a zone the session's playlist did not list,
// from its first pathway: by HOST when z's balancer listens on the port of the first
// pathway's, else by PER-VARIANT-URIS (whole URIs, with a new token when URLs are signed). ok
// is false when z has no balancer or the title's playlist cannot be read.
func (s *Server) clone(ctx *fasthttp.RequestCtx, v view, ss session, z string) (steerapi.Clone, bool) {
	lb, ok := v.lbs[z]
	if !ok {
		return steerapi.Clone{}, false
	}
	addr := publicAddr(lb)
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return steerapi.Clone{}, false
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	c := steerapi.Clone{BaseID: ss.Pathways[0], ID: z}
	if _, basePort, err := net.SplitHostPort(ss.Host); (err == nil && basePort == port) || ss.Title == "" {
		// A session from before titles were carried has no other way.
		c.URIReplacement.Host = host
		return c, true
	}
	mv, err := s.masterPlaylist(context.Background(), ss.Title)
	if err != nil {
		s.log.Warn("clone: playlist", "title", ss.Title, "err", err)
		return steerapi.Clone{}, false
	}
	prefix := ""
	if tok, _, ok := s.token(ctx, ss.Title); ok {
		prefix = signing.PathPrefix + tok
	}
	ids := stableIDs(mv)
	c.URIReplacement.PerVariantURIs = map[string]string{}
	for i, variant := range mv.Variants {
		if !strings.Contains(variant.URI, "://") && !strings.HasPrefix(variant.URI, "/") {
			c.URIReplacement.PerVariantURIs[ids[i]] = "http://" + addr + prefix + "/vod/" + ss.Title + "/" + variant.URI
		}
	}
	return c, true
}

func writeJSON(ctx *fasthttp.RequestCtx, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		httpx.Fail(ctx, fasthttp.StatusInternalServerError, "internal error")
		return
	}
	ctx.Response.Header.SetContentType("application/json")
	ctx.Response.SetBody(append(b, '\n'))
}

// requestZone checks a request's title and finds the client's zone, answering 400 itself when
// either is bad.
func (s *Server) requestZone(ctx *fasthttp.RequestCtx, title []byte) (string, bool) {
	if !validTitle(title) {
		s.m.badRequests.Inc()
		httpx.Fail(ctx, fasthttp.StatusBadRequest, "bad title")
		return "", false
	}
	zone, err := s.clientZone(ctx)
	if err != nil {
		s.m.badRequests.Inc()
		httpx.Fail(ctx, fasthttp.StatusBadRequest, err.Error())
		return "", false
	}
	return zone, true
}
