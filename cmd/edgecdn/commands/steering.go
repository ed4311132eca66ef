package commands

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	"edgecdn/internal/cli"
	"edgecdn/internal/cluster"
	"edgecdn/internal/signing"
	"edgecdn/steering"
	"edgecdn/web"
)

func steeringCmd() *cli.Command {
	return &cli.Command{
		Name:    "steering",
		Summary: "rank edges for players and serve HLS Content Steering (joins the gossip as an observer)",
		Usage:   "steering --origin URL[,URL...] --join HOST:PORT[,...] [--zone-map CIDR=zone,...] [--url-signing-key KEY[,OLDKEY]] [flags]",
		Example: "edgecdn steering --origin http://127.0.0.1:8080 --listen 127.0.0.1:8500 \\\n" +
			"    --gossip-listen 127.0.0.1:7960 --join 127.0.0.1:7946 --zone-map 127.0.0.0/8=zone-a\n" +
			"curl -s 'http://127.0.0.1:8500/steer/title-000?zone=zone-b'\n" +
			"curl -s http://127.0.0.1:8500/play/title-000/master.m3u8\n" +
			"# the browser player (after `cd web && npm ci` in the source tree)\n" +
			"xdg-open 'http://127.0.0.1:8500/player/?title=ffmpeg-000'\n" +
			"# signed URLs: the same key(s) as the edges' --url-signing-key, the first one signs\n" +
			"key=$(openssl rand -base64 32)\n" +
			"edgecdn steering --origin http://127.0.0.1:8080 --join 127.0.0.1:7946 --url-signing-key \"$key\" --token-ttl 4h",
		Flags: func(fs *flag.FlagSet) func(context.Context, []string) error {
			gf := addGossipFlags(fs)
			cfg := steering.DefaultConfig()
			cfg.RegisterFlags(fs)
			signKeys := fs.String("url-signing-key", "", "base64 `KEYS`, comma-separated, as the edges take them: the first signs a per-session token into every URL handed out (/t/<token>/vod/<title>/...)")
			tokenTTL := fs.Duration("token-ttl", cfg.TokenTTL, "with --url-signing-key: how long a session's tokens are valid")
			webDir := fs.String("web-dir", "", "`DIR` holding node_modules/hls.js and node_modules/dashjs for the player at /player/ (the source tree's web/ after `npm ci`; default: found from the working directory up)")
			bindClient := fs.Bool("token-bind-client", false, "with --url-signing-key: bind tokens to the requesting client's address (breaks when a balancer or NAT changes it)")
			sf := addServerFlags(fs, ":8500", DefaultDrainDelay)
			logger := cli.LogFlags(fs)
			return func(ctx context.Context, args []string) error {
				log, err := begin(args, logger, "steering")
				if err != nil {
					return err
				}
				keys, err := signing.ParseKeys(*signKeys)
				if err != nil {
					return fmt.Errorf("--url-signing-key: %w", err)
				}
				switch {
				case *tokenTTL < time.Second:
					return fmt.Errorf("--token-ttl %v: want at least 1s", *tokenTTL)
				case *bindClient && len(keys) == 0:
					return errors.New("--token-bind-client needs --url-signing-key")
				case cfg.MinDwell <= 0:
					return fmt.Errorf("--min-dwell %v: want more than 0", cfg.MinDwell)
				case cfg.LoadMargin <= 0:
					return fmt.Errorf("--load-margin %v: want more than 0", cfg.LoadMargin)
				}
				cfg.Name, cfg.SigningKeys, cfg.TokenTTL, cfg.TokenBindClient = gf.memberName(), keys, *tokenTTL, *bindClient
				cfg.AdminToken, cfg.Player, cfg.Logger = *sf.adminToken, web.New(web.Config{Dir: *webDir}).Serve, log
				if cfg.CORSOrigins, err = sf.corsOrigins(); err != nil {
					return err
				}
				srv, err := steering.New(cfg)
				if err != nil {
					return err
				}
				gf.eventKey = *sf.adminToken
				return serve(ctx, sf, "steering", cfg.Name, srv, log, gf.joinWith(srv, cluster.Meta{Role: cluster.RoleSteering}, nil, log))
			}
		},
	}
}
