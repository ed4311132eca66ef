// Package demo brings up the whole CDN in one process on loopback — origins, edges in three
// zones, a balancer per zone, the DNS server and the steering service, all gossiping — and
// drives it with a fleet of clients. `edgecdn demo` and the benchmarks use it.
package demo

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"edgecdn/edge"
	"edgecdn/internal/cluster"
	"edgecdn/loadbalancer"
	"edgecdn/loadbalancer/dns"
	"edgecdn/origin"
	"edgecdn/steering"
	"edgecdn/web"
)

// StackConfig says what to start. Zero values mean the defaults in the field comments.
type StackConfig struct {
	Content       string   // content folder; required
	Origins       int      // origin replicas; default 2
	Zones         []string // default zone-a, zone-b, zone-c
	EdgesPerZone  int      // default 2
	CacheBytes    int64    // per edge; default 256 MiB
	CrossZoneFill bool
	SigningKeys   [][]byte      // edges' and steering's URL-signing keys (the first signs); default none: unsigned
	CORSOrigins   []string      // origins whose web pages may read every server's responses; default any ("*")
	SteeringTTL   time.Duration // steering manifest TTL; default steering's
	WebDir        string        // where steering's /player/ reads hls.js and dash.js (web.Config.Dir); default web.FindDir()
	Logger        *slog.Logger  // component logs; default discard
}

// Stack is a running CDN.
type Stack struct {
	Origins  []string          // base URLs
	Edges    []*Edge           // every edge
	LBs      map[string]string // zone -> HOST:PORT
	DNS      string            // HOST:PORT, UDP and TCP
	Domain   string
	Steering string // base URL

	stops   []func(context.Context) error
	lbStops map[string]func(context.Context) error // zone -> its balancer's stop
	lbKills map[string]func() error                // zone -> its balancer's kill
}

// Edge is one running edge.
type Edge struct {
	Name, Zone, URL string
	Server          *edge.Server

	stop func(context.Context) error
	kill func() error
}

// Stop shuts the edge down: it leaves the gossip and its port closes. Stopping twice, or
// stopping the stack after, is harmless.
func (e *Edge) Stop(ctx context.Context) error { return e.stop(ctx) }

// Kill stops the edge as a crash would: it stops gossiping without a word (the others find out
// by their failure detector), its port closes and its idle connections drop at once. Stopping
// after is harmless.
func (e *Edge) Kill() error { return e.kill() }

// KillLB stops the zone's balancer as a crash would, as Edge.Kill does.
func (st *Stack) KillLB(zone string) error {
	kill, ok := st.lbKills[zone]
	if !ok {
		return fmt.Errorf("demo: no balancer in zone %q", zone)
	}
	return kill()
}

// killer returns a crash of a member: silent gossip death, then a shutdown that waits for
// nothing.
func killer(cl *cluster.Cluster, stop func(context.Context) error) func() error {
	return func() error {
		err := cl.Shutdown()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if serr := stop(ctx); serr != nil && !errors.Is(serr, context.Canceled) {
			err = errors.Join(err, serr)
		}
		return err
	}
}

// StopLB shuts the zone's balancer down: it leaves the gossip and its address refuses
// connections. Stopping twice, or stopping the stack after, is harmless.
func (st *Stack) StopLB(ctx context.Context, zone string) error {
	stop, ok := st.lbStops[zone]
	if !ok {
		return fmt.Errorf("demo: no balancer in zone %q", zone)
	}
	return stop(ctx)
}

// once makes a stop function safe to call more than once: the first call stops, the others
// return its error.
func once(stop func(context.Context) error) func(context.Context) error {
	var (
		mu   sync.Mutex
		done bool
		err  error
	)
	return func(ctx context.Context) error {
		mu.Lock()
		defer mu.Unlock()
		if !done {
			done, err = true, stop(ctx)
		}
		return err
	}
}

// Start brings the stack up and waits until every part sees the whole cluster.
func Start(ctx context.Context, cfg StackConfig) (*Stack, error) {
	if cfg.Origins == 0 {
		cfg.Origins = 2
	}
	if len(cfg.Zones) == 0 {
		cfg.Zones = []string{"zone-a", "zone-b", "zone-c"}
	}
	if cfg.EdgesPerZone == 0 {
		cfg.EdgesPerZone = 2
	}
	if cfg.CacheBytes == 0 {
		cfg.CacheBytes = 256 << 20
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	st := &Stack{LBs: map[string]string{}, Domain: "video.edgecdn.local", lbStops: map[string]func(context.Context) error{},
		lbKills: map[string]func() error{}}
	ok := false
	defer func() {
		if !ok {
			st.Stop(context.Background())
		}
	}()
	listen := func(addr string) (net.Listener, error) { return net.Listen("tcp", addr) }

	for i := 0; i < cfg.Origins; i++ {
		o, err := origin.New(origin.Config{Content: cfg.Content, Name: fmt.Sprintf("origin-%d", i+1), CORSOrigins: cfg.CORSOrigins, Logger: log})
		if err != nil {
			return nil, err
		}
		ln, err := listen("127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		go o.Serve(ln)
		st.stops = append(st.stops, o.Shutdown)
		st.Origins = append(st.Origins, "http://"+ln.Addr().String())
	}
	var seed string
	// Cluster-wide events (purges, fill plans) between the stack's members, signed with a key
	// of this stack's own.
	eventKey := make([]byte, 32)
	rand.Read(eventKey)
	join := func(name string, meta cluster.Meta, load func() cluster.Load, onEvent func(cluster.Event) []byte) (*cluster.Cluster, error) {
		c := cluster.Config{Name: name, Meta: meta, GossipListen: "127.0.0.1:0", LoadFunc: load, Logger: log, EventKey: eventKey, OnEvent: onEvent}
		if seed != "" {
			c.Join = []string{seed}
		}
		cl, err := cluster.Start(c)
		if err != nil {
			return nil, err
		}
		if seed == "" {
			seed = cl.GossipAddr()
		}
		return cl, nil
	}
	for _, z := range cfg.Zones {
		for i := 0; i < cfg.EdgesPerZone; i++ {
			name := fmt.Sprintf("edge-%s%d", z[len(z)-1:], i+1)
			e, err := edge.New(edge.Config{Name: name, Zone: z, Origins: st.Origins, CacheBytes: cfg.CacheBytes,
				CrossZoneFill: cfg.CrossZoneFill, SigningKeys: cfg.SigningKeys, CORSOrigins: cfg.CORSOrigins, Logger: log})
			if err != nil {
				return nil, err
			}
			ln, err := listen("127.0.0.1:0")
			if err != nil {
				e.Close()
				return nil, err
			}
			cl, err := join(name, cluster.Meta{Role: cluster.RoleEdge, Zone: z, HTTP: ln.Addr().String(), Starting: !e.Usable()}, e.Load, e.ClusterEvent)
			if err != nil {
				e.Close()
				return nil, err
			}
			e.AttachCluster(cl)
			go e.Serve(ln)
			stop := once(e.Shutdown)
			st.stops = append(st.stops, stop)
			st.Edges = append(st.Edges, &Edge{Name: name, Zone: z, URL: "http://" + ln.Addr().String(), Server: e,
				stop: stop, kill: killer(cl, stop)})
		}
	}
	// One balancer per zone, all on one port at 127.0.0.11, .12, ...: DNS answers carry no port.
	lbPort, err := freeLBPort(len(cfg.Zones))
	if err != nil {
		return nil, err
	}
	var lbs []*loadbalancer.Server
	for i, z := range cfg.Zones {
		lb, err := loadbalancer.New(loadbalancer.Config{Name: "lb-" + z, Zone: z, CrossZone: true, CORSOrigins: cfg.CORSOrigins, Logger: log})
		if err != nil {
			return nil, err
		}
		addr := net.JoinHostPort(lbIP(i), strconv.Itoa(lbPort))
		ln, err := listen(addr)
		if err != nil {
			return nil, err
		}
		cl, err := join("lb-"+z, cluster.Meta{Role: cluster.RoleLB, Zone: z, HTTP: addr, Public: addr}, nil, nil)
		if err != nil {
			return nil, err
		}
		lb.AttachCluster(cl)
		lbs = append(lbs, lb)
		go lb.Serve(ln)
		stop := once(lb.Shutdown)
		st.stops = append(st.stops, stop)
		st.lbStops[z] = stop
		st.lbKills[z] = killer(cl, stop)
		st.LBs[z] = addr
	}
	dcl, err := join("dns", cluster.Meta{Role: cluster.RoleDNS}, nil, nil)
	if err != nil {
		return nil, err
	}
	d, err := dns.New(dns.Config{Domain: st.Domain, Source: dns.ClusterSource(dcl), NSAddr: netip.MustParseAddr("127.0.0.1"), Logger: log})
	if err != nil {
		return nil, err
	}
	udp, tcp, err := dns.Listen("127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	go d.Serve(udp, tcp)
	st.stops = append(st.stops, func(ctx context.Context) error { return errors.Join(dcl.Leave(time.Second), d.Shutdown(ctx)) })
	st.DNS = udp.LocalAddr().String()

	sc, err := steering.New(steering.Config{Origins: st.Origins, TTL: cfg.SteeringTTL, SigningKeys: cfg.SigningKeys, CORSOrigins: cfg.CORSOrigins,
		Player: web.New(web.Config{Dir: cfg.WebDir}).Serve, Logger: log})
	if err != nil {
		return nil, err
	}
	scl, err := join("steering", cluster.Meta{Role: cluster.RoleSteering}, nil, nil)
	if err != nil {
		return nil, err
	}
	sc.AttachCluster(scl)
	sln, err := listen("127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	go sc.Serve(sln)
	st.stops = append(st.stops, sc.Shutdown)
	st.Steering = "http://" + sln.Addr().String()

	// Ready when every edge sees all the edges on its rings, every balancer has its zone's
	// edges, steering has joined and the DNS server sees every balancer: members join in the
	// background.
	want := len(cfg.Zones) * cfg.EdgesPerZone
	deadline := time.Now().Add(20 * time.Second)
	ready := func() bool {
		for _, e := range st.Edges {
			if e.Server.ClusterSize() < want {
				return false
			}
		}
		for _, lb := range lbs {
			if l, _ := lb.Healthy(); l < cfg.EdgesPerZone || !lb.Ready() {
				return false
			}
		}
		return sc.Ready() && len(dcl.Healthy(cluster.RoleLB)) == len(cfg.Zones)
	}
	for !ready() {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, fmt.Errorf("demo: cluster did not form within 20 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	ok = true
	return st, nil
}

// Stop shuts every part down, in reverse order of start.
func (st *Stack) Stop(ctx context.Context) error {
	var errs []error
	for i := len(st.stops) - 1; i >= 0; i-- {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		errs = append(errs, st.stops[i](sctx))
		cancel()
	}
	st.stops = nil
	return errors.Join(errs...)
}

func lbIP(i int) string { return "127.0.0." + strconv.Itoa(11+i) }

// freeLBPort finds a port free at every balancer address.
func freeLBPort(n int) (int, error) {
	for tries := 0; tries < 50; tries++ {
		l, err := net.Listen("tcp", lbIP(0)+":0")
		if err != nil {
			return 0, fmt.Errorf("demo: needs 127.0.0.11 and up on loopback (Linux has all of 127/8): %w", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		free := true
		for i := 1; i < n && free; i++ {
			if c, err := net.Listen("tcp", net.JoinHostPort(lbIP(i), strconv.Itoa(port))); err == nil {
				c.Close()
			} else {
				free = false
			}
		}
		if free {
			return port, nil
		}
	}
	return 0, errors.New("demo: no port free at every balancer address")
}
