package commands

import (
	"context"
	"flag"

	"edgecdn/edge"
	"edgecdn/internal/cli"
	"edgecdn/internal/cluster"
)

func edgeCmd() *cli.Command {
	return &cli.Command{
		Name:    "edge",
		Summary: "run an edge cache in front of one or more origins",
		Usage:   "edge --zone Z --origin URL[,URL...] --join HOST:PORT[,...] [--cache-size 1GiB] [flags]",
		Example: "edgecdn edge --name a1 --zone zone-a --origin http://127.0.0.1:8080,http://127.0.0.1:8081 \\\n" +
			"    --listen 127.0.0.1:9090 --gossip-listen 127.0.0.1:7946 --cache-size 1GiB\n" +
			"edgecdn edge --name a2 --zone zone-a --origin http://127.0.0.1:8080 --listen 127.0.0.1:9091 \\\n" +
			"    --gossip-listen 127.0.0.1:7947 --join 127.0.0.1:7946\n" +
			"curl -sI http://127.0.0.1:9091/vod/title-000/master.m3u8; curl -s http://127.0.0.1:9091/cluster",
		Flags: func(fs *flag.FlagSet) func(context.Context, []string) error {
			gf := addGossipFlags(fs)
			cfg := edge.DefaultConfig()
			cfg.RegisterFlags(fs)
			standalone := fs.Bool("standalone", false, "no cluster: no gossip, every miss goes to the origins")
			sf := addServerFlags(fs, ":9090", DefaultDrainDelay)
			logger := cli.LogFlags(fs)
			return func(ctx context.Context, args []string) error {
				log, err := begin(args, logger, "edge")
				if err != nil {
					return err
				}
				cfg.Name = gf.memberName()
				cfg.Clustered = !*standalone
				cfg.AdminToken = *sf.adminToken
				cfg.Logger = log
				if cfg.CORSOrigins, err = sf.corsOrigins(); err != nil {
					return err
				}
				srv, err := edge.New(cfg)
				if err != nil {
					return err
				}
				if *standalone {
					return serve(ctx, sf, "edge", cfg.Name, srv, log)
				}
				gf.eventKey, gf.onEvent = *sf.adminToken, srv.ClusterEvent
				return serve(ctx, sf, "edge", cfg.Name, srv, log, gf.joinWith(srv, cluster.Meta{Role: cluster.RoleEdge, Zone: cfg.Zone, Starting: !srv.Usable()}, srv.Load, log))
			}
		},
	}
}
