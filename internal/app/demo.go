package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"edgecdn/internal/catalog"
	"edgecdn/internal/cli"
	"edgecdn/internal/hls"
	"edgecdn/origin"
	"edgecdn/origin/packager"
)

func demoCmd() *cli.Command {
	return &cli.Command{
		Name:    "demo",
		Summary: "package content, start two origin replicas on loopback, stream a title through them and report",
		Usage:   "demo [--titles N] [--keep] [flags]",
		Example: "edgecdn demo\nedgecdn demo --keep --content /tmp/edgecdn-demo",
		Flags: func(fs *flag.FlagSet) func(context.Context, []string) error {
			content := fs.String("content", "", "content `DIR` (default a temporary folder, removed at exit)")
			titles := fs.Int("titles", 3, "synthetic titles to package")
			duration := fs.Duration("duration", 60*time.Second, "length of each title")
			noFFmpeg := fs.Bool("no-ffmpeg", false, "skip the real ffmpeg title even when ffmpeg is installed")
			keep := fs.Bool("keep", false, "leave the origins running after the report, until Ctrl-C")
			logger := cli.LogFlags(fs)
			return func(ctx context.Context, args []string) error {
				if len(args) > 0 {
					return fmt.Errorf("unexpected arguments %q", args)
				}
				log, err := logger(os.Stderr)
				if err != nil {
					return err
				}
				return runDemo(ctx, demoConfig{content: *content, titles: *titles, duration: *duration,
					ffmpeg: !*noFFmpeg, keep: *keep, log: log, out: os.Stdout})
			}
		},
	}
}

type demoConfig struct {
	content  string
	titles   int
	duration time.Duration
	ffmpeg   bool
	keep     bool
	log      *slog.Logger
	out      io.Writer
}

func runDemo(ctx context.Context, cfg demoConfig) error {
	w := cfg.out
	if cfg.content == "" {
		dir, err := os.MkdirTemp("", "edgecdn-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		cfg.content = dir
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	fmt.Fprintf(w, "== packaging %d synthetic titles (Envivio ladder, %v each) into %s\n", cfg.titles, cfg.duration, cfg.content)
	start := time.Now()
	if _, err := packager.Package(ctx, packager.Config{Out: cfg.content, Titles: cfg.titles, Duration: cfg.duration, Logger: quiet}); err != nil {
		return err
	}
	fmt.Fprintf(w, "   done in %v\n", time.Since(start).Round(time.Millisecond))
	if _, err := exec.LookPath("ffmpeg"); cfg.ffmpeg && err == nil {
		fmt.Fprintf(w, "== encoding one real H.264/AAC title with ffmpeg (3 renditions, 20 s)\n")
		start = time.Now()
		if _, err := packager.Package(ctx, packager.Config{Out: cfg.content, FFmpeg: true, Duration: 20 * time.Second, Preset: "ultrafast", Logger: quiet}); err != nil {
			return err
		}
		fmt.Fprintf(w, "   done in %v\n", time.Since(start).Round(time.Millisecond))
	} else if cfg.ffmpeg {
		fmt.Fprintf(w, "== ffmpeg not installed: skipping the real title (apt-get install ffmpeg)\n")
	}
	cat, err := catalog.Load(cfg.content)
	if err != nil {
		return err
	}

	var bases []string
	for i := 0; i < 2; i++ {
		srv, err := origin.New(origin.Config{Content: cfg.content, Name: fmt.Sprintf("origin-%d", i+1), Logger: quiet})
		if err != nil {
			return err
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		go srv.Serve(ln)
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			srv.Shutdown(sctx)
		}()
		bases = append(bases, "http://"+ln.Addr().String())
	}
	fmt.Fprintf(w, "== 2 origin replicas serve the catalog: %s\n\n", strings.Join(bases, ", "))

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "title\torigin\trenditions\tsegments\tMB\tMB/s\tverified\t")
	for i, t := range cat.Titles {
		base := bases[i%len(bases)]
		st, err := fetchTitle(ctx, base, t)
		if err != nil {
			return fmt.Errorf("demo: %s from %s: %w", t.Name, base, err)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%.1f\t%.0f\t%d/%d\t\n", t.Name, strings.TrimPrefix(base, "http://"),
			len(t.Renditions), st.segments, float64(st.bytes)/1e6, float64(st.bytes)/1e6/st.took.Seconds(), st.verified, st.segments)
	}
	tw.Flush()
	fmt.Fprintf(w, "\nEvery segment's SHA-256 matched catalog.json.\n")
	if !cfg.keep {
		return nil
	}
	t := cat.Titles[0]
	fmt.Fprintf(w, "\nThe origins stay up until Ctrl-C. Try:\n")
	fmt.Fprintf(w, "  curl -s %s/vod/%s/master.m3u8\n", bases[0], t.Name)
	fmt.Fprintf(w, "  curl -sI -H 'Range: bytes=0-187' %s/vod/%s/%s/%s\n", bases[1], t.Name, t.Renditions[0].Name, t.Renditions[0].Segments[0].Name)
	fmt.Fprintf(w, "  curl -s %s/metrics | grep edgecdn_origin\n", bases[0])
	for _, t := range cat.Titles {
		if t.Kind == "ffmpeg" {
			fmt.Fprintf(w, "  ffplay %s/vod/%s/master.m3u8\n", bases[0], t.Name)
		}
	}
	<-ctx.Done()
	return nil
}

type fetchStats struct {
	segments, verified int
	bytes              int64
	took               time.Duration
}

// fetchTitle reads a title as a player would (multivariant playlist, each media playlist, every
// segment) and checks each segment against the catalog.
func fetchTitle(ctx context.Context, base string, t catalog.Title) (fetchStats, error) {
	var st fetchStats
	start := time.Now()
	get := func(path string) ([]byte, error) {
		req, _ := http.NewRequestWithContext(ctx, "GET", base+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			return nil, fmt.Errorf("GET %s: %s", path, resp.Status)
		}
		return io.ReadAll(resp.Body)
	}
	b, err := get("/vod/" + t.Name + "/master.m3u8")
	if err != nil {
		return st, err
	}
	mv, err := hls.ParseMultivariant(strings.NewReader(string(b)))
	if err != nil {
		return st, err
	}
	for _, v := range mv.Variants {
		dir := filepath.Dir(v.URI)
		b, err := get("/vod/" + t.Name + "/" + v.URI)
		if err != nil {
			return st, err
		}
		m, err := hls.ParseMedia(strings.NewReader(string(b)))
		if err != nil {
			return st, err
		}
		r := t.Rendition(dir)
		if r == nil || len(r.Segments) != len(m.Segments) {
			return st, fmt.Errorf("%s: playlist and catalog disagree", v.URI)
		}
		for i, s := range m.Segments {
			data, err := get("/vod/" + t.Name + "/" + dir + "/" + s.URI)
			if err != nil {
				return st, err
			}
			st.segments++
			st.bytes += int64(len(data))
			sum := sha256.Sum256(data)
			if hex.EncodeToString(sum[:]) != r.Segments[i].SHA256 {
				return st, fmt.Errorf("%s/%s: bytes do not match catalog.json", dir, s.URI)
			}
			st.verified++
		}
	}
	st.took = time.Since(start)
	return st, nil
}
