package steering

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/valyala/fasthttp"

	"edgecdn/internal/cli"
	"edgecdn/internal/ring"
	"edgecdn/internal/zonemap"
)

// The steering service's defaults: DefaultConfig holds them, New gives them to the zero fields
// of a Config, and the flags (RegisterFlags) show them.
const (
	DefaultOrigin      = "http://127.0.0.1:8080"
	DefaultTTL         = 10 * time.Second
	DefaultMinDwell    = 30 * time.Second
	DefaultLoadMargin  = 2.0
	DefaultPlaylistTTL = 30 * time.Second
	DefaultTokenTTL    = 2 * time.Hour
)

// Config configures the steering service. A zero field means its Default* value.
type Config struct {
	Name          string          // default the hostname
	Origins       []string        // origin base URLs, where multivariant playlists are read; at least one
	ZoneMap       []zonemap.Entry // client subnet to zone, when a request names no zone
	TTL           time.Duration   // steering manifest TTL: how often players ask again; default DefaultTTL
	BalanceFactor float64         // an edge or zone above this times the mean load counts as overloaded; default ring.DefaultBalanceFactor
	// MinDwell is how long a playback session stays on a pathway before steering moves it for
	// load or throughput (an unhealthy pathway is left at once); default DefaultMinDwell.
	MinDwell time.Duration
	// LoadMargin is how much more loaded (requests/s per edge, the session's own requests
	// taken out) a session's zone must be than the best zone before steering moves it there;
	// default DefaultLoadMargin.
	LoadMargin  float64
	Policy      Policy        // edge ranking; default DefaultPolicy
	PlaylistTTL time.Duration // how long a title's multivariant playlist is reused; default DefaultPlaylistTTL
	// SigningKeys, when set, sign every URL handed out (package signing) with the first key;
	// the others are accepted by edges during a rotation and unused here. Default none: URLs
	// are unsigned.
	SigningKeys [][]byte
	// TokenTTL is how long a session's tokens are valid: the longest a player can play from one
	// playback manifest or ranking. Default DefaultTokenTTL; at least 1s (tokens carry whole seconds).
	TokenTTL time.Duration
	// TokenBindClient binds tokens to the address the request came from. Off by default: a
	// balancer or NAT between the player and the edges changes the address the edge sees.
	TokenBindClient bool
	// AdminToken is the bearer token of /debug/pprof/ (on the admin listener with ServeAdmin);
	// "" leaves it open. /metrics never needs it. It also signs cluster-wide events and turns
	// on POST /admin/purge, which purges on every edge (package purge).
	AdminToken string
	// CORSOrigins are the origins whose web pages may read responses (httpx.CORSConfig.Origins);
	// default none listed, which allows every origin ("*").
	CORSOrigins []string
	// Player, when set, answers GET /player/ and everything under it: the browser player
	// (package web). Default none: 404.
	Player fasthttp.RequestHandler
	Logger *slog.Logger
}

func (c *Config) setDefaults() error {
	if c.Name == "" {
		c.Name, _ = os.Hostname()
	}
	if len(c.Origins) == 0 {
		return errors.New("steering: no origin (--origin URL[,URL...])")
	}
	cli.Default(&c.TTL, DefaultTTL)
	if c.TTL < time.Second {
		return fmt.Errorf("steering: TTL %v: at least 1s (the manifest carries whole seconds)", c.TTL)
	}
	cli.Default(&c.BalanceFactor, ring.DefaultBalanceFactor)
	cli.Default(&c.MinDwell, DefaultMinDwell)
	if c.MinDwell < 0 {
		return fmt.Errorf("steering: min dwell %v: negative", c.MinDwell)
	}
	cli.Default(&c.LoadMargin, DefaultLoadMargin)
	if c.LoadMargin < 0 {
		return fmt.Errorf("steering: load margin %v: negative", c.LoadMargin)
	}
	if c.Policy == nil {
		c.Policy = DefaultPolicy{}
	}
	cli.Default(&c.PlaylistTTL, DefaultPlaylistTTL)
	cli.Default(&c.TokenTTL, DefaultTokenTTL)
	if c.TokenTTL < time.Second {
		return fmt.Errorf("steering: token TTL %v: at least 1s (tokens carry whole seconds)", c.TokenTTL)
	}
	for i, k := range c.SigningKeys {
		if len(k) < 16 {
			return fmt.Errorf("steering: signing key %d: %d bytes, want at least 16", i+1, len(k))
		}
	}
	if c.TokenBindClient && len(c.SigningKeys) == 0 {
		return errors.New("steering: binding tokens to clients needs a signing key")
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// DefaultConfig returns the steering service's configuration with every default filled in, as
// the edgecdn binary starts from it.
func DefaultConfig() Config {
	return Config{
		Origins:       []string{DefaultOrigin},
		TTL:           DefaultTTL,
		BalanceFactor: ring.DefaultBalanceFactor,
		MinDwell:      DefaultMinDwell,
		LoadMargin:    DefaultLoadMargin,
		PlaylistTTL:   DefaultPlaylistTTL,
		TokenTTL:      DefaultTokenTTL,
	}
}

// RegisterFlags registers the steering service's own flags on fs, bound to c's fields and
// showing c's values as their defaults (start from DefaultConfig). The signing flags, the
// player's folder, the flags every server shares and the gossip flags are the binary's.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	cli.List(fs, &c.Origins, "origin", "origin base `URL`s where titles' playlists are read, comma-separated")
	fs.Var(zonemap.Flag{P: &c.ZoneMap}, "zone-map", "client subnets to zones, `CIDR=zone[,...]`, for requests that name no zone")
	fs.DurationVar(&c.TTL, "ttl", c.TTL, "steering manifest TTL: how often players ask again")
	fs.Float64Var(&c.BalanceFactor, "balance-factor", c.BalanceFactor, "an edge or zone above this times the mean load counts as overloaded")
	fs.DurationVar(&c.MinDwell, "min-dwell", c.MinDwell, "a playback session stays this long on a pathway before it is moved for load or throughput (an unhealthy one is left at once)")
	fs.Float64Var(&c.LoadMargin, "load-margin", c.LoadMargin, "requests/s per edge by which a session's zone (its own requests taken out) must be more loaded than the best zone to move it")
}
