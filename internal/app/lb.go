package app

import (
	"context"
	"flag"
	"fmt"
	"net"
	"time"

	"edgecdn/internal/cli"
	"edgecdn/internal/cluster"
	"edgecdn/loadbalancer"
)

func lbCmd() *cli.Command {
	return &cli.Command{
		Name:    "lb",
		Summary: "run a zone balancer: round robin over the healthy edges of one zone (tier 2)",
		Usage:   "lb --zone Z --join HOST:PORT[,...] [--advertise ADDR] [--cross-zone] [flags]",
		Example: "edgecdn lb --name lb-a --zone zone-a --listen 127.0.0.1:8000 --advertise 127.0.0.1:8000 \\\n" +
			"    --gossip-listen 127.0.0.1:7950 --join 127.0.0.1:7946\n" +
			"curl -sI http://127.0.0.1:8000/vod/title-000/master.m3u8",
		Flags: func(fs *flag.FlagSet) func(context.Context, []string) error {
			gf := addGossipFlags(fs)
			zone := fs.String("zone", "default", "the zone whose edges this balancer serves")
			advertise := fs.String("advertise", "", "address `HOST[:PORT]` clients reach this balancer at, announced to the DNS server (default the listen address)")
			crossZone := fs.Bool("cross-zone", false, "when the zone has no healthy edge, send requests to the edges of other zones")
			upstreams := fs.String("upstream", "", "static edges `HOST:PORT[,...]` in addition to those the gossip announces")
			standalone := fs.Bool("standalone", false, "no gossip: balance over --upstream only")
			probe := fs.Duration("probe-interval", time.Second, "active probe of each edge's /readyz (0 or negative: off)")
			eject := fs.Duration("eject-for", 5*time.Second, "how long a failing edge is skipped (a passing probe brings it back sooner)")
			attempts := fs.Int("attempts", 2, "tries of an idempotent request on distinct edges")
			mode := fs.String("mode", "proxy", "`proxy` requests to the chosen edge, or `redirect` GET and HEAD to it (302 to the edge's own address, which clients must reach)")
			sf := addServerFlags(fs, ":8000", DefaultDrainDelay)
			logger := cli.LogFlags(fs)
			return func(ctx context.Context, args []string) error {
				log, err := begin(args, logger, "lb")
				if err != nil {
					return err
				}
				name := gf.memberName()
				if *probe <= 0 {
					*probe = -1
				}
				cors, err := sf.corsOrigins()
				if err != nil {
					return err
				}
				if *mode != "proxy" && *mode != "redirect" {
					return fmt.Errorf("lb: --mode %q: want proxy or redirect", *mode)
				}
				srv, err := loadbalancer.New(loadbalancer.Config{
					Name: name, Zone: *zone, CrossZone: *crossZone, Upstreams: splitList(*upstreams),
					ProbeInterval: *probe, EjectFor: *eject, Attempts: *attempts, AdminToken: *sf.adminToken, CORSOrigins: cors, Logger: log,
					Redirect: *mode == "redirect",
				})
				if err != nil {
					return err
				}
				if *standalone {
					return serve(ctx, sf, "lb", name, srv, log)
				}
				return serve(ctx, sf, "lb", name, srv, log, func(ln net.Listener) error {
					pub := *advertise
					if pub == "" {
						pub = advertiseAddr(ln.Addr())
					}
					cl, err := gf.start(cluster.Meta{Role: cluster.RoleLB, Zone: *zone, Public: pub}, ln, nil, log)
					if err != nil {
						return err
					}
					srv.AttachCluster(cl)
					return nil
				})
			}
		},
	}
}
