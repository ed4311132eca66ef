package edge

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"edgecdn/internal/cli"
	"edgecdn/internal/evloop"
	"edgecdn/internal/httpx"
	"edgecdn/internal/ring"
	"edgecdn/internal/signing"
)

// An edge's defaults: DefaultConfig holds them, New gives them to the zero fields of a Config,
// and the flags (RegisterFlags) show them.
const (
	DefaultOrigin              = "http://127.0.0.1:8080"
	DefaultZone                = "default"
	DefaultCacheBytes          = 1 << 30
	DefaultMaxObjectBytes      = 256 << 20
	DefaultDiskBytes           = 10 << 30
	DefaultFillTimeout         = 30 * time.Second
	DefaultOriginHeaderTimeout = 5 * time.Second
	DefaultProbeInterval       = 2 * time.Second
	DefaultStaleIfError        = 10 * time.Minute
	DefaultTTL                 = 10 * time.Second
	DefaultHotThreshold        = 4
	DefaultHotWindow           = 10 * time.Second
	DefaultPeerTimeout         = 500 * time.Millisecond
	DefaultEgressCapacity      = 10e9
)

// Config configures an edge. A zero field means its Default* value; the fields that say so take
// cli.Off (-1) to mean off or none.
type Config struct {
	Name    string   // the edge's name in Cache-Status, Via and X-Served-By; default the hostname
	Origins []string // origin base URLs (http://HOST:PORT); at least one. Tried in turn on failure.

	CacheBytes     int64  // memory cache capacity; default DefaultCacheBytes (at least 1 MiB)
	CachePolicy    string // eviction policy (package cache); default its own default
	MaxObjectBytes int64  // larger objects are refused with 502; default DefaultMaxObjectBytes
	DiskDir        string // optional disk tier folder; "" for none
	DiskBytes      int64  // disk tier capacity; default DefaultDiskBytes when DiskDir is set

	FillTimeout         time.Duration // whole origin fetch, body included; default DefaultFillTimeout
	OriginHeaderTimeout time.Duration // connect and response head from one origin before trying the next; default DefaultOriginHeaderTimeout
	ProbeInterval       time.Duration // active origin health probe; default DefaultProbeInterval; cli.Off (or negative): no probe
	// OriginResolve, when set, looks each origin's name up this often and makes each address
	// an origin of its own, with its own health (the pods of a headless Kubernetes Service);
	// 0: off, connections follow the name.
	OriginResolve time.Duration
	// OriginLookup resolves an origin's name for OriginResolve; default net.DefaultResolver's.
	OriginLookup func(ctx context.Context, host string) ([]string, error)
	StaleIfError time.Duration // serve an expired copy this long past expiry when every origin fails; default DefaultStaleIfError; cli.Off: never
	DefaultTTL   time.Duration // freshness of responses without max-age; default DefaultTTL

	Zone           string        // this edge's zone; keys are placed on the edges of the same zone
	Clustered      bool          // a cluster will be attached (AttachCluster): not ready before it has joined; default false (ready alone)
	CrossZoneFill  bool          // a zone's owner asks the key's home zone before the origins
	BalanceFactor  float64       // bounded-loads factor: an owner above this times the zone's mean load hands keys on; default ring.DefaultBalanceFactor
	HotThreshold   int           // a non-owner that misses a key this many times in HotWindow keeps it too; default DefaultHotThreshold; cli.Off (or negative): never
	HotWindow      time.Duration // default DefaultHotWindow
	PeerTimeout    time.Duration // connecting to a peer edge before falling back to the origins; default DefaultPeerTimeout
	EgressCapacity int64         // bits/s this edge can serve, for CMSD etp and duress; default DefaultEgressCapacity

	QueryAllowlist []string // query parameters kept in the cache key; default none (every query is dropped)
	SigningKeys    [][]byte // when set, content requests need a signed path /t/<token>/... (package signing) valid under one of these keys
	AdminToken     string   // bearer token of /admin/ endpoints (purge); "" disables them
	// CORSOrigins are the origins whose web pages may read responses (httpx.CORSConfig.Origins:
	// "https://player.example.com"); default none listed, which allows every origin ("*").
	CORSOrigins []string

	// Engine serves the client port: evloop.EngineLoop (the default; Linux, else
	// goroutines) answers fresh hits from epoll event loops and gives the rest to the fasthttp
	// server; evloop.EngineGoroutines serves each connection on a goroutine of fasthttp's.
	// Both answer alike.
	Engine string
	// Loops is the number of event loops; default evloop.DefaultLoops (one per P).
	Loops int
	// NotsentLowat is the TCP_NOTSENT_LOWAT set on each client connection: how far ahead of
	// what TCP can send a response is written; default httpx.DefaultNotsentLowat (16 KiB);
	// cli.Off: not set (the kernel's default, the whole send buffer).
	NotsentLowat int64
	// YieldCPU is how long an event loop runs without waiting before it gives its core to any
	// other thread waiting for it (evloop.Engine.YieldCPU); default evloop.DefaultYieldCPU;
	// cli.Off: never (the kernel takes the core back at the end of a time slice).
	YieldCPU time.Duration

	Logger *slog.Logger // default slog.Default()
}

// DefaultConfig returns an edge's configuration with every default filled in, as the edgecdn
// binary starts from it.
func DefaultConfig() Config {
	return Config{
		Origins:             []string{DefaultOrigin},
		Zone:                DefaultZone,
		CacheBytes:          DefaultCacheBytes,
		MaxObjectBytes:      DefaultMaxObjectBytes,
		DiskBytes:           DefaultDiskBytes,
		FillTimeout:         DefaultFillTimeout,
		OriginHeaderTimeout: DefaultOriginHeaderTimeout,
		ProbeInterval:       DefaultProbeInterval,
		StaleIfError:        DefaultStaleIfError,
		NotsentLowat:        httpx.DefaultNotsentLowat,
		YieldCPU:            evloop.DefaultYieldCPU,
		DefaultTTL:          DefaultTTL,
		BalanceFactor:       ring.DefaultBalanceFactor,
		HotThreshold:        DefaultHotThreshold,
		HotWindow:           DefaultHotWindow,
		PeerTimeout:         DefaultPeerTimeout,
		EgressCapacity:      DefaultEgressCapacity,
		Engine:              evloop.EngineLoop,
	}
}

// RegisterFlags registers the edge's own flags on fs, bound to c's fields and showing c's
// values as their defaults (start from DefaultConfig). The flags every server shares (listen,
// admin, CORS, logging) and the gossip flags are the binary's.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Zone, "zone", c.Zone, "this edge's zone; keys are placed on the edges of each zone")
	fs.BoolVar(&c.CrossZoneFill, "cross-zone-fill", c.CrossZoneFill, "a zone's owner of a key asks the key's home zone before the origins")
	fs.Float64Var(&c.BalanceFactor, "balance-factor", c.BalanceFactor, "bounded loads: an owner above this times its zone's mean load hands keys to the next edge")
	cli.OffInt(fs, &c.HotThreshold, "hot-threshold", "a non-owner that misses a key `N` times in 10 s keeps a copy (0: never)")
	cli.List(fs, &c.Origins, "origin", "origin base `URL`s, comma-separated, tried in turn on failure")
	cli.BytesVar(fs, &c.CacheBytes, "cache-size", "memory cache capacity `SIZE`")
	fs.StringVar(&c.CachePolicy, "cache-policy", c.CachePolicy, "eviction policy `NAME`: s3fifo or lru (default: the cache's default)")
	cli.BytesVar(fs, &c.MaxObjectBytes, "max-object", "largest object `SIZE` the edge fetches")
	fs.StringVar(&c.DiskDir, "disk-cache", c.DiskDir, "disk tier `DIR` (optional; survives restarts, checked on every read)")
	cli.BytesVar(fs, &c.DiskBytes, "disk-size", "disk tier capacity `SIZE`")
	fs.DurationVar(&c.FillTimeout, "fill-timeout", c.FillTimeout, "whole origin fetch, body included")
	fs.DurationVar(&c.OriginHeaderTimeout, "origin-timeout", c.OriginHeaderTimeout, "connect and response head from one origin before the next is tried")
	fs.DurationVar(&c.OriginResolve, "origin-resolve", c.OriginResolve, "look the http origins' names up every `DURATION` and make each address an origin of its own, ejected and probed alone (the pods of a headless Kubernetes Service; 0: off, connections follow the name)")
	cli.OffDuration(fs, &c.ProbeInterval, "probe-interval", "active origin health probe every `DURATION` (0: off)")
	cli.OffDuration(fs, &c.StaleIfError, "stale-if-error", "serve an expired copy up to `DURATION` past expiry when every origin fails (0: never)")
	fs.DurationVar(&c.DefaultTTL, "default-ttl", c.DefaultTTL, "freshness of responses without max-age")
	cli.List(fs, &c.QueryAllowlist, "cache-key-query", "query parameter `NAMES` kept in the cache key, comma-separated (default none)")
	cli.Keys(fs, &c.SigningKeys, "url-signing-key", "base64 `KEYS` (comma-separated, the new one first while an old one still verifies): content requests then need a signed path /t/<token>/... (edgecdn sign)", signing.ParseKeys)
	evloop.RegisterFlags(fs, &c.Engine, &c.Loops, "one per P, GOMAXPROCS")
	cli.OffBytes(fs, &c.NotsentLowat, "notsent-lowat", "TCP_NOTSENT_LOWAT of client connections: write a response at most `SIZE` ahead of what TCP can send (0: not set, the whole send buffer)")
	cli.OffDuration(fs, &c.YieldCPU, "yield-cpu", "an event loop that has run `DURATION` without waiting gives its core to any other thread waiting for one (sched_yield; 0: never)")
}

func (c *Config) setDefaults() error {
	if c.Name == "" {
		c.Name, _ = os.Hostname()
	}
	cli.Default(&c.CacheBytes, DefaultCacheBytes)
	if c.CacheBytes < 1<<20 {
		return fmt.Errorf("edge: cache size %d: at least 1MiB", c.CacheBytes)
	}
	cli.Default(&c.MaxObjectBytes, DefaultMaxObjectBytes)
	if c.DiskDir != "" && c.DiskBytes == 0 {
		c.DiskBytes = DefaultDiskBytes
	}
	cli.Default(&c.FillTimeout, DefaultFillTimeout)
	cli.Default(&c.OriginHeaderTimeout, DefaultOriginHeaderTimeout)
	cli.Default(&c.ProbeInterval, DefaultProbeInterval)
	cli.Default(&c.StaleIfError, DefaultStaleIfError)
	if c.OriginResolve < 0 {
		return fmt.Errorf("edge: origin resolve interval %v: want 0 (off) or more", c.OriginResolve)
	}
	if c.OriginLookup == nil {
		c.OriginLookup = net.DefaultResolver.LookupHost
	}
	cli.Default(&c.DefaultTTL, DefaultTTL)
	cli.Default(&c.BalanceFactor, ring.DefaultBalanceFactor)
	if c.BalanceFactor < 1 {
		return fmt.Errorf("edge: balance factor %v: at least 1", c.BalanceFactor)
	}
	cli.Default(&c.HotThreshold, DefaultHotThreshold)
	cli.Default(&c.HotWindow, DefaultHotWindow)
	cli.Default(&c.PeerTimeout, DefaultPeerTimeout)
	cli.Default(&c.EgressCapacity, DefaultEgressCapacity)
	cli.Default(&c.NotsentLowat, httpx.DefaultNotsentLowat)
	cli.Default(&c.YieldCPU, evloop.DefaultYieldCPU)
	if err := evloop.Check("edge", &c.Engine, c.Loops); err != nil {
		return err
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}
