package app

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"edgecdn/edge"
	"edgecdn/internal/cli"
)

func edgeCmd() *cli.Command {
	return &cli.Command{
		Name:    "edge",
		Summary: "run an edge cache in front of one or more origins",
		Usage:   "edge --origin URL[,URL...] [--cache-size 1GiB] [flags]",
		Example: "edgecdn edge --origin http://127.0.0.1:8080,http://127.0.0.1:8081 --listen 127.0.0.1:9090 --cache-size 1GiB\n" +
			"curl -sI http://127.0.0.1:9090/vod/title-000/master.m3u8",
		Flags: func(fs *flag.FlagSet) func(context.Context, []string) error {
			name := fs.String("name", "", "this edge's name in Cache-Status, Via and X-Served-By (default the hostname)")
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
			token := fs.String("admin-token", "", "bearer `TOKEN` for /admin/purge (empty: admin endpoints off)")
			sf := addServerFlags(fs, ":9090")
			logger := cli.LogFlags(fs)
			return func(ctx context.Context, args []string) error {
				if len(args) > 0 {
					return fmt.Errorf("unexpected arguments %q", args)
				}
				log, err := logger(os.Stderr)
				if err != nil {
					return err
				}
				log = log.With("component", "edge")
				if *probe <= 0 {
					*probe = -1
				}
				srv, err := edge.New(edge.Config{
					Name: *name, Origins: splitList(*origins), CacheBytes: int64(cacheSize), CachePolicy: *policy,
					MaxObjectBytes: int64(maxObject), DiskDir: *diskDir, DiskBytes: int64(diskSize),
					FillTimeout: *fillTimeout, OriginHeaderTimeout: *headerTimeout, ProbeInterval: *probe,
					StaleIfError: *stale, DefaultTTL: *defTTL, QueryAllowlist: splitList(*query), AdminToken: *token, Logger: log,
				})
				if err != nil {
					return err
				}
				return serve(ctx, sf, "edge", *name, srv, log)
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
