package player

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

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

// DNSEntry resolves Domain with real DNS queries at Server (HOST:PORT) and uses the answers in
// their order, each at Port; answers are reused for their TTL.
type DNSEntry struct {
	Server string
	Domain string
	Port   int

	bases   []string
	expires time.Time
}

// Bases implements Entry.
func (e *DNSEntry) Bases(ctx context.Context, title string) ([]string, error) {
	if len(e.bases) > 0 && time.Now().Before(e.expires) {
		return e.bases, nil
	}
	return e.Refresh(ctx, title)
}

// Refresh implements Entry: a new query.
func (e *DNSEntry) Refresh(ctx context.Context, _ string) ([]string, error) {
	m := new(mdns.Msg)
	m.SetQuestion(mdns.Fqdn(e.Domain), mdns.TypeA)
	c := &mdns.Client{Timeout: 2 * time.Second}
	in, _, err := c.ExchangeContext(ctx, m, e.Server)
	if err == nil && in.Truncated {
		c.Net = "tcp"
		in, _, err = c.ExchangeContext(ctx, m, e.Server)
	}
	if err != nil {
		return nil, fmt.Errorf("resolving %s at %s: %w", e.Domain, e.Server, err)
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
