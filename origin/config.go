package origin

import (
	"errors"
	"flag"
	"log/slog"
	"os"
	"time"

	"edgecdn/internal/cli"
)

// An origin's defaults: DefaultConfig holds them, New gives them to the zero fields of a
// Config, and the flags (RegisterFlags) show them.
const (
	DefaultContent        = "content"
	DefaultPlaylistMaxAge = 2 * time.Second
	DefaultSegmentMaxAge  = 365 * 24 * time.Hour
	DefaultPreloadBytes   = 512 << 20
)

// Config configures an origin. A zero field means its Default* value; the fields that say so
// take cli.Off (-1) to mean none.
type Config struct {
	Content        string        // the content folder written by `edgecdn package`. Required.
	Name           string        // this origin's name in logs and the X-Served-By header; default the hostname
	PlaylistMaxAge time.Duration // Cache-Control max-age of playlists and catalog.json; default DefaultPlaylistMaxAge; cli.Off: max-age=0
	SegmentMaxAge  time.Duration // Cache-Control max-age of segments, which are also immutable; default DefaultSegmentMaxAge
	PreloadBytes   int64         // segment bytes held in memory (the rest is sent from disk); default DefaultPreloadBytes. Files up to 64 KiB are always held.
	Verify         bool          // hash every segment at load and refuse to serve those that differ from catalog.json
	AdminToken     string        // bearer token of /debug/pprof/ (on the admin listener with ServeAdmin); "" leaves it open
	// CORSOrigins are the origins whose web pages may read responses (httpx.CORSConfig.Origins:
	// "https://player.example.com"); default none listed, which allows every origin ("*").
	CORSOrigins []string
	Logger      *slog.Logger // default slog.Default()
}

// DefaultConfig returns an origin's configuration with every default filled in, as the
// edgecdn binary starts from it.
func DefaultConfig() Config {
	return Config{
		Content:        DefaultContent,
		PlaylistMaxAge: DefaultPlaylistMaxAge,
		SegmentMaxAge:  DefaultSegmentMaxAge,
		PreloadBytes:   DefaultPreloadBytes,
	}
}

// RegisterFlags registers the origin's own flags on fs, bound to c's fields and showing c's
// values as their defaults (start from DefaultConfig). The flags every server shares are the
// binary's.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Content, "content", c.Content, "content `DIR` written by 'edgecdn package'")
	fs.StringVar(&c.Name, "name", c.Name, "this origin's name in logs and X-Served-By (default the hostname)")
	cli.OffDuration(fs, &c.PlaylistMaxAge, "playlist-max-age", "Cache-Control max-age `DURATION` of playlists and catalog.json (0: max-age=0)")
	fs.DurationVar(&c.SegmentMaxAge, "segment-max-age", c.SegmentMaxAge, "Cache-Control max-age of segments (also marked immutable)")
	cli.BytesVar(fs, &c.PreloadBytes, "preload", "segment `SIZE` held in memory; the rest is sent from disk with sendfile")
	fs.BoolVar(&c.Verify, "verify", c.Verify, "hash every segment at start and refuse those that differ from catalog.json")
}

func (c *Config) setDefaults() error {
	if c.Content == "" {
		return errors.New("origin: no content folder (--content)")
	}
	if c.Name == "" {
		c.Name, _ = os.Hostname()
	}
	cli.Default(&c.PlaylistMaxAge, DefaultPlaylistMaxAge)
	cli.Default(&c.SegmentMaxAge, DefaultSegmentMaxAge)
	cli.Default(&c.PreloadBytes, DefaultPreloadBytes)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}
