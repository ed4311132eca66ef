package commands

import (
	"context"
	"flag"
	"net"

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
			cfg := loadbalancer.DefaultConfig()
			cfg.RegisterFlags(fs)
			advertise := fs.String("advertise", "", "address `HOST[:PORT]` clients reach this balancer at, announced to the DNS server (default the listen address)")
			standalone := fs.Bool("standalone", false, "no gossip: balance over --upstream only")
			sf := addServerFlags(fs, ":8000", DefaultDrainDelay)
			logger := cli.LogFlags(fs)
			return func(ctx context.Context, args []string) error {
				log, err := begin(args, logger, "lb")
				if err != nil {
					return err
				}
				cfg.Name, cfg.AdminToken, cfg.Logger = gf.memberName(), *sf.adminToken, log
				if cfg.CORSOrigins, err = sf.corsOrigins(); err != nil {
					return err
				}
				srv, err := loadbalancer.New(cfg)
				if err != nil {
					return err
				}
				if *standalone {
					return serve(ctx, sf, "lb", cfg.Name, srv, log)
				}
				return serve(ctx, sf, "lb", cfg.Name, srv, log, func(ln net.Listener) error {
					meta := cluster.Meta{Role: cluster.RoleLB, Zone: cfg.Zone, Public: *advertise}
					if meta.Public == "" {
						meta.Public = advertiseAddr(ln.Addr())
					}
					return gf.joinWith(srv, meta, nil, log)(ln)
				})
			}
		},
	}
}
