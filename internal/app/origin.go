package app

import (
	"context"
	"flag"
	"time"

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
			content := fs.String("content", "content", "content `DIR` written by 'edgecdn package'")
			name := fs.String("name", "", "this origin's name in logs and X-Served-By (default the hostname)")
			playlistAge := fs.Duration("playlist-max-age", 2*time.Second, "Cache-Control max-age of playlists and catalog.json")
			segmentAge := fs.Duration("segment-max-age", 365*24*time.Hour, "Cache-Control max-age of segments (also marked immutable)")
			preload := cli.Bytes(512 << 20)
			fs.Var(&preload, "preload", "segment `SIZE` held in memory; the rest is sent from disk with sendfile")
			verify := fs.Bool("verify", false, "hash every segment at start and refuse those that differ from catalog.json")
			sf := addServerFlags(fs, ":8080")
			logger := cli.LogFlags(fs)
			return func(ctx context.Context, args []string) error {
				log, err := begin(args, logger, "origin")
				if err != nil {
					return err
				}
				cors, err := sf.corsOrigins()
				if err != nil {
					return err
				}
				srv, err := origin.New(origin.Config{
					Content: *content, Name: *name, PlaylistMaxAge: *playlistAge, SegmentMaxAge: *segmentAge,
					PreloadBytes: int64(preload), Verify: *verify, CORSOrigins: cors, Logger: log,
				})
				if err != nil {
					return err
				}
				return serve(ctx, sf, "origin", *name, srv, log)
			}
		},
	}
}
