package player

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"edgecdn/internal/cli"

	mdns "github.com/miekg/dns"
)

// Entry finds where a player fetches a title: an ordered list of base URLs (edges, balancers or
// pathways), best first.
type Entry interface {
	// Bases returns the base URLs to use, best first ("http://HOST:PORT").
	Bases(ctx context.Context, title string) ([]string, error)
	// Refresh is called after a failure: the entry may re-resolve. It returns the new list.
	Refresh(ctx context.Context, title string) ([]string, error)
}

// URLEntry sends every request to one base URL (an edge or a balancer).
type URLEntry struct{ Base string }

// Bases implements Entry.
func (e URLEntry) Bases(context.Context, string) ([]string, error) {
	return []string{strings.TrimRight(e.Base, "/")}, nil
}

// Refresh implements Entry.
func (e URLEntry) Refresh(ctx context.Context, t string) ([]string, error) { return e.Bases(ctx, t) }

// DNSEntry resolves Domain with real DNS queries at Server and uses the answers in their order,
// each at Port; answers are reused for their TTL.
//
// It asks as a stub resolver does (Go's, glibc's, dig's): each query gets Timeout, the servers
// are tried in turn, and the round is made Attempts times. Every try goes from a new socket, so
// a DNS Service in Kubernetes balances it afresh: for the tens of seconds a lost node's DNS pod
// stays among its endpoints, one unlucky source port does not keep a player from resolving.
type DNSEntry struct {
	Server   string // HOST:PORT, or several, comma-separated (a resolv.conf's nameservers)
	Domain   string
	Port     int
	Timeout  time.Duration // one try; default DefaultDNSTimeout
	Attempts int           // rounds over the servers; default DefaultDNSAttempts

	bases   []string
	expires time.Time
}

// A query's defaults: at most 3 s on a server that never answers, as dig's three tries
// (+tries=3) but with 1 s each, short enough for a player to re-resolve inside its buffer.
const (
	DefaultDNSTimeout  = time.Second
	DefaultDNSAttempts = 3
)

// Bases implements Entry.
func (e *DNSEntry) Bases(ctx context.Context, title string) ([]string, error) {
	if len(e.bases) > 0 && time.Now().Before(e.expires) {
		return e.bases, nil
	}
	return e.Refresh(ctx, title)
}

// Refresh implements Entry: a new query.
func (e *DNSEntry) Refresh(ctx context.Context, _ string) ([]string, error) {
	in, err := e.exchange(ctx)
	if err != nil {
		return nil, err
	}
	if in.Rcode != mdns.RcodeSuccess {
		return nil, fmt.Errorf("resolving %s: %s", e.Domain, mdns.RcodeToString[in.Rcode])
	}
	var bases []string
	ttl := uint32(60)
	for _, rr := range in.Answer {
		if a, ok := rr.(*mdns.A); ok {
			bases = append(bases, "http://"+net.JoinHostPort(a.A.String(), strconv.Itoa(e.Port)))
			ttl = min(ttl, a.Hdr.Ttl)
		}
	}
	if len(bases) == 0 {
		return nil, errors.New("resolving " + e.Domain + ": no address")
	}
	e.bases, e.expires = bases, time.Now().Add(time.Duration(ttl)*time.Second)
	return bases, nil
}

// exchange asks the servers for Domain's A records, as a stub resolver: Attempts rounds over
// the servers, each try from a new socket with Timeout, TCP when the answer is truncated. An
// answer with any rcode ends it; a try's error moves to the next.
func (e *DNSEntry) exchange(ctx context.Context) (*mdns.Msg, error) {
	servers := cli.SplitList(e.Server)
	if len(servers) == 0 {
		return nil, errors.New("resolving " + e.Domain + ": no DNS server")
	}
	timeout, attempts := e.Timeout, e.Attempts
	if timeout <= 0 {
		timeout = DefaultDNSTimeout
	}
	if attempts <= 0 {
		attempts = DefaultDNSAttempts
	}
	m := new(mdns.Msg)
	m.SetQuestion(mdns.Fqdn(e.Domain), mdns.TypeA)
	var errs []error
	for range attempts {
		for _, srv := range servers {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			c := &mdns.Client{Timeout: timeout}
			in, _, err := c.ExchangeContext(ctx, m, srv)
			if err == nil && in.Truncated {
				c.Net = "tcp"
				in, _, err = c.ExchangeContext(ctx, m, srv)
			}
			if err == nil {
				return in, nil
			}
			errs = append(errs, err)
		}
	}
	return nil, fmt.Errorf("resolving %s at %s: %d tries: %w", e.Domain, e.Server, len(errs), errors.Join(errs...))
}
