// Package purge is the cluster-wide purge: a request names a path or a prefix, any member with
// the admin token publishes it as a signed cluster event, every edge drops what matches and
// acknowledges, and the caller hears which edges have confirmed by a deadline.
package purge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"edgecdn/internal/cluster"
	"edgecdn/internal/httpx"
	"edgecdn/internal/urlpath"
)

// Kind is the cluster event kind of a purge.
const Kind = "purge"

// DefaultWait is how long a cluster-wide purge waits for every edge to confirm (?wait=).
const DefaultWait = 5 * time.Second

// MaxWait bounds ?wait=.
const MaxWait = time.Minute

// Request is what to purge: one object (Path, and its allowlisted-query variants) or every
// object under Prefix. Both are clean paths (package urlpath), as edges key their caches.
type Request struct {
	Path   string `json:"path,omitempty"`
	Prefix string `json:"prefix,omitempty"`
}

// Parse reads a request from the path= and prefix= arguments: exactly one of them, a path
// that urlpath.Clean accepts (a prefix may end in a slash).
func Parse(path, prefix []byte) (Request, error) {
	if (len(path) == 0) == (len(prefix) == 0) {
		return Request{}, errors.New("give exactly one of path= and prefix=")
	}
	if len(path) > 0 {
		clean, err := urlpath.Clean(nil, path)
		if err != nil {
			return Request{}, fmt.Errorf("bad path: %w", err)
		}
		return Request{Path: string(clean)}, nil
	}
	clean, err := urlpath.Clean(nil, prefix)
	if err != nil || len(clean) < 2 {
		return Request{}, errors.New("bad prefix")
	}
	return Request{Prefix: string(clean)}, nil
}

// Valid reports whether r is what Parse returns: one clean path or prefix.
func (r Request) Valid() bool {
	got, err := Parse([]byte(r.Path), []byte(r.Prefix))
	return err == nil && got == r
}

// Matches reports whether the purge covers cache key key.
func (r Request) Matches(key string) bool {
	if r.Path != "" {
		return key == r.Path || (strings.HasPrefix(key, r.Path) && key[len(r.Path)] == '?')
	}
	return strings.HasPrefix(key, r.Prefix)
}

// Answer is what an edge returns with its ack.
type Answer struct {
	Purged int `json:"purged"` // objects it dropped
}

// Result is what a cluster-wide purge answers.
type Result struct {
	ID        string   `json:"id"`
	Request            // what was purged
	Complete  bool     `json:"complete"`          // every live edge confirmed before the deadline
	Edges     int      `json:"edges"`             // live edges when the purge was published
	Confirmed []string `json:"confirmed"`         // edges that applied it, sorted
	Missing   []string `json:"missing,omitempty"` // live edges that had not confirmed by the deadline
	Purged    int      `json:"purged"`            // objects dropped on the confirmed edges
	TookMS    float64  `json:"took_ms"`           // from publishing to the last ack (or the deadline)
}

// All publishes r to every member of c and waits, up to wait, until every edge that is alive
// (or starting, or draining) when it is published has applied it.
func All(ctx context.Context, c *cluster.Cluster, r Request, wait time.Duration) (Result, error) {
	body, err := json.Marshal(r)
	if err != nil {
		return Result{}, err
	}
	var want []string
	for _, m := range c.Members() {
		if m.Role == cluster.RoleEdge && (m.State == cluster.Alive || m.State == cluster.Starting || m.State == cluster.Draining) {
			want = append(want, m.Name)
		}
	}
	start := time.Now()
	ev, err := c.Publish(Kind, body)
	if err != nil {
		return Result{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	got, missing := c.WaitAcks(ctx, ev.ID, want)
	res := Result{ID: ev.ID, Request: r, Edges: len(want), Missing: missing, Complete: len(missing) == 0,
		TookMS: float64(time.Since(start).Microseconds()) / 1000, Confirmed: []string{}}
	for _, name := range want {
		b, ok := got[name]
		if !ok {
			continue
		}
		res.Confirmed = append(res.Confirmed, name)
		var a Answer
		if json.Unmarshal(b, &a) == nil {
			res.Purged += a.Purged
		}
	}
	slices.Sort(res.Confirmed)
	return res, nil
}

// Serve answers a cluster-wide POST /admin/purge?path=P|prefix=P[&wait=5s] for a member of c
// whose caller has already checked the admin token: 200 with a Result once every live edge
// has confirmed, 202 with the edges missing when the deadline comes first (the purge still
// reaches them through the gossip), 400 for a bad request, 503 when events are off.
func Serve(ctx *fasthttp.RequestCtx, c *cluster.Cluster) {
	ctx.Response.Header.Set("Cache-Control", "no-store")
	if !ctx.IsPost() {
		ctx.Response.Header.Set("Allow", "POST")
		httpx.Fail(ctx, fasthttp.StatusMethodNotAllowed, "method not allowed")
		return
	}
	args := ctx.QueryArgs()
	r, err := Parse(args.Peek("path"), args.Peek("prefix"))
	if err != nil {
		httpx.Fail(ctx, fasthttp.StatusBadRequest, err.Error())
		return
	}
	wait := DefaultWait
	if w := args.Peek("wait"); len(w) > 0 {
		if wait, err = time.ParseDuration(string(w)); err != nil || wait <= 0 || wait > MaxWait {
			httpx.Fail(ctx, fasthttp.StatusBadRequest, fmt.Sprintf("bad wait: want a duration up to %v", MaxWait))
			return
		}
	}
	if c == nil || !c.EventsOn() {
		httpx.Fail(ctx, fasthttp.StatusServiceUnavailable, "cluster-wide purge needs the cluster and an admin token")
		return
	}
	// Not ctx: a fasthttp RequestCtx as a context parent races with the server's shutdown.
	res, err := All(context.Background(), c, r, wait)
	if err != nil {
		httpx.Fail(ctx, fasthttp.StatusServiceUnavailable, err.Error())
		return
	}
	if !res.Complete {
		ctx.SetStatusCode(fasthttp.StatusAccepted)
	}
	ctx.Response.Header.SetContentType("application/json")
	b, _ := json.Marshal(res)
	ctx.Write(append(b, '\n'))
}
