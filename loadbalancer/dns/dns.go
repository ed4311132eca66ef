// Package dns is tier 1 of edgecdn's balancer: an authoritative DNS server whose answers are
// the addresses of the zone balancers whose zone has a healthy edge.
//
// It serves one name, the apex of Config.Domain: A and AAAA records of the healthy balancers,
// rotated round robin on every query, the balancers of the client's zone (Config.ZoneMap, by
// EDNS Client Subnet or source address) first. The apex also has SOA and NS records, and the
// name server's own name its address (Config.NSAddr). Every other name in the domain is
// NXDOMAIN; names outside it are REFUSED.
package dns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	mdns "github.com/miekg/dns"

	"edgecdn/internal/zonemap"
)

// Server is an authoritative DNS server for one domain.
type Server struct {
	cfg      Config
	log      *slog.Logger
	zones    zonemap.Map
	ttl      uint32 // seconds
	negTTL   uint32
	serial   uint32
	nsInside bool // NS is a name of the domain, so the server answers for it
	set      *metrics.Set
	m        serverMetrics
	next     atomic.Uint64  // round-robin position
	failOpen [2]atomic.Bool // per family (IPv4, IPv6): the last answer was fail-open

	mu       sync.Mutex
	stopping bool
	servers  []*mdns.Server
}

// New checks cfg and returns a server ready to Serve.
func New(cfg Config) (*Server, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	zones, err := zonemap.New(cfg.ZoneMap)
	if err != nil {
		return nil, fmt.Errorf("dns: %w", err)
	}
	s := &Server{
		cfg:      cfg,
		log:      cfg.Logger,
		zones:    zones,
		ttl:      uint32(cfg.TTL / time.Second),
		negTTL:   uint32(cfg.NegativeTTL / time.Second),
		serial:   uint32(time.Now().Unix()),
		nsInside: mdns.IsSubDomain(cfg.Domain, cfg.NS),
		set:      cfg.Metrics,
	}
	if s.set == nil {
		s.set = metrics.NewSet()
	}
	s.m.init(s.set, cfg.Source)
	return s, nil
}

// Metrics returns the server's metric set.
func (s *Server) Metrics() *metrics.Set { return s.set }

// Listen opens a UDP socket and a TCP listener on the same HOST:PORT; with port 0, both get
// the same free port (clients retry a truncated UDP answer over TCP on the port they asked).
func Listen(addr string) (net.PacketConn, net.Listener, error) {
	for range 10 {
		udp, err := net.ListenPacket("udp", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("listen udp %s: %w", addr, err)
		}
		tcpAddr := udp.LocalAddr().String()
		host, _, _ := net.SplitHostPort(addr)
		_, port, _ := net.SplitHostPort(tcpAddr)
		tcp, err := net.Listen("tcp", net.JoinHostPort(host, port))
		if err == nil {
			return udp, tcp, nil
		}
		udp.Close()
		if _, p, _ := net.SplitHostPort(addr); p != "0" {
			return nil, nil, fmt.Errorf("listen tcp %s: %w", addr, err)
		}
		// The free UDP port was taken for TCP: try another.
	}
	return nil, nil, fmt.Errorf("listen %s: no port free for both udp and tcp", addr)
}

// ListenAndServe listens on Config.Listen (UDP and TCP) and serves until Shutdown.
func (s *Server) ListenAndServe() error {
	udp, tcp, err := Listen(s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("dns: %w", err)
	}
	return s.Serve(udp, tcp)
}

// Serve answers queries on udp and tcp (either may be nil) until Shutdown, then returns nil.
// It takes over both and closes them. If one fails, the other is stopped and the error
// returned.
func (s *Server) Serve(udp net.PacketConn, tcp net.Listener) error {
	if udp == nil && tcp == nil {
		return errors.New("dns: serve: no socket")
	}
	h := handler{s}
	var srvs []*mdns.Server
	if udp != nil {
		srvs = append(srvs, &mdns.Server{PacketConn: udp, Handler: h, UDPSize: 4096,
			MsgAcceptFunc: s.accept, MsgInvalidFunc: s.invalid})
	}
	if tcp != nil {
		srvs = append(srvs, &mdns.Server{Listener: tcp, Handler: h,
			MsgAcceptFunc: s.accept, MsgInvalidFunc: s.invalid})
	}
	s.mu.Lock()
	if s.stopping {
		s.mu.Unlock()
		closeAll(udp, tcp)
		return nil
	}
	s.servers = append(s.servers, srvs...)
	s.mu.Unlock()

	attrs := []any{"domain", s.cfg.Domain}
	if udp != nil {
		attrs = append(attrs, "udp", udp.LocalAddr().String())
	}
	if tcp != nil {
		attrs = append(attrs, "tcp", tcp.Addr().String())
	}
	s.log.Info("dns listening", attrs...)

	errc := make(chan error, len(srvs))
	for _, srv := range srvs {
		go func() { errc <- srv.ActivateAndServe() }()
	}
	var first error
	for range srvs {
		err := <-errc
		if s.isStopping() || err == nil || first != nil {
			continue
		}
		first = fmt.Errorf("dns: serve: %w", err)
		for _, srv := range srvs {
			srv.ShutdownContext(context.Background()) // the failed one answers "not started"
		}
		closeAll(udp, tcp)
	}
	return first
}

// Shutdown stops answering: the sockets close and in-flight queries finish, until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.stopping = true
	srvs := s.servers
	s.mu.Unlock()
	var errs []error
	for _, srv := range srvs {
		err := srv.ShutdownContext(ctx)
		var de *mdns.Error
		if errors.As(err, &de) {
			// Not started yet (or already stopped): closing its socket ends ActivateAndServe.
			err = nil
		}
		closeAll(srv.PacketConn, srv.Listener)
		if err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("dns: shutdown: %w", err)
	}
	return nil
}

func (s *Server) isStopping() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopping
}

func closeAll(udp net.PacketConn, tcp net.Listener) {
	if udp != nil {
		udp.Close()
	}
	if tcp != nil {
		tcp.Close()
	}
}
