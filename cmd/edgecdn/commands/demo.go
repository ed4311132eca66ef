package commands

import (
	"context"
	"flag"
	"os"
	"time"

	"edgecdn/demo"
	"edgecdn/internal/cli"
)

func demoCmd() *cli.Command {
	return &cli.Command{
		Name:    "demo",
		Summary: "bring up the whole CDN on loopback, stream it with simulated players and report",
		Usage:   "demo [--players N] [--keep] [flags]",
		Example: "edgecdn demo\nedgecdn demo --players 50 --keep\n# the browser player: install it once, then open the URL --keep prints\n(cd web && npm ci) && edgecdn demo --keep",
		Flags: func(fs *flag.FlagSet) func(context.Context, []string) error {
			content := fs.String("content", "", "content `DIR` (default a temporary folder, removed at exit)")
			titles := fs.Int("titles", 3, "synthetic titles to package (Envivio ladder)")
			duration := fs.Duration("duration", 48*time.Second, "length of each title")
			players := fs.Int("players", 24, "simulated players")
			rate := fs.Float64("rate", 6, "player arrivals per second")
			noFFmpeg := fs.Bool("no-ffmpeg", false, "skip the real ffmpeg title even when ffmpeg is installed")
			traces := fs.String("trace-dir", "", "players' links replay these throughput traces (default player-sim/testdata/traces/oboe when present)")
			keep := fs.Bool("keep", false, "leave the CDN running after the report and print commands to try, until Ctrl-C")
			jsonOut := fs.String("json", "", "write the players' report to `FILE`")
			webDir := fs.String("web-dir", "", "`DIR` holding node_modules/hls.js and node_modules/dashjs for the browser player at steering's /player/ (default: the source tree's web/, found from the working directory up)")
			prefill := fs.Int("prefill", 0, "before the players come, fill the first `N` segments of every rendition of every title into the edges (a proactive fill plan; 0: none)")
			logger := cli.LogFlags(fs)
			return func(ctx context.Context, args []string) error {
				log, err := begin(args, logger, "")
				if err != nil {
					return err
				}
				fi, _ := os.Stdout.Stat()
				return demo.Run(ctx, demo.Config{Content: *content, Titles: *titles, Duration: *duration, Players: *players,
					Rate: *rate, FFmpeg: !*noFFmpeg, TraceDir: *traces, Keep: *keep, JSON: *jsonOut, Out: os.Stdout,
					WebDir: *webDir, Prefill: *prefill, Logger: componentLogs(log), Progress: fi != nil && fi.Mode()&os.ModeCharDevice != 0})
			}
		},
	}
}
