package steering

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"edgecdn/internal/dash"
	"edgecdn/internal/httpx"
	"edgecdn/internal/signing"
)

// mpdCache holds titles' DASH manifests as the origins serve them, briefly (PlaylistTTL).
type mpdCache struct {
	mu sync.Mutex
	m  map[string]cachedMPD
}

type cachedMPD struct {
	mpd     *dash.MPD
	fetched time.Time
}

// dashManifest returns a title's manifest.mpd from the origins (cached briefly); errNoTitle
// when the origins have none (no such title, or an MPEG-TS title, which has no DASH manifest).
func (s *Server) dashManifest(ctx context.Context, title string) (*dash.MPD, error) {
	s.mpds.mu.Lock()
	c, ok := s.mpds.m[title]
	s.mpds.mu.Unlock()
	if ok && time.Since(c.fetched) < s.cfg.PlaylistTTL {
		return c.mpd, nil
	}
	var errs []error
	start := int(s.next.Add(1))
	for i := range s.cfg.Origins {
		base := s.cfg.Origins[(start+i)%len(s.cfg.Origins)]
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(base, "/")+"/vod/"+title+"/manifest.mpd", nil)
		resp, err := s.client.Do(req)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, dash.MaxBytes+1))
		resp.Body.Close()
		if resp.StatusCode == http.StatusNotFound {
			return nil, errNoTitle
		}
		if err != nil || resp.StatusCode != http.StatusOK {
			errs = append(errs, fmt.Errorf("%s: %s %v", base, resp.Status, err))
			continue
		}
		mpd, err := dash.Parse(bytes.NewReader(body))
		if err != nil {
			return nil, fmt.Errorf("%s/manifest.mpd: %w", title, err)
		}
		s.mpds.mu.Lock()
		if s.mpds.m == nil || len(s.mpds.m) > 10000 {
			s.mpds.m = map[string]cachedMPD{}
		}
		s.mpds.m[title] = cachedMPD{mpd: mpd, fetched: time.Now()}
		s.mpds.mu.Unlock()
		return mpd, nil
	}
	return nil, fmt.Errorf("no origin answered: %w", errors.Join(errs...))
}

// servePlayDASH answers GET /play/<title>/manifest.mpd: the title's DASH manifest with one
// BaseURL per zone (its balancer) whose serviceLocation is the zone, the client's zone first,
// and ContentSteering pointing at the same steering manifests HLS players read. The segment
// templates are the origin's, so DASH and HLS players fetch the same files.
func (s *Server) servePlayDASH(ctx *fasthttp.RequestCtx, title []byte) {
	var mpd *dash.MPD
	zone, v, zones, ok := s.playStart(ctx, title, "no such title, or no DASH manifest (an MPEG-TS title)", func(c context.Context) (err error) {
		mpd, err = s.dashManifest(c, string(title))
		return err
	})
	if !ok {
		return
	}
	ss := session{Zone: zone, Pathways: zones, MinBW: mpdMinBandwidth(mpd), Nonce: nonce()}
	prefix := ""
	if tok, _, ok := s.token(ctx, string(title)); ok {
		prefix = signing.PathPrefix + tok
	}
	out := *mpd
	out.BaseURLs = nil
	for _, z := range zones {
		out.BaseURLs = append(out.BaseURLs, dash.BaseURL{ServiceLocation: z,
			URL: "http://" + publicAddr(v.lbs[z]) + prefix + "/vod/" + string(title) + "/"})
	}
	// dash.js takes the steering server's URL as it is: make it absolute on the host the
	// client reached.
	server := "/steering/" + ss.encode() + ".json"
	if h := ctx.Host(); validHostHeader(h) {
		server = "http://" + string(h) + server
	}
	out.ContentSteering = &dash.ContentSteering{DefaultServiceLocation: zones[0], QueryBeforeStart: true, URL: server}
	b, err := out.Marshal()
	if err != nil {
		s.log.Warn("dash manifest", "title", string(title), "err", err)
		httpx.Fail(ctx, fasthttp.StatusBadGateway, "title's manifest cannot carry pathways")
		return
	}
	s.m.plays.Inc()
	ctx.Response.Header.SetContentType("application/dash+xml")
	ctx.Response.SetBody(b)
}

func mpdMinBandwidth(m *dash.MPD) int64 {
	var min int64
	for _, p := range m.Periods {
		for _, as := range p.AdaptationSets {
			for _, r := range as.Representations {
				if min == 0 || r.Bandwidth < min {
					min = r.Bandwidth
				}
			}
		}
	}
	return min
}

// validHostHeader accepts a Host header of a name or address and an optional port.
func validHostHeader(h []byte) bool {
	if len(h) == 0 || len(h) > 255 {
		return false
	}
	for _, c := range h {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == ':' || c == '[' || c == ']') {
			return false
		}
	}
	return true
}

// dashPathway reads DASH content steering's query (DASH-IF CS, as dash.js sends it):
// _DASH_pathway is the quoted, comma-separated list of service locations the client used since
// its last request, the current one last; _DASH_throughput their throughputs in bits/s, in the
// same order, an entry empty where unmeasured. It returns the current pathway and its
// throughput; ok is false for a malformed query.
func dashPathway(pathways, throughputs []byte) (current []byte, throughput int64, ok bool) {
	if len(pathways) > 64*65+2 || len(throughputs) > 64*20 {
		return nil, 0, false
	}
	list := pathways
	if len(list) >= 2 && list[0] == '"' && list[len(list)-1] == '"' {
		list = list[1 : len(list)-1]
	}
	var ids [][]byte
	if len(list) > 0 {
		ids = bytes.Split(list, []byte(","))
	}
	for _, id := range ids {
		if !validID(id) {
			return nil, 0, false
		}
	}
	var ts [][]byte
	if len(throughputs) > 0 {
		ts = bytes.Split(throughputs, []byte(","))
	}
	if len(ts) > len(ids) {
		return nil, 0, false
	}
	for _, t := range ts {
		if len(t) == 0 {
			continue
		}
		n, err := strconv.ParseInt(string(t), 10, 64)
		if err != nil || n < 0 || len(t) > 18 {
			return nil, 0, false
		}
	}
	if len(ids) == 0 {
		return nil, 0, true
	}
	current = ids[len(ids)-1]
	if len(ts) == len(ids) && len(ts[len(ts)-1]) > 0 {
		throughput, _ = strconv.ParseInt(string(ts[len(ts)-1]), 10, 64)
	}
	return current, throughput, true
}
