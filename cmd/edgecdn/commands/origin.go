package commands

import (
	"context"
	"flag"

	"edgecdn/internal/cli"
	"edgecdn/origin"
)

func originCmd() *cli.Command {
	return &cli.Command{
		Name:    "origin",
		Summary: "serve a packaged catalog over HTTP (several replicas may serve one folder)",
		Usage:   "origin --content DIR [flags]",
		Example: "edgecdn package --out /tmp/content --titles 3\n" +
			"edgecdn origin --content /tmp/content --listen 127.0.0.1:8080\n" +
			"curl -s http://127.0.0.1:8080/vod/title-000/master.m3u8",
		Flags: func(fs *flag.FlagSet) func(context.Context, []string) error {
			cfg := origin.DefaultConfig()
			cfg.RegisterFlags(fs)
			sf := addServerFlags(fs, ":8080", 0) // behind a Service: Kubernetes' preStop sleep covers the endpoint update
			logger := cli.LogFlags(fs)
			return func(ctx context.Context, args []string) error {
				log, err := begin(args, logger, "origin")
				if err != nil {
					return err
				}
				cfg.AdminToken, cfg.Logger = *sf.adminToken, log
				if cfg.CORSOrigins, err = sf.corsOrigins(); err != nil {
					return err
				}
				srv, err := origin.New(cfg)
				if err != nil {
					return err
				}
				return serve(ctx, sf, "origin", cfg.Name, srv, log)
			}
		},
	}
}
