// Package httpx holds what every edgecdn HTTP server shares: the fasthttp server settings, the
// /healthz, /readyz, /metrics and /debug/pprof/ endpoints, CORS for browsers, listening, and
// continuous profiling.
package httpx

import (
	"bytes"
	"context"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/grafana/pyroscope-go"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"
)

// Options configure NewServer. Zero values mean the defaults in the field comments.
type Options struct {
	Name         string                             // server name sent in the Server header; default "edgecdn"
	ReadTimeout  time.Duration                      // whole request, headers included (slowloris bound); default 10s
	WriteTimeout time.Duration                      // whole response; default 0 (none: a 1 GB object to a slow player may take minutes)
	IdleTimeout  time.Duration                      // keep-alive idle; default 60s
	MaxConns     int                                // concurrent connections; default 0 (fasthttp's 256k)
	ConnState    func(net.Conn, fasthttp.ConnState) // connection state hook (ZeroCopy.ConnState), optional
	Logger       *slog.Logger
}

// The timeouts of a client connection NewServer's servers have by default (and the balancer's
// event loops keep): a request head whole within DefaultReadTimeout of its start, a keep-alive
// connection idle DefaultIdleTimeout at most.
const (
	DefaultReadTimeout = 10 * time.Second
	DefaultIdleTimeout = 60 * time.Second
)

// NewServer returns a fasthttp server with edgecdn's limits: small request bodies (no endpoint
// takes an upload), ReadBufferSize of request line and headers (414 or 431 beyond, 505 for an
// HTTP version other than 1.1 and 1.0). Handlers read the raw path
// (URI().PathOriginal) and clean it with package urlpath, so that traversal is refused rather
// than silently rewritten.
func NewServer(h fasthttp.RequestHandler, o Options) *fasthttp.Server {
	if o.Name == "" {
		o.Name = "edgecdn"
	}
	if o.ReadTimeout == 0 {
		o.ReadTimeout = DefaultReadTimeout
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &fasthttp.Server{
		Handler:                       checkVersion(h),
		ErrorHandler:                  requestError,
		Name:                          o.Name,
		ReadTimeout:                   o.ReadTimeout,
		WriteTimeout:                  o.WriteTimeout,
		IdleTimeout:                   o.IdleTimeout,
		Concurrency:                   o.MaxConns,
		ReadBufferSize:                ReadBufferSize,
		WriteBufferSize:               64 << 10,
		MaxRequestBodySize:            64 << 10,
		DisableHeaderNamesNormalizing: false,
		NoDefaultDate:                 false,
		NoDefaultContentType:          true,
		CloseOnShutdown:               true,
		ReduceMemoryUsage:             false,
		TCPKeepalive:                  true,
		ConnState:                     o.ConnState,
		Logger:                        slogAdapter{o.Logger},
	}
}

type slogAdapter struct{ l *slog.Logger }

func (a slogAdapter) Printf(format string, args ...any) {
	a.l.Debug(fmt.Sprintf(format, args...), "source", "fasthttp")
}

// Listen listens on addr ("HOST:PORT"; port 0 picks a free one).
func Listen(addr string) (net.Listener, error) {
	if addr == "" {
		return nil, fmt.Errorf("listen: no address")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	return ln, nil
}

// MaxHeaders bounds the header fields of a request (Varnish's http_max_hdr is 64); more get 431.
const MaxHeaders = 100

// Admin serves the endpoints every server has and passes everything else to next, after
// refusing requests with more than MaxHeaders header fields:
//
//	/healthz        200 while the process runs
//	/readyz         200 when ready() says so, 503 otherwise (not yet joined, or draining)
//	/metrics        Prometheus text: set, then the Go runtime and process metrics
//	/debug/pprof/   net/http/pprof
//
// It is (&Endpoints{Metrics: set, Ready: ready}).Client(next).
func Admin(set *metrics.Set, ready func() bool, next fasthttp.RequestHandler) fasthttp.RequestHandler {
	return (&Endpoints{Metrics: set, Ready: ready}).Client(next)
}

// Endpoints are the endpoints every server shares, split between its client listener and an
// optional admin listener (--admin-listen). Until Separate is called the client listener
// serves them all, as Admin does; after it, the client listener serves only /healthz and
// /readyz besides its content, and /metrics and /debug/pprof/ are on the admin listener.
//
// /metrics never needs a token: it is what Prometheus scrapes, by the pod annotations, with no
// credentials. /debug/pprof/ (which shows the command line) and the server's own admin routes
// need "Authorization: Bearer <Token>" when Token is set.
type Endpoints struct {
	Metrics *metrics.Set
	Ready   func() bool // reports whether /readyz answers 200; nil: always ready
	Token   string      // bearer token of /debug/pprof/ and the admin routes; "" leaves them open

	separate atomic.Bool
}

// Separate moves /metrics and /debug/pprof/ to the admin listener. Call it before serving.
func (e *Endpoints) Separate() { e.separate.Store(true) }

// Separated reports whether an admin listener serves the admin endpoints.
func (e *Endpoints) Separated() bool { return e.separate.Load() }

// ServeAdmin serves the admin endpoints on ln with srv (a server on AdminHandler) and stops the
// content listener (Client) from answering them: admin traffic can then be kept off the public
// address. component names the server in the log line. Call it before the content listener
// serves.
func (e *Endpoints) ServeAdmin(srv *fasthttp.Server, ln net.Listener, log *slog.Logger, component string) error {
	e.Separate()
	log.Info(component+" admin listening", "addr", ln.Addr().String())
	return srv.Serve(ln)
}

// Client returns the client listener's handler: the shared endpoints (only /healthz and
// /readyz once Separate), then next.
func (e *Endpoints) Client(next fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		if !e.probes(ctx) && (e.separate.Load() || !e.admin(ctx)) {
			next(ctx)
		}
	}
}

// AdminHandler returns the admin listener's handler: every shared endpoint, then routes (the
// server's admin routes; nil for none), which check the token themselves (Authorized), so that
// a path they do not serve is a 404 for anyone.
func (e *Endpoints) AdminHandler(routes fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		if e.probes(ctx) || e.admin(ctx) {
			return
		}
		if routes == nil {
			Fail(ctx, fasthttp.StatusNotFound, "not found")
			return
		}
		routes(ctx)
	}
}

// probes answers the header-count check, /healthz and /readyz; it reports whether it answered.
func (e *Endpoints) probes(ctx *fasthttp.RequestCtx) bool {
	if ctx.Request.Header.Len() > MaxHeaders {
		Fail(ctx, fasthttp.StatusRequestHeaderFieldsTooLarge, "too many header fields")
		ctx.SetConnectionClose()
		return true
	}
	p := ctx.Request.URI().PathOriginal()
	switch {
	case len(p) > 1 && p[1] == 'v':
		// Content paths (/vod/...) are the hot path; skip the comparisons below.
	case bytes.Equal(p, []byte("/healthz")):
		ctx.Response.Header.SetContentType("text/plain; charset=utf-8")
		ctx.Response.Header.Set("Cache-Control", "no-store")
		ctx.WriteString("ok\n")
		return true
	case bytes.Equal(p, []byte("/readyz")):
		ctx.Response.Header.SetContentType("text/plain; charset=utf-8")
		ctx.Response.Header.Set("Cache-Control", "no-store")
		if e.Ready != nil && !e.Ready() {
			ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
			ctx.WriteString("not ready\n")
			return true
		}
		ctx.WriteString("ready\n")
		return true
	}
	return false
}

// admin answers /metrics and /debug/pprof/; it reports whether it answered.
func (e *Endpoints) admin(ctx *fasthttp.RequestCtx) bool {
	p := ctx.Request.URI().PathOriginal()
	switch {
	case len(p) > 1 && p[1] == 'v':
	case bytes.Equal(p, []byte("/metrics")):
		ctx.Response.Header.SetContentType("text/plain; version=0.0.4; charset=utf-8")
		ctx.Response.Header.Set("Cache-Control", "no-store")
		if e.Metrics != nil {
			e.Metrics.WritePrometheus(ctx)
		}
		metrics.WriteProcessMetrics(ctx)
		return true
	case bytes.HasPrefix(p, []byte("/debug/pprof")):
		if Authorized(ctx, e.Token) {
			pprofHandler(ctx)
		}
		return true
	}
	return false
}

// Authorized checks a request's "Authorization: Bearer <token>" in constant time, answering
// 401 when it is wrong. An empty token authorizes every request.
func Authorized(ctx *fasthttp.RequestCtx, token string) bool {
	if token == "" {
		return true
	}
	auth := ctx.Request.Header.Peek("Authorization")
	tok, ok := bytes.CutPrefix(auth, []byte("Bearer "))
	if !ok || subtle.ConstantTimeCompare(tok, []byte(token)) != 1 {
		ctx.Response.Header.Set("WWW-Authenticate", `Bearer realm="edgecdn"`)
		Fail(ctx, fasthttp.StatusUnauthorized, "unauthorized")
		return false
	}
	return true
}

// pprofHandler serves net/http/pprof through fasthttp's adaptor (fasthttp's own pprofhandler
// answers 404 for the index at /debug/pprof/).
var pprofHandler = func() fasthttp.RequestHandler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return fasthttpadaptor.NewFastHTTPHandler(mux)
}()

// Fail answers with status and a one-line plain-text message, keeping the headers already set
// (fasthttp's ctx.Error would drop them, Allow included).
func Fail(ctx *fasthttp.RequestCtx, status int, msg string) {
	ctx.SetStatusCode(status)
	ctx.Response.Header.SetContentType("text/plain; charset=utf-8")
	ctx.Response.Header.Set("Cache-Control", "no-store")
	ctx.Response.SetBodyString(msg + "\n")
}

// StartProfiling sends continuous profiles to a Pyroscope server at url, tagged with the
// component and the node's name. It returns a stop function; with an empty url it does nothing.
func StartProfiling(url, component, name string, log *slog.Logger) (stop func(), err error) {
	if url == "" {
		return func() {}, nil
	}
	runtime.SetMutexProfileFraction(5)
	runtime.SetBlockProfileRate(5)
	p, err := pyroscope.Start(pyroscope.Config{
		ApplicationName: "edgecdn." + component,
		ServerAddress:   url,
		Tags:            map[string]string{"name": name},
		ProfileTypes: []pyroscope.ProfileType{
			pyroscope.ProfileCPU, pyroscope.ProfileAllocObjects, pyroscope.ProfileAllocSpace,
			pyroscope.ProfileInuseObjects, pyroscope.ProfileInuseSpace, pyroscope.ProfileGoroutines,
			pyroscope.ProfileMutexCount, pyroscope.ProfileMutexDuration,
			pyroscope.ProfileBlockCount, pyroscope.ProfileBlockDuration,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("pyroscope %s: %w", url, err)
	}
	log.Info("continuous profiling on", "pyroscope", url, "application", "edgecdn."+component)
	return func() { p.Stop() }, nil
}

// Shutdown stops srv gracefully: no new connections, idle ones closed, in-flight responses
// finished, until ctx ends.
func Shutdown(ctx context.Context, srv *fasthttp.Server) error {
	return srv.ShutdownWithContext(ctx)
}
