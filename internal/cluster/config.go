package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/hashicorp/memberlist"

	"edgecdn/internal/cli"
)

// A member's defaults: DefaultConfig holds them and Start gives them to the zero fields of a
// Config. The failure detector's are memberlist's LAN timings: faster ones detect a dead edge a
// second or two sooner but, on a loaded node, mark live ones dead, and every false death moves
// keys around the ring.
const (
	DefaultGossipListen   = ":7946"
	DefaultLoadInterval   = time.Second
	DefaultStaleLoad      = 5 * time.Second
	DefaultProbeInterval  = time.Second
	DefaultProbeTimeout   = 500 * time.Millisecond
	DefaultSuspicionMult  = 4
	DefaultRejoinInterval = 5 * time.Second
	DefaultJoinTimeout    = 2 * time.Second
	DefaultJoinAttempts   = 3
	DefaultForgetAfter    = 5 * time.Minute
)

// Config configures a member. A zero field means its Default* value.
type Config struct {
	Name           string        // unique member name; default the hostname (in Kubernetes, the pod name)
	Meta           Meta          // role, zone, addresses
	GossipListen   string        // HOST:PORT for gossip, UDP and TCP; default DefaultGossipListen; port 0 picks one
	Advertise      string        // HOST:PORT others reach the gossip at; default the bound address (an address of this host when bound to all)
	Join           []string      // HOST:PORT of members to join; a name resolving to many addresses joins them all (a Kubernetes headless Service)
	Key            []byte        // AES key (16, 24 or 32 bytes): gossip encrypted with it, members without it refused
	OldKeys        [][]byte      // further keys accepted from others while keys rotate (docs: k8s/README.md)
	LoadFunc       func() Load   // when set, called every LoadInterval and shared with the cluster
	LoadInterval   time.Duration // default DefaultLoadInterval
	StaleLoad      time.Duration // reports older than this are ignored; default DefaultStaleLoad
	ProbeInterval  time.Duration // failure detector probe interval; default DefaultProbeInterval
	ProbeTimeout   time.Duration // default DefaultProbeTimeout
	SuspicionMult  int           // suspicion lasts SuspicionMult x log10(n) x ProbeInterval; default DefaultSuspicionMult
	RejoinInterval time.Duration // retry joins and dead members this often, to heal partitions; default DefaultRejoinInterval
	// JoinTimeout bounds one join attempt: every join address is tried at once, each for at
	// most this long (memberlist's TCP timeout), so dead addresses a headless Service still
	// lists cost one timeout, not one each. Default DefaultJoinTimeout.
	JoinTimeout time.Duration
	// JoinAttempts is how many join attempts, a second apart, find nobody before the member
	// counts as the first of a new cluster and Joined reports true alone (it keeps trying to
	// join every RejoinInterval). Default DefaultJoinAttempts.
	JoinAttempts int
	// ForgetAfter is how long dead and departed members stay listed (Members, /cluster) before
	// they are forgotten; default DefaultForgetAfter.
	ForgetAfter time.Duration
	// Resolve looks up a join host's addresses; default net.DefaultResolver.LookupHost.
	Resolve func(ctx context.Context, host string) ([]string, error)
	// EventKey turns cluster-wide events on (Publish, OnEvent): they are signed with an HMAC
	// keyed by it, and events not signed with it are refused. edgecdn uses the admin token.
	// Default none: events off.
	EventKey []byte
	// OnEvent is called once for each event this member accepts, its own included, off
	// memberlist's goroutines; what it returns goes back to the publisher with the ack.
	OnEvent func(Event) []byte
	// EventMaxAge is how long an event is accepted and re-offered to members that were away;
	// default DefaultEventMaxAge.
	EventMaxAge time.Duration
	// Transport replaces memberlist's own UDP/TCP transport on GossipListen (a counting
	// wrapper, or an in-memory network in tests and benchmarks). Default none.
	Transport memberlist.Transport
	Logger    *slog.Logger
}

// DefaultConfig returns a member's configuration with every default filled in.
func DefaultConfig() Config {
	return Config{
		GossipListen:   DefaultGossipListen,
		LoadInterval:   DefaultLoadInterval,
		StaleLoad:      DefaultStaleLoad,
		ProbeInterval:  DefaultProbeInterval,
		ProbeTimeout:   DefaultProbeTimeout,
		SuspicionMult:  DefaultSuspicionMult,
		RejoinInterval: DefaultRejoinInterval,
		JoinTimeout:    DefaultJoinTimeout,
		JoinAttempts:   DefaultJoinAttempts,
		ForgetAfter:    DefaultForgetAfter,
	}
}

func (c *Config) setDefaults() error {
	if c.Name == "" {
		c.Name, _ = os.Hostname()
	}
	if c.Name == "" {
		return errors.New("cluster: no member name")
	}
	cli.Default(&c.GossipListen, DefaultGossipListen)
	for _, k := range append([][]byte{c.Key}, c.OldKeys...) {
		if n := len(k); n != 0 && n != 16 && n != 24 && n != 32 {
			return fmt.Errorf("cluster: gossip key of %d bytes: want 16, 24 or 32", n)
		}
	}
	if len(c.Key) == 0 && len(c.OldKeys) > 0 {
		return errors.New("cluster: further gossip keys without a first one")
	}
	cli.Default(&c.LoadInterval, DefaultLoadInterval)
	cli.Default(&c.StaleLoad, DefaultStaleLoad)
	cli.Default(&c.ProbeInterval, DefaultProbeInterval)
	cli.Default(&c.ProbeTimeout, DefaultProbeTimeout)
	cli.Default(&c.RejoinInterval, DefaultRejoinInterval)
	cli.Default(&c.JoinTimeout, DefaultJoinTimeout)
	cli.Default(&c.ForgetAfter, DefaultForgetAfter)
	cli.Default(&c.SuspicionMult, DefaultSuspicionMult)
	cli.Default(&c.JoinAttempts, DefaultJoinAttempts)
	if c.Resolve == nil {
		c.Resolve = net.DefaultResolver.LookupHost
	}
	cli.Default(&c.EventMaxAge, DefaultEventMaxAge)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}
