package edge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"edgecdn/internal/health"
)

// origin is one upstream origin and what the edge knows of its health. An origin given by a
// name that --origin-resolve turns into addresses has one origin per address (pods), each with
// its own health; the fetches and failures are counted on the origin given.
type origin struct {
	base   string       // "http://host:port", no trailing slash
	health health.State // passive (fetches) and active (probes)

	fetches, errs atomic.Int64

	host   string                    // the name and port the origin was given as (pods only), sent as Host
	parent *origin                   // the origin given (pods only)
	named  bool                      // given as an http name that --origin-resolve looks up
	pods   atomic.Pointer[[]*origin] // the addresses the name last resolved to, sorted; nil: the name itself
}

// counted is the origin whose fetches and failures o's count as: the one given.
func (o *origin) counted() *origin {
	if o.parent != nil {
		return o.parent
	}
	return o
}

// up reports whether o, or one of the addresses its name resolved to, is healthy.
func (o *origin) up(now time.Time) bool {
	if p := o.pods.Load(); p != nil && len(*p) > 0 {
		for _, a := range *p {
			if a.healthy(now) {
				return true
			}
		}
		return false
	}
	return o.healthy(now)
}

// originRule ejects an origin after two failures in a row, for 2 s doubling up to 30 s.
var originRule = health.Rule{Failures: 2, EjectFor: 2 * time.Second, MaxEjectFor: 30 * time.Second}

func (o *origin) healthy(now time.Time) bool { return o.health.Available(now.UnixNano()) }

// fail records a failed fetch or probe (originRule).
func (o *origin) fail(now time.Time) { o.health.Fail(now, originRule) }

func (o *origin) ok() { o.health.OK(time.Now()) }

// errAnswered marks an origin's failure that was an answer (a 5xx), not its silence.
var errAnswered = errors.New("server error")

// origins fetches from a set of origins with failover: a failed attempt (no answer, a timeout
// before the response head, or a 5xx) moves on to the next origin, or to a second attempt at a lone
// origin that did not answer; ejected origins are skipped until their backoff ends or a probe finds them
// healthy, unless every origin is ejected.
type origins struct {
	list []*origin // as given (--origin)
	next atomic.Uint32
	// resolving: --origin-resolve is on (set before the first fetch), and the origins
	// given by a name may stand for the addresses it resolves to.
	resolving bool
	// named: some origin is given by a name that resolving turns into addresses (http, not an
	// address); set by newOrigins.
	named  bool
	client *http.Client
	via    string
	// nowUsable is closed once usable is true (usableC).
	nowUsable  chan struct{}
	usableOnce sync.Once
}

// targets is what fetches and probes go to: each origin given, or the addresses its name
// resolved to.
func (os *origins) targets() []*origin {
	if !os.resolving {
		return os.list
	}
	t := make([]*origin, 0, len(os.list))
	for _, o := range os.list {
		if p := o.pods.Load(); p != nil && len(*p) > 0 {
			t = append(t, *p...)
		} else {
			t = append(t, o)
		}
	}
	return t
}

func newOrigins(bases []string, headerTimeout time.Duration, via string) (*origins, error) {
	if len(bases) == 0 {
		return nil, errors.New("no origin (--origin URL[,URL...])")
	}
	os := &origins{via: via, nowUsable: make(chan struct{})}
	for _, b := range bases {
		u, err := url.Parse(strings.TrimSpace(b))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			return nil, fmt.Errorf("origin %q: want http://HOST:PORT", b)
		}
		named := u.Scheme == "http" && net.ParseIP(u.Hostname()) == nil
		os.list = append(os.list, &origin{base: u.Scheme + "://" + u.Host, named: named})
		os.named = os.named || named
	}
	tr := &http.Transport{
		Proxy:                  nil, // origins are reached directly, never through an environment proxy
		DialContext:            (&net.Dialer{Timeout: headerTimeout, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost:    256,
		MaxIdleConns:           1024,
		IdleConnTimeout:        90 * time.Second,
		ResponseHeaderTimeout:  headerTimeout,
		DisableCompression:     true,
		MaxResponseHeaderBytes: 64 << 10,
		ForceAttemptHTTP2:      false,
	}
	os.client = &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return os, nil
}

// fetchResult is the head of an origin's answer; the caller reads and closes body.
type fetchResult struct {
	resp   *http.Response
	origin *origin // the origin that answered, or nil for a peer edge
	peer   string
}

func (r fetchResult) source() string {
	if r.origin != nil {
		return r.origin.base
	}
	return r.peer
}

// fetch GETs path (with its query) from the first origin that answers without a server error.
// etag, when set, makes the request conditional (revalidation of a stale copy). hop is sent as
// the hop header for loop protection between edges.
func (os *origins) fetch(ctx context.Context, path string, etag []byte, hdr http.Header) (fetchResult, error) {
	list := os.targets()
	n := len(list)
	start := int(os.next.Add(1)) % n
	now := time.Now()
	// Healthy origins first, in round-robin order; then, if all of those failed, the ejected
	// ones: a dead-looking origin is better than no answer.
	order := make([]*origin, 0, n)
	for i := 0; i < n; i++ {
		if o := list[(start+i)%n]; o.healthy(now) {
			order = append(order, o)
		}
	}
	for i := 0; i < n; i++ {
		if o := list[(start+i)%n]; !o.healthy(now) {
			order = append(order, o)
		}
	}
	if n == 1 {
		// One origin is often a load-balanced name (a Kubernetes Service): an attempt that got
		// no answer is made once more, on another connection, which the balancing may send to
		// another backend, as Traffic Server retries an origin's connection. While a lost
		// node's pod stays among a Service's endpoints (about 40 s), that halves the fills that
		// fail. A 5xx is an answer: it is not asked again.
		order = append(order, order[0])
	}
	var errs []error
	for i, o := range order {
		if ctx.Err() != nil || (n == 1 && i == 1 && len(errs) == 1 && errors.Is(errs[0], errAnswered)) {
			break
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, o.base+path, nil)
		if err != nil {
			return fetchResult{}, err
		}
		for k, v := range hdr {
			req.Header[k] = v
		}
		if o.host != "" {
			req.Host = o.host
		}
		req.Header.Set("Via", os.via)
		if len(etag) > 0 {
			req.Header.Set("If-None-Match", string(etag))
		}
		o.counted().fetches.Add(1)
		resp, err := os.client.Do(req)
		if err == nil && resp.StatusCode < 500 {
			return fetchResult{resp: resp, origin: o}, nil
		}
		o.counted().errs.Add(1)
		o.fail(time.Now())
		if err == nil {
			io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			err = fmt.Errorf("%s: %w", resp.Status, errAnswered)
		}
		errs = append(errs, fmt.Errorf("%s: %w", o.base, err))
	}
	if len(errs) == 0 {
		errs = append(errs, ctx.Err())
	}
	return fetchResult{}, fmt.Errorf("every origin failed: %w", errors.Join(errs...))
}

// probe checks every origin's /healthz each interval until ctx ends, so that an ejected
// origin comes back as soon as it answers and a dead one is ejected before a player waits on it.
func (os *origins) probe(ctx context.Context, interval, timeout time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var wg sync.WaitGroup
		for _, o := range os.targets() {
			wg.Add(1)
			go func() {
				defer wg.Done()
				pctx, cancel := context.WithTimeout(ctx, timeout)
				defer cancel()
				req, _ := http.NewRequestWithContext(pctx, http.MethodGet, o.base+"/healthz", nil)
				if o.host != "" {
					req.Host = o.host
				}
				resp, err := os.client.Do(req)
				if err == nil {
					io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
					resp.Body.Close()
				}
				if err == nil && resp.StatusCode == http.StatusOK {
					o.ok()
				} else if ctx.Err() == nil {
					o.fail(time.Now())
				}
			}()
		}
		wg.Wait()
	}
}

// resolve turns each origin given by a name into the addresses the name resolves to, at once and
// then every interval until ctx ends, so that each pod behind a headless Kubernetes Service is
// an origin of its own: one that stops answering is ejected and probed alone, where through one
// name (a Service's virtual address) every fill would keep picking it at random. An address
// kept from one lookup to the next keeps its health; a lookup that fails or finds nothing
// leaves the addresses as they were (the name itself until one succeeds). lookup is
// net.Resolver.LookupHost's kind.
//
// Until some origin is usable (usable), the names are looked up every second at most: an edge
// starting beside its origins (pods rolled out together) is ready as soon as the origins'
// records exist, not up to an interval later.
func (os *origins) resolve(ctx context.Context, interval time.Duration, lookup func(ctx context.Context, host string) ([]string, error), log *slog.Logger) {
	for {
		for _, o := range os.list {
			os.resolveOne(ctx, o, interval, lookup, log)
		}
		os.usableC() // closes it once usable
		wait := interval
		if !os.usable() {
			wait = min(wait, time.Second)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// usable reports whether a fill has somewhere to go: resolving is off, or an origin is given as
// an address (or https, which follows its name), or an origin's name has resolved at least once.
// Until then every fill would fail on the lookup, and the edge says it is not ready (Ready).
func (os *origins) usable() bool {
	if !os.resolving || !os.named {
		return true
	}
	for _, o := range os.list {
		if p := o.pods.Load(); !o.named || (p != nil && len(*p) > 0) {
			return true
		}
	}
	return false
}

// usableC returns a channel closed once usable is true: at once when it is now, else at the end
// of the lookup round that made it so.
func (os *origins) usableC() <-chan struct{} {
	if os.usable() {
		os.usableOnce.Do(func() { close(os.nowUsable) })
	}
	return os.nowUsable
}

func (os *origins) resolveOne(ctx context.Context, o *origin, timeout time.Duration, lookup func(ctx context.Context, host string) ([]string, error), log *slog.Logger) {
	u, err := url.Parse(o.base)
	if err != nil || u.Scheme != "http" {
		return // https: a certificate names the origin, not its addresses; it follows the name
	}
	host, port := u.Hostname(), u.Port()
	if net.ParseIP(host) != nil {
		return // an address already
	}
	if port == "" {
		port = "80"
	}
	lctx, cancel := context.WithTimeout(ctx, timeout)
	addrs, err := lookup(lctx, host)
	cancel()
	if err != nil || len(addrs) == 0 {
		if ctx.Err() == nil {
			log.Warn("origin name not resolved: its addresses stay as they were", "origin", o.base, "err", err, "addresses", len(addrs))
		}
		return
	}
	slices.Sort(addrs)
	addrs = slices.Compact(addrs)
	old := map[string]*origin{}
	if p := o.pods.Load(); p != nil {
		for _, a := range *p {
			old[a.base] = a
		}
	}
	pods := make([]*origin, 0, len(addrs))
	changed := len(addrs) != len(old)
	for _, a := range addrs {
		base := u.Scheme + "://" + net.JoinHostPort(a, port)
		if k, ok := old[base]; ok {
			pods = append(pods, k)
			continue
		}
		changed = true
		pods = append(pods, &origin{base: base, host: u.Host, parent: o})
	}
	o.pods.Store(&pods)
	if changed {
		log.Info("origin name resolved", "origin", o.base, "addresses", addrs)
	}
}
