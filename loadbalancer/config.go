package loadbalancer

import (
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"edgecdn/internal/cli"
	"edgecdn/internal/evloop"
	"edgecdn/internal/httpx"
)

// A zone balancer's defaults: DefaultConfig holds them, New gives them to the zero fields of a
// Config, and the flags (RegisterFlags) show them.
const (
	DefaultZone            = "default"
	DefaultProbeInterval   = time.Second
	DefaultProbeTimeout    = 500 * time.Millisecond
	DefaultEjectFor        = 5 * time.Second
	DefaultConnectTimeout  = 500 * time.Millisecond
	DefaultHeaderTimeout   = 30 * time.Second
	DefaultAttempts        = 2
	DefaultMaxConnsPerEdge = 1024
)

// Config configures a zone balancer. A zero field means its Default* value; the fields that say
// so take cli.Off (-1) to mean off.
type Config struct {
	Name      string   // default the hostname
	Zone      string   // the zone whose edges it balances; required with a cluster
	CrossZone bool     // when the zone has no healthy edge, spill to the edges of other zones
	Upstreams []string // static edges (HOST:PORT), used in addition to those the cluster announces

	ProbeInterval   time.Duration // active probe of each edge's /readyz; default DefaultProbeInterval; cli.Off (or negative): no probe
	ProbeTimeout    time.Duration // default DefaultProbeTimeout
	EjectFor        time.Duration // an edge that fails a request or a probe is skipped this long (or until a probe succeeds); default DefaultEjectFor
	ConnectTimeout  time.Duration // dialing an edge; default DefaultConnectTimeout
	HeaderTimeout   time.Duration // from request sent to response head; default DefaultHeaderTimeout (an edge may be filling from an origin)
	Attempts        int           // tries per idempotent request on distinct edges; default DefaultAttempts (one retry)
	MaxConnsPerEdge int           // connection pool size per edge; default DefaultMaxConnsPerEdge
	// Redirect answers GET and HEAD with a 302 to the chosen edge (its announced HTTP address)
	// instead of proxying, as Apache Traffic Control's Traffic Router does: the balancer then
	// carries no bodies, but clients must reach the edges' addresses themselves and a client
	// that stays on an edge loses the balancer's retries and ejections.
	Redirect bool
	// Engine serves the client port in proxy mode: EngineLoop (the default; Linux, else
	// EngineGoroutines) runs an epoll event loop per core, as HAProxy and nginx do;
	// EngineGoroutines serves each connection on a goroutine of fasthttp's. Both answer alike.
	Engine string
	// Loops is the number of event loops of EngineLoop; default evloop.DefaultLoops (one per P).
	Loops int
	// NotsentLowat is the TCP_NOTSENT_LOWAT set on each client connection: how far ahead of
	// what TCP can send a response is written; default httpx.DefaultNotsentLowat (16 KiB);
	// cli.Off: not set (the kernel's default, the whole send buffer).
	NotsentLowat int64
	// YieldCPU is how long an event loop runs without waiting before it gives its core to any
	// other thread waiting for it (evloop.Engine.YieldCPU); default evloop.DefaultYieldCPU;
	// cli.Off: never (the kernel takes the core back at the end of a time slice).
	YieldCPU time.Duration
	// AdminToken is the bearer token of /debug/pprof/ (on the admin listener with ServeAdmin);
	// "" leaves it open. /metrics never needs it.
	AdminToken string
	// CORSOrigins are the origins whose web pages may read responses (httpx.CORSConfig.Origins);
	// default none listed, which allows every origin ("*"). The balancer answers CORS itself:
	// an edge's CORS headers are replaced by its own, never repeated.
	CORSOrigins []string

	Logger *slog.Logger
}

// DefaultConfig returns a zone balancer's configuration with every default filled in, as the
// edgecdn binary starts from it.
func DefaultConfig() Config {
	return Config{
		Zone:            DefaultZone,
		ProbeInterval:   DefaultProbeInterval,
		ProbeTimeout:    DefaultProbeTimeout,
		EjectFor:        DefaultEjectFor,
		ConnectTimeout:  DefaultConnectTimeout,
		HeaderTimeout:   DefaultHeaderTimeout,
		Attempts:        DefaultAttempts,
		MaxConnsPerEdge: DefaultMaxConnsPerEdge,
		Engine:          EngineLoop,
		NotsentLowat:    httpx.DefaultNotsentLowat,
		YieldCPU:        evloop.DefaultYieldCPU,
	}
}

// The engines of Config.Engine.
const (
	EngineLoop       = evloop.EngineLoop
	EngineGoroutines = evloop.EngineGoroutines
)

// RegisterFlags registers the balancer's own flags on fs, bound to c's fields and showing c's
// values as their defaults (start from DefaultConfig). The flags every server shares and the
// gossip flags are the binary's.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Zone, "zone", c.Zone, "the zone whose edges this balancer serves")
	fs.BoolVar(&c.CrossZone, "cross-zone", c.CrossZone, "when the zone has no healthy edge, send requests to the edges of other zones")
	cli.List(fs, &c.Upstreams, "upstream", "static edges `HOST:PORT[,...]` in addition to those the gossip announces")
	cli.OffDuration(fs, &c.ProbeInterval, "probe-interval", "active probe of each edge's /readyz every `DURATION` (0: off)")
	fs.DurationVar(&c.EjectFor, "eject-for", c.EjectFor, "how long a failing edge is skipped (a passing probe brings it back sooner)")
	fs.IntVar(&c.Attempts, "attempts", c.Attempts, "tries of an idempotent request on distinct edges")
	mode := "proxy"
	if c.Redirect {
		mode = "redirect"
	}
	fs.Func("mode", "`proxy` requests to the chosen edge, or redirect GET and HEAD to it (302 to the edge's own address, which clients must reach) (default "+mode+")", func(v string) error {
		switch v {
		case "proxy", "redirect":
			c.Redirect = v == "redirect"
			return nil
		}
		return fmt.Errorf("%q: want proxy or redirect", v)
	})
	evloop.RegisterFlags(fs, &c.Engine, &c.Loops, "one per P") // proxy mode only: redirects are answered by fasthttp
	cli.OffBytes(fs, &c.NotsentLowat, "notsent-lowat", "TCP_NOTSENT_LOWAT of client connections: write a response at most `SIZE` ahead of what TCP can send (0: not set, the whole send buffer)")
	cli.OffDuration(fs, &c.YieldCPU, "yield-cpu", "an event loop that has run `DURATION` without waiting gives its core to any other thread waiting for one (sched_yield; 0: never)")
}

func (c *Config) setDefaults() error {
	if c.Name == "" {
		c.Name, _ = os.Hostname()
	}
	cli.Default(&c.ProbeInterval, DefaultProbeInterval)
	cli.Default(&c.ProbeTimeout, DefaultProbeTimeout)
	cli.Default(&c.EjectFor, DefaultEjectFor)
	cli.Default(&c.ConnectTimeout, DefaultConnectTimeout)
	cli.Default(&c.HeaderTimeout, DefaultHeaderTimeout)
	cli.Default(&c.Attempts, DefaultAttempts)
	if c.Attempts < 1 || c.Attempts > maxAttempts {
		return fmt.Errorf("lb: attempts %d: 1 to %d", c.Attempts, maxAttempts)
	}
	cli.Default(&c.MaxConnsPerEdge, DefaultMaxConnsPerEdge)
	cli.Default(&c.NotsentLowat, httpx.DefaultNotsentLowat)
	cli.Default(&c.YieldCPU, evloop.DefaultYieldCPU)
	if err := evloop.Check("lb", &c.Engine, c.Loops); err != nil {
		return err
	}
	for _, u := range c.Upstreams {
		if _, _, err := net.SplitHostPort(u); err != nil {
			return fmt.Errorf("lb: upstream %q: want HOST:PORT", u)
		}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}
