package dns

import (
	"edgecdn/internal/cli"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	"github.com/VictoriaMetrics/metrics"
	mdns "github.com/miekg/dns"

	"edgecdn/internal/zonemap"
)

// A DNS server's defaults: DefaultConfig holds them, New gives them to the zero fields of a
// Config, and the flags (RegisterFlags) show them.
const (
	DefaultDomain      = "video.edgecdn.local"
	DefaultListen      = ":53"
	DefaultTTL         = 5 * time.Second
	DefaultNegativeTTL = 30 * time.Second
	DefaultMaxAnswers  = 8
	DefaultMaxUDPSize  = 1232
)

// Config configures a DNS server. A zero field means its Default* value.
type Config struct {
	// Domain is the name served, with or without the trailing dot; default DefaultDomain.
	Domain string
	// Listen is HOST:PORT for UDP and TCP alike, used by ListenAndServe; default DefaultListen, the only
	// port stub resolvers and recursive resolvers query (binding it needs root or
	// CAP_NET_BIND_SERVICE). Tests and unprivileged runs pass "127.0.0.1:0" or ":5353" and
	// call Serve with their own sockets.
	Listen string
	// TTL of the A and AAAA records; default DefaultTTL. Short, so that clients move off a zone soon
	// after it fails; resolvers that floor TTLs (30 s is common) make the switch slower.
	TTL time.Duration
	// NegativeTTL is how long resolvers cache NXDOMAIN and empty answers (the SOA minimum and
	// the SOA record's TTL); default DefaultNegativeTTL.
	NegativeTTL time.Duration
	// MaxAnswers is the most addresses in one answer; default DefaultMaxAnswers.
	MaxAnswers int
	// MaxUDPSize caps UDP responses whatever EDNS0 size the client offers; default DefaultMaxUDPSize (the
	// DNS flag day 2020 size, which avoids IP fragmentation). Clients without EDNS0 get 512.
	MaxUDPSize int
	// ZoneMap sends clients of a subnet to their zone's balancers first (longest prefix wins).
	ZoneMap []zonemap.Entry
	// NS is the name server's name, in the NS and SOA records; default "ns1.<Domain>".
	NS string
	// Hostmaster is the SOA's mailbox, as a name; default "hostmaster.<Domain>".
	Hostmaster string
	// NSAddr is the address of NS when NS lies inside Domain: it is NS's A or AAAA record and
	// the glue of NS answers. Default none (the parent zone's glue has it anyway).
	NSAddr netip.Addr
	// Source lists the balancers. Required.
	Source Source
	// Logger defaults to slog.Default().
	Metrics *metrics.Set // where its metrics go; default a new set (the binary shares it with its HTTP port)
	Logger  *slog.Logger
}

func (c *Config) setDefaults() error {
	if c.Source == nil {
		return errors.New("dns: no balancer source")
	}
	cli.Default(&c.Domain, DefaultDomain)
	c.Domain = strings.ToLower(mdns.Fqdn(c.Domain))
	if _, ok := mdns.IsDomainName(c.Domain); !ok || c.Domain == "." {
		return fmt.Errorf("dns: domain %q: not a domain name", c.Domain)
	}
	cli.Default(&c.Listen, DefaultListen)
	cli.Default(&c.TTL, DefaultTTL)
	cli.Default(&c.NegativeTTL, DefaultNegativeTTL)
	if c.TTL < time.Second || c.NegativeTTL < time.Second {
		return fmt.Errorf("dns: ttl %v, negative ttl %v: want at least 1s", c.TTL, c.NegativeTTL)
	}
	cli.Default(&c.MaxAnswers, DefaultMaxAnswers)
	if c.MaxAnswers < 0 {
		return fmt.Errorf("dns: max answers %d: want at least 1", c.MaxAnswers)
	}
	cli.Default(&c.MaxUDPSize, DefaultMaxUDPSize)
	if c.MaxUDPSize < mdns.MinMsgSize || c.MaxUDPSize > mdns.MaxMsgSize {
		return fmt.Errorf("dns: max udp size %d: want 512 to 65535", c.MaxUDPSize)
	}
	cli.Default(&c.NS, "ns1."+c.Domain)
	cli.Default(&c.Hostmaster, "hostmaster."+c.Domain)
	for _, n := range []*string{&c.NS, &c.Hostmaster} {
		*n = strings.ToLower(mdns.Fqdn(*n))
		if _, ok := mdns.IsDomainName(*n); !ok {
			return fmt.Errorf("dns: %q: not a domain name", *n)
		}
	}
	if c.NSAddr.IsValid() {
		c.NSAddr = c.NSAddr.Unmap()
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// DefaultConfig returns a DNS server's configuration with every default filled in (but the
// Source, which the caller gives), as the edgecdn binary starts from it.
func DefaultConfig() Config {
	return Config{
		Domain:      DefaultDomain,
		Listen:      DefaultListen,
		TTL:         DefaultTTL,
		NegativeTTL: DefaultNegativeTTL,
		MaxAnswers:  DefaultMaxAnswers,
		MaxUDPSize:  DefaultMaxUDPSize,
	}
}

// RegisterFlags registers the DNS server's own flags on fs, bound to c's fields and showing
// c's values as their defaults (start from DefaultConfig). Its HTTP port, gossip, drain and
// logging flags are the binary's.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Domain, "domain", c.Domain, "the `NAME` served")
	fs.StringVar(&c.Listen, "listen", c.Listen, "DNS listen address `HOST:PORT`, UDP and TCP (port 0 picks one and logs it)")
	fs.DurationVar(&c.TTL, "ttl", c.TTL, "TTL of A and AAAA answers")
	fs.DurationVar(&c.NegativeTTL, "negative-ttl", c.NegativeTTL, "SOA minimum: how long resolvers cache NXDOMAIN and empty answers")
	fs.IntVar(&c.MaxAnswers, "max-answers", c.MaxAnswers, "most addresses in one answer")
	fs.IntVar(&c.MaxUDPSize, "max-udp-size", c.MaxUDPSize, "largest UDP answer in `BYTES`, whatever EDNS0 size the client offers (512 to 65535)")
	fs.StringVar(&c.NS, "ns", c.NS, "the name server's `NAME` in the NS and SOA records (default ns1.<domain>)")
	fs.StringVar(&c.Hostmaster, "hostmaster", c.Hostmaster, "the SOA's mailbox, as a `NAME` (default hostmaster.<domain>)")
	fs.Var(zonemap.Flag{P: &c.ZoneMap}, "zone-map", "client subnets to zones, `CIDR=zone[,...]`: that zone's balancers come first (EDNS Client Subnet honoured)")
	fs.Var(addrFlag{&c.NSAddr}, "ns-addr", "this server's own `ADDRESS`, the glue of its NS record")
}

type addrFlag struct{ p *netip.Addr }

func (a addrFlag) String() string {
	if a.p == nil || !a.p.IsValid() {
		return ""
	}
	return a.p.String()
}

func (a addrFlag) Set(s string) error {
	v, err := netip.ParseAddr(s)
	if err != nil {
		return err
	}
	*a.p = v
	return nil
}
