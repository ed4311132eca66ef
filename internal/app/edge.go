package app

import (
	"context"
	"flag"
	"net"
	"strings"
	"time"

	"edgecdn/edge"
	"edgecdn/internal/cli"
	"edgecdn/internal/cluster"
	"edgecdn/internal/signing"
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
			zone := fs.String("zone", "default", "this edge's zone; keys are placed on the edges of each zone")
			standalone := fs.Bool("standalone", false, "no cluster: no gossip, every miss goes to the origins")
			crossZone := fs.Bool("cross-zone-fill", false, "a zone's owner of a key asks the key's home zone before the origins")
			balance := fs.Float64("balance-factor", 1.25, "bounded loads: an owner above this times its zone's mean load hands keys to the next edge")
			hot := fs.Int("hot-threshold", 4, "a non-owner that misses a key this many times in 10 s keeps a copy (negative: never)")
			origins := fs.String("origin", "http://127.0.0.1:8080", "origin base `URL`s, comma-separated, tried in turn on failure")
			cacheSize := cli.Bytes(1 << 30)
			fs.Var(&cacheSize, "cache-size", "memory cache capacity `SIZE`")
			policy := fs.String("cache-policy", "", "eviction policy: s3fifo or lru (default: the cache's default)")
			maxObject := cli.Bytes(256 << 20)
			fs.Var(&maxObject, "max-object", "largest object `SIZE` the edge fetches")
			diskDir := fs.String("disk-cache", "", "disk tier `DIR` (optional; survives restarts, checked on every read)")
			diskSize := cli.Bytes(10 << 30)
			fs.Var(&diskSize, "disk-size", "disk tier capacity `SIZE`")
			fillTimeout := fs.Duration("fill-timeout", 30*time.Second, "whole origin fetch, body included")
			headerTimeout := fs.Duration("origin-timeout", 5*time.Second, "connect and response head from one origin before the next is tried")
			probe := fs.Duration("probe-interval", 2*time.Second, "active origin health probe interval (0 or negative: off)")
			stale := fs.Duration("stale-if-error", 10*time.Minute, "serve an expired copy this long past expiry when every origin fails")
			defTTL := fs.Duration("default-ttl", 10*time.Second, "freshness of responses without max-age")
			query := fs.String("cache-key-query", "", "query parameters kept in the cache key, comma-separated (default none)")
			signKeys := fs.String("url-signing-key", "", "base64 `KEYS` (comma-separated, the new one first while an old one still verifies): content requests then need a signed path /t/<token>/... (edgecdn sign)")
			sf := addServerFlags(fs, ":9090", DefaultDrainDelay)
			logger := cli.LogFlags(fs)
			return func(ctx context.Context, args []string) error {
				log, err := begin(args, logger, "edge")
				if err != nil {
					return err
				}
				if *probe <= 0 {
					*probe = -1
				}
				name := gf.memberName()
				keys, err := signing.ParseKeys(*signKeys)
				if err != nil {
					return err
				}
				cors, err := sf.corsOrigins()
				if err != nil {
					return err
				}
				srv, err := edge.New(edge.Config{
					SigningKeys: keys, CORSOrigins: cors,
					Name: name, Zone: *zone, Clustered: !*standalone, CrossZoneFill: *crossZone, BalanceFactor: *balance, HotThreshold: *hot, Origins: splitList(*origins), CacheBytes: int64(cacheSize), CachePolicy: *policy,
					MaxObjectBytes: int64(maxObject), DiskDir: *diskDir, DiskBytes: int64(diskSize),
					FillTimeout: *fillTimeout, OriginHeaderTimeout: *headerTimeout, ProbeInterval: *probe,
					StaleIfError: *stale, DefaultTTL: *defTTL, QueryAllowlist: splitList(*query), AdminToken: *sf.adminToken, Logger: log,
				})
				if err != nil {
					return err
				}
				if *standalone {
					return serve(ctx, sf, "edge", name, srv, log)
				}
				gf.eventKey, gf.onEvent = *sf.adminToken, srv.ClusterEvent
				return serve(ctx, sf, "edge", name, srv, log, func(ln net.Listener) error {
					cl, err := gf.start(cluster.Meta{Role: cluster.RoleEdge, Zone: *zone}, ln, srv.Load, log)
					if err != nil {
						return err
					}
					srv.AttachCluster(cl) // the edge leaves the cluster when it shuts down
					return nil
				})
			}
		},
	}
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
