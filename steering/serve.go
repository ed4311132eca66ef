package steering

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"edgecdn/internal/cluster"
	"edgecdn/internal/hls"
	"edgecdn/internal/httpx"
	"edgecdn/internal/ring"
	"edgecdn/internal/signing"
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

// SteerResponse is the answer of GET /steer/<title>. With signed URLs, each edge's Base is the
// edge's URL with the token's path prefix (http://HOST:PORT/t/<token>), what a player puts
// before /vod/<title>/...; Token and TokenExpires are empty otherwise.
type SteerResponse struct {
	Title        string   `json:"title"`
	Zone         string   `json:"zone"`
	Edges        []Ranked `json:"edges"`
	Token        string   `json:"token,omitempty"`         // for the prefix /vod/<title>/
	TokenExpires string   `json:"token_expires,omitempty"` // RFC 3339
}

// serveSteer answers GET /steer/<title>?zone=Z with the edges ranked for that client.
func (s *Server) serveSteer(ctx *fasthttp.RequestCtx, title []byte) {
	if !validTitle(title) {
		s.m.badRequests.Inc()
		httpx.Fail(ctx, fasthttp.StatusBadRequest, "bad title")
		return
	}
	zone, err := s.clientZone(ctx)
	if err != nil {
		s.m.badRequests.Inc()
		httpx.Fail(ctx, fasthttp.StatusBadRequest, err.Error())
		return
	}
	v := s.view()
	ranked := s.rank(context.Background(), v, string(title), zone)
	for _, r := range ranked {
		for _, why := range r.Reasons {
			s.m.reason(why).Inc()
		}
	}
	resp := SteerResponse{Title: string(title), Zone: zone, Edges: ranked}
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

// firstSegments returns the cache keys of the title's first three segments in its lowest
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
	dir := path.Dir(low.URI)
	var hs []uint64
	for i := 0; i < 3 && i < len(media.Segments); i++ {
		hs = append(hs, ring.HashString(path.Join("/vod", title, dir, media.Segments[i].URI)))
	}
	return hs
}

func (s *Server) rank(ctx context.Context, v view, title, zone string) []Ranked {
	req := Request{Title: title, ClientZone: zone, ZoneMean: v.zoneLoad, Factor: s.cfg.BalanceFactor}
	firsts := s.firstSegments(ctx, title)
	var cands []Candidate
	for _, m := range v.edges {
		c := Candidate{Name: m.Name, Zone: m.Zone, URL: "http://" + m.HTTP, Healthy: m.Healthy()}
		if m.Load != nil {
			c.Load, c.Known = m.Load.RPS, true
		}
		if r := v.rings[m.Zone]; r != nil {
			for _, h := range firsts {
				if r.OwnerName(h) == m.Name {
					c.Owns++
				}
			}
		}
		cands = append(cands, c)
	}
	return s.cfg.Policy.Rank(req, cands)
}

// session is what a playback session carries in its steering URI: the client's zone, the
// pathways its playlist listed, and the title's lowest bandwidth. Keeping it in the URI keeps
// the service stateless: any replica answers any session.
type session struct {
	Zone     string   `json:"z,omitempty"`
	Pathways []string `json:"p"`
	MinBW    int64    `json:"b"`
	Nonce    string   `json:"n"`
}

const maxSessionLen = 1024

func (ss session) encode() string {
	b, _ := json.Marshal(ss)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeSession(id []byte) (session, error) {
	var ss session
	if len(id) == 0 || len(id) > maxSessionLen {
		return ss, errors.New("bad session")
	}
	b := make([]byte, base64.RawURLEncoding.DecodedLen(len(id)))
	n, err := base64.RawURLEncoding.Decode(b, id)
	if err != nil || json.Unmarshal(b[:n], &ss) != nil || len(ss.Pathways) == 0 || len(ss.Pathways) > 64 || ss.MinBW < 0 {
		return ss, errors.New("bad session")
	}
	if ss.Zone != "" && !validID([]byte(ss.Zone)) {
		return ss, errors.New("bad session")
	}
	for _, p := range ss.Pathways {
		if !validID([]byte(p)) {
			return ss, errors.New("bad session")
		}
	}
	return ss, nil
}

// order returns the zones in the order a client should use them: its own zone first while it
// is healthy and not overloaded, then the other healthy zones from least to most loaded, the
// overloaded ones after them.
func (s *Server) order(v view, zone string) []string {
	var mean float64
	for _, z := range v.zones {
		mean += v.zoneLoad[z]
	}
	if len(v.zones) > 0 {
		mean /= float64(len(v.zones))
	}
	over := func(z string) bool { return mean > 0 && v.zoneLoad[z] > s.cfg.BalanceFactor*mean }
	zs := slices.Clone(v.zones)
	slices.SortStableFunc(zs, func(a, b string) int {
		key := func(z string) int {
			switch {
			case over(z):
				return 2
			case z == zone:
				return 0
			}
			return 1
		}
		if ka, kb := key(a), key(b); ka != kb {
			return ka - kb
		}
		if la, lb := v.zoneLoad[a], v.zoneLoad[b]; la != lb {
			if la < lb {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
	return zs
}

// servePlay answers GET /play/<title>/master.m3u8: the title's multivariant playlist with one
// pathway per zone (its balancer), the client's zone first, and the content steering tag.
func (s *Server) servePlay(ctx *fasthttp.RequestCtx, title []byte) {
	if !validTitle(title) {
		s.m.badRequests.Inc()
		httpx.Fail(ctx, fasthttp.StatusBadRequest, "bad title")
		return
	}
	zone, err := s.clientZone(ctx)
	if err != nil {
		s.m.badRequests.Inc()
		httpx.Fail(ctx, fasthttp.StatusBadRequest, err.Error())
		return
	}
	mv, err := s.masterPlaylist(context.Background(), string(title))
	switch {
	case errors.Is(err, errNoTitle):
		httpx.Fail(ctx, fasthttp.StatusNotFound, "no such title")
		return
	case err != nil:
		s.log.Warn("playlist", "title", string(title), "err", err)
		httpx.Fail(ctx, fasthttp.StatusBadGateway, "origin unavailable")
		return
	}
	v := s.view()
	zones := s.order(v, zone)
	if len(zones) == 0 {
		httpx.Fail(ctx, fasthttp.StatusServiceUnavailable, "no healthy zone")
		return
	}
	ss := session{Zone: zone, Pathways: zones, MinBW: minBandwidth(mv), Nonce: nonce()}
	out := &hls.Multivariant{Version: mv.Version, IndependentSegments: mv.IndependentSegments,
		Steering: &hls.ContentSteering{ServerURI: "/steering/" + ss.encode() + ".json", PathwayID: zones[0]}}
	// One token for the session, in every pathway's URIs: a clone replaces only the host, so
	// it keeps the token too.
	prefix := ""
	if tok, _, ok := s.token(ctx, string(title)); ok {
		prefix = signing.PathPrefix + tok
	}
	for _, z := range zones {
		base := "http://" + publicAddr(v.lbs[z]) + prefix + "/vod/" + string(title) + "/"
		for _, variant := range mv.Variants {
			vv := variant
			if !strings.Contains(vv.URI, "://") && !strings.HasPrefix(vv.URI, "/") {
				vv.URI = base + vv.URI
			}
			vv.PathwayID = z
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

// Manifest is an HLS Content Steering manifest (rfc8216bis, section 7.1).
type Manifest struct {
	Version         int      `json:"VERSION"`
	TTL             int      `json:"TTL"`
	ReloadURI       string   `json:"RELOAD-URI,omitempty"`
	PathwayPriority []string `json:"PATHWAY-PRIORITY"`
	PathwayClones   []Clone  `json:"PATHWAY-CLONES,omitempty"`
}

// Clone is a PATHWAY-CLONES entry: a new pathway made from an existing one by replacing the
// host of its URIs.
type Clone struct {
	BaseID         string         `json:"BASE-ID"`
	ID             string         `json:"ID"`
	URIReplacement URIReplacement `json:"URI-REPLACEMENT"`
}

// URIReplacement is a clone's URI-REPLACEMENT.
type URIReplacement struct {
	Host string `json:"HOST,omitempty"` // HOST:PORT when the port differs (hls.js sets URL.host)
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
	m := s.manifest(v, ss, string(current), throughput)
	m.ReloadURI = "/steering/" + string(id) + ".json"
	if len(current) > 0 && len(m.PathwayPriority) > 0 && m.PathwayPriority[0] != string(current) {
		s.m.pathwayChanges.Inc()
	}
	s.m.manifests.Inc()
	writeJSON(ctx, m)
}

// manifest orders a session's pathways: the order of healthy zones (order), the session's
// pathways that are not healthy now last; new zones as clones. A client reporting a throughput
// below 1.2 times the title's lowest bandwidth on its current, first pathway is moved to the
// next healthy pathway: a struggling edge is the likelier cause than every zone at once.
func (s *Server) manifest(v view, ss session, current string, throughput int64) Manifest {
	m := Manifest{Version: 1, TTL: int(s.cfg.TTL.Seconds())}
	known := map[string]bool{}
	for _, p := range ss.Pathways {
		known[p] = true
	}
	var prio []string
	for _, z := range s.order(v, ss.Zone) {
		if !known[z] {
			if lb, ok := v.lbs[z]; ok {
				m.PathwayClones = append(m.PathwayClones, Clone{BaseID: ss.Pathways[0], ID: z, URIReplacement: URIReplacement{Host: publicAddr(lb)}})
				known[z] = true
			} else {
				continue
			}
		}
		prio = append(prio, z)
	}
	healthy := len(prio)
	for _, p := range ss.Pathways {
		if !slices.Contains(prio, p) {
			prio = append(prio, p) // unhealthy now: last
		}
	}
	if throughput > 0 && ss.MinBW > 0 && float64(throughput) < 1.2*float64(ss.MinBW) &&
		healthy > 1 && len(prio) > 1 && prio[0] == current {
		prio[0], prio[1] = prio[1], prio[0]
		s.m.reason("low throughput").Inc()
	}
	m.PathwayPriority = prio
	return m
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
