package commands

import (
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"time"

	"edgecdn/internal/cli"
	"edgecdn/internal/cluster"
)

// gossipFlags are the flags of every member of the cluster.
type gossipFlags struct {
	name      *string
	listen    *string
	advertise *string
	join      *string
	key       *string
	httpAdv   *string
	joinTO    *time.Duration
	// eventKey and onEvent turn cluster-wide events on (purges, fill plans): set them before
	// start; the admin token signs the events.
	eventKey string
	onEvent  func(cluster.Event) []byte
}

func addGossipFlags(fs *flag.FlagSet) *gossipFlags {
	return &gossipFlags{
		name:      fs.String("name", "", "member name, unique in the cluster (default the hostname: the pod name in Kubernetes)"),
		listen:    fs.String("gossip-listen", ":7946", "gossip listen address `HOST:PORT`, UDP and TCP (port 0 picks one)"),
		advertise: fs.String("gossip-advertise", "", "gossip address `HOST:PORT` others reach this member at (default the bound address)"),
		join:      fs.String("join", "", "members to join, `HOST:PORT[,...]`; a name with many addresses (a headless Service) joins them all"),
		key:       fs.String("gossip-key", "", "base64 AES `KEY` (16, 24 or 32 bytes: openssl rand -base64 32); members without it are refused. While keys rotate, NEW,OLD: the first encrypts, all decrypt"),
		joinTO:    fs.Duration("join-timeout", cluster.DefaultJoinTimeout, "bound of one join attempt: every --join address is tried at once, each for at most this long; 3 attempts that find nobody make this member the first of a new cluster (ready alone, joining again every 5 s)"),
		httpAdv:   fs.String("advertise-http", "", "HTTP address `HOST:PORT` other members use to reach this one (default the listen address, or this host's address when listening on all)"),
	}
}

// memberName is --name, or the hostname (the pod name in Kubernetes).
func (g *gossipFlags) memberName() string {
	if *g.name != "" {
		return *g.name
	}
	name, _ := os.Hostname()
	return name
}

// start joins the cluster with the given role and zone, advertising the HTTP listener's address.
func (g *gossipFlags) start(meta cluster.Meta, ln net.Listener, loadFunc func() cluster.Load, log *slog.Logger) (*cluster.Cluster, error) {
	key, oldKeys, err := cluster.ParseKeys(*g.key)
	if err != nil {
		return nil, fmt.Errorf("--gossip-key: %w", err)
	}
	meta.HTTP = *g.httpAdv
	if meta.HTTP == "" {
		meta.HTTP = advertiseAddr(ln.Addr())
	}
	meta.Version = VersionString()
	return cluster.Start(cluster.Config{
		Name: g.memberName(), Meta: meta, GossipListen: *g.listen, Advertise: *g.advertise, Join: cli.SplitList(*g.join),
		Key: key, OldKeys: oldKeys, JoinTimeout: *g.joinTO, LoadFunc: loadFunc, Logger: log.With("component", "gossip"),
		EventKey: []byte(g.eventKey), OnEvent: g.onEvent,
	})
}

// member is a server that joins the cluster once it serves.
type member interface{ AttachCluster(*cluster.Cluster) }

// joinWith is serve's join step for srv: start gossip as meta says (advertising the listener's
// address) and hand srv the cluster, which it leaves when it shuts down.
func (g *gossipFlags) joinWith(srv member, meta cluster.Meta, loadFunc func() cluster.Load, log *slog.Logger) func(net.Listener) error {
	return func(ln net.Listener) error {
		cl, err := g.start(meta, ln, loadFunc, log)
		if err != nil {
			return err
		}
		srv.AttachCluster(cl)
		return nil
	}
}

// advertiseAddr turns a listener address into one other hosts can dial: an unspecified host
// (0.0.0.0, ::) becomes this host's first non-loopback address.
func advertiseAddr(a net.Addr) string {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return a.String()
	}
	ip := ta.IP
	if ip == nil || ip.IsUnspecified() {
		ip = hostIP()
	}
	return net.JoinHostPort(ip.String(), strconv.Itoa(ta.Port))
}

func hostIP() net.IP {
	addrs, err := net.InterfaceAddrs()
	if err == nil {
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && !ipn.IP.IsLoopback() && ipn.IP.IsGlobalUnicast() {
				return ipn.IP
			}
		}
	}
	return net.IPv4(127, 0, 0, 1)
}
