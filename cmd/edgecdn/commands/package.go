package commands

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"edgecdn/internal/cli"
	"edgecdn/origin/packager"
)

func packageCmd() *cli.Command {
	return &cli.Command{
		Name:    "package",
		Summary: "write a catalog of titles (CMAF for HLS and DASH, or MPEG-TS for HLS): synthetic (pure Go, the default) or real ffmpeg encodes",
		Usage:   "package --out DIR [--titles N] [--ladder NAME] [--format cmaf|ts] [--ffmpeg [--input FILE]] [flags]",
		Example: "edgecdn package --out /tmp/content --titles 10 --ladder envivio\n" +
			"edgecdn package --out /tmp/content --format ts --prefix ts\n" +
			"edgecdn package --out /tmp/content --ffmpeg --duration 60s",
		Flags: func(fs *flag.FlagSet) func(context.Context, []string) error {
			out := fs.String("out", "content", "content `DIR` to write (created if missing; other titles in it are kept)")
			titles := fs.Int("titles", 0, "number of titles (default 3, or 1 with --ffmpeg)")
			prefix := fs.String("prefix", "", "titles are named PREFIX-000, PREFIX-001, ... (default \"title\", or \"ffmpeg\" with --ffmpeg)")
			duration := fs.Duration("duration", 192*time.Second, "length of each title")
			segment := fs.Duration("segment", 4*time.Second, "segment duration")
			ladder := fs.String("ladder", "", "bitrate ladder: "+packager.LadderNames()+" (default envivio, or small with --ffmpeg)")
			format := fs.String("format", packager.DefaultFormat, "segment format: cmaf (fragmented MP4: HLS with EXT-X-MAP and DASH manifest.mpd over the same files) or ts (MPEG-TS, HLS only)")
			seed := fs.Uint64("seed", 1, "seed of the synthetic bytes: the same seed gives byte-identical catalogs")
			workers := fs.Int("workers", 0, "segments written in parallel (default GOMAXPROCS)")
			useFFmpeg := fs.Bool("ffmpeg", false, "encode real H.264/AAC with ffmpeg instead of synthetic segments")
			ffmpegPath := fs.String("ffmpeg-path", "ffmpeg", "the ffmpeg `BINARY`")
			input := fs.String("input", "", "with --ffmpeg: a media `FILE` to encode (default a test pattern with a tone)")
			preset := fs.String("preset", "veryfast", "with --ffmpeg: the x264 preset")
			logger := cli.LogFlags(fs)
			return func(ctx context.Context, args []string) error {
				log, err := begin(args, logger, "")
				if err != nil {
					return err
				}
				start := time.Now()
				cat, err := packager.Package(ctx, packager.Config{
					Out: *out, Titles: *titles, Prefix: *prefix, Duration: *duration, Segment: *segment,
					Ladder: *ladder, Format: *format, Seed: *seed, Workers: *workers, FFmpeg: *useFFmpeg, FFmpegPath: *ffmpegPath,
					Input: *input, Preset: *preset, Logger: log.With("component", "package"),
				})
				if err != nil {
					return err
				}
				fmt.Fprintf(os.Stdout, "wrote %s/catalog.json: %d titles in %s\n", *out, len(cat.Titles), time.Since(start).Round(time.Millisecond))
				return nil
			}
		},
	}
}
