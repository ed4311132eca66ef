// Package packager writes catalogs of titles: synthetic ones in pure Go (segments whose sizes
// follow each rendition's bitrate or the Envivio ladder exactly, deterministic from a seed) and
// real ones encoded by ffmpeg. Segments are CMAF (fragmented MP4: an init segment per rendition
// and .m4s media segments, served by HLS with EXT-X-MAP and by DASH from manifest.mpd) or
// MPEG-TS (HLS only).
package packager

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"time"

	"edgecdn/internal/catalog"
	"edgecdn/internal/envivio"
	"edgecdn/internal/fmp4"
	"edgecdn/internal/hls"
	"edgecdn/internal/mpegts"
)

// DefaultFormat is the segment format titles get unless told otherwise: CMAF, which browsers
// play through Media Source Extensions with HLS (hls.js) and DASH (dash.js) alike.
const DefaultFormat = catalog.FormatCMAF

// Config says what to package. The zero value of each field means its documented default.
type Config struct {
	Out      string        // content folder; created if missing. Required.
	Titles   int           // number of titles; default 3 (1 with FFmpeg)
	Prefix   string        // titles are named <Prefix>-000, <Prefix>-001, ...; default "title" ("ffmpeg" with FFmpeg)
	Duration time.Duration // length of each title; default 192s (48 chunks of 4 s, as the reference simulator)
	Segment  time.Duration // segment duration; default 4s
	Ladder   string        // a name from Ladders; default "envivio" ("small" with FFmpeg)
	Format   string        // catalog.FormatCMAF or catalog.FormatTS; default DefaultFormat
	Seed     uint64        // seeds the synthetic bytes; the same seed gives the same catalog
	Workers  int           // segments written in parallel; default GOMAXPROCS

	FFmpeg     bool   // encode real H.264/AAC with ffmpeg instead of writing synthetic segments
	FFmpegPath string // default "ffmpeg" from PATH
	Input      string // with FFmpeg: a media file to encode; default a lavfi test pattern and tone
	Preset     string // with FFmpeg: x264 preset; default "veryfast"

	Logger *slog.Logger // default slog.Default()
}

func (c *Config) setDefaults() error {
	if c.Out == "" {
		return errors.New("package: no output folder (--out)")
	}
	if c.Titles == 0 {
		c.Titles = 3
		if c.FFmpeg {
			c.Titles = 1
		}
	}
	if c.Titles < 0 || c.Titles > 100000 {
		return fmt.Errorf("package: --titles %d out of range 1..100000", c.Titles)
	}
	if c.Prefix == "" {
		c.Prefix = "title"
		if c.FFmpeg {
			c.Prefix = "ffmpeg"
		}
	}
	if !catalog.ValidName(c.Prefix + "-000") {
		return fmt.Errorf("package: bad title prefix %q: letters, digits, '.', '_' and '-' only", c.Prefix)
	}
	if c.Duration == 0 {
		c.Duration = 192 * time.Second
	}
	if c.Segment == 0 {
		c.Segment = 4 * time.Second
	}
	if c.Segment < 100*time.Millisecond || c.Segment > time.Minute {
		return fmt.Errorf("package: --segment %v out of range 100ms..1m", c.Segment)
	}
	if c.Duration < c.Segment || c.Duration > 24*time.Hour {
		return fmt.Errorf("package: --duration %v must be at least one segment (%v) and at most 24h", c.Duration, c.Segment)
	}
	if c.Ladder == "" {
		c.Ladder = "envivio"
		if c.FFmpeg {
			c.Ladder = "small"
		}
	}
	if c.Format == "" {
		c.Format = DefaultFormat
	}
	if c.Format != catalog.FormatCMAF && c.Format != catalog.FormatTS {
		return fmt.Errorf("package: unknown format %q (have %s, %s)", c.Format, catalog.FormatCMAF, catalog.FormatTS)
	}
	if _, ok := Ladders[c.Ladder]; !ok {
		return fmt.Errorf("package: unknown ladder %q (have %s)", c.Ladder, LadderNames())
	}
	if c.Workers <= 0 {
		c.Workers = runtime.GOMAXPROCS(0)
	}
	if c.FFmpegPath == "" {
		c.FFmpegPath = "ffmpeg"
	}
	if c.Preset == "" {
		c.Preset = "veryfast"
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// Package writes cfg.Titles titles into cfg.Out and merges them into its catalog.json, replacing
// titles of the same name and keeping the others. It returns the merged catalog.
func Package(ctx context.Context, cfg Config) (*catalog.Catalog, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
		return nil, fmt.Errorf("package: %w", err)
	}
	cat := &catalog.Catalog{Version: catalog.Version, Generator: "edgecdn package"}
	if old, err := catalog.Load(cfg.Out); err == nil {
		cat = old
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("package: existing %s: %w", catalog.FileName, err)
	}
	for i := 0; i < cfg.Titles; i++ {
		name := fmt.Sprintf("%s-%03d", cfg.Prefix, i)
		start := time.Now()
		var (
			t   catalog.Title
			err error
		)
		if cfg.FFmpeg {
			t, err = packageFFmpeg(ctx, &cfg, name)
		} else {
			t, err = packageSynthetic(ctx, &cfg, name, i)
		}
		if err != nil {
			return nil, err
		}
		cfg.Logger.Info("packaged", "title", name, "kind", t.Kind, "ladder", t.Ladder,
			"renditions", len(t.Renditions), "segments", len(t.Renditions[0].Segments), "took", time.Since(start).Round(time.Millisecond))
		cat.Titles = slices.DeleteFunc(cat.Titles, func(o catalog.Title) bool { return o.Name == name })
		cat.Titles = append(cat.Titles, t)
	}
	slices.SortFunc(cat.Titles, func(a, b catalog.Title) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	if err := catalog.Write(cfg.Out, cat); err != nil {
		return nil, fmt.Errorf("package: %w", err)
	}
	return cat, nil
}

// segmentDurations splits d into segments of seg, the last one shorter if d is not a multiple.
func segmentDurations(d, seg time.Duration) []float64 {
	var out []float64
	for left := d; left > 0; left -= seg {
		out = append(out, min(left, seg).Seconds())
	}
	// A tail under a tenth of a segment is folded into the previous one rather than left as a
	// segment players would stall on.
	if n := len(out); n > 1 && out[n-1] < seg.Seconds()/10 {
		out[n-2] += out[n-1]
		out = out[:n-1]
	}
	return out
}

// seedFor derives the seed of one segment from the catalog seed and the segment's identity.
func seedFor(seed uint64, title, rendition string, index int) [32]byte {
	h := sha256.New()
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], seed)
	h.Write(b[:])
	fmt.Fprintf(h, "\x00%s\x00%s\x00%d", title, rendition, index)
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// variation returns the size factor of segment index of a title, shared by every rendition (a
// complex scene is big at every bitrate): between 0.75 and 1.25, deterministic from the seed.
func variation(seed uint64, title string, index int) float64 {
	s := seedFor(seed, title, "", index)
	u := float64(binary.BigEndian.Uint64(s[:8])>>11) / (1 << 53)
	return 0.75 + 0.5*u
}

type segJob struct {
	rung, index int
	dir         string
	packets     int            // MPEG-TS
	seg         mpegts.Segment // MPEG-TS
	size        int64          // CMAF: the segment's exact size
	frag        fmp4.Fragment  // CMAF
	avc         *fmp4.AVC      // CMAF: the rendition's pictures
	of          int            // CMAF: segments in the rendition (the picture shows index+1 of them)
	out         *catalog.Segment
}

func packageSynthetic(ctx context.Context, cfg *Config, name string, titleIndex int) (catalog.Title, error) {
	ladder := Ladders[cfg.Ladder]
	durs := segmentDurations(cfg.Duration, cfg.Segment)
	tmp, err := os.MkdirTemp(cfg.Out, ".tmp-"+name+"-")
	if err != nil {
		return catalog.Title{}, fmt.Errorf("package %s: %w", name, err)
	}
	defer os.RemoveAll(tmp)

	cmaf := cfg.Format == catalog.FormatCMAF
	t := catalog.Title{
		Name: name, Kind: "synthetic", Format: cfg.Format, Ladder: ladder.Name,
		SegmentSeconds: cfg.Segment.Seconds(), DurationS: cfg.Duration.Seconds(),
	}
	var jobs []segJob
	for ri, rung := range ladder.Rungs {
		r := catalog.Rendition{
			Name: rung.Name(), NominalKbps: rung.Kbps, Width: rung.Width, Height: rung.Height,
			Codecs: avcCodec(rung.Height), SegmentCount: len(durs), Segments: make([]catalog.Segment, len(durs)),
		}
		dir := filepath.Join(tmp, r.Name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			return t, fmt.Errorf("package %s: %w", name, err)
		}
		var avc *fmp4.AVC
		if cmaf {
			p, c, l := avcBytes(rung.Height)
			avc = fmp4.NewAVC(rung.Width, rung.Height, p, c, l)
			init, err := writeInit(dir, rung, avc)
			if err != nil {
				return t, fmt.Errorf("package %s: %w", name, err)
			}
			r.Init = &init
		}
		t.Renditions = append(t.Renditions, r)
		start := 0.0
		var ticks uint64
		for i, d := range durs {
			var size int64
			var nominal int64
			if ladder.Envivio {
				// The reference sizes are per 4 s chunk; other segment lengths scale them.
				nominal = int64(math.Round(float64(envivio.Size(ri, i%envivio.Chunks)) * d / envivio.ChunkSeconds))
				size = nominal
			} else {
				size = int64(float64(rung.Kbps) * 1000 / 8 * d * variation(cfg.Seed, name, i))
			}
			if cmaf {
				// CMAF segments take any size: exactly the ladder's.
				size = max(size, fmp4.MediaOverhead(1)+5)
				dt := uint64(math.Round(d * fmp4.Timescale))
				t.Renditions[ri].Segments[i] = catalog.Segment{Name: fmt.Sprintf("seg%05d.m4s", i), Duration: d, Size: size}
				jobs = append(jobs, segJob{rung: ri, index: i, dir: dir, size: size, avc: avc, of: len(durs), frag: fmp4.Fragment{
					Sequence: uint32(i + 1), Start: ticks, Duration: dt,
					Samples: max(1, int(math.Round(d*fmp4.FrameRate))), Seed: seedFor(cfg.Seed, name, r.Name, i),
				}})
				ticks += dt
				continue
			}
			packets := mpegts.PacketsFor(size, ladder.Envivio)
			segName := fmt.Sprintf("seg%05d.ts", i)
			cs := catalog.Segment{Name: segName, Duration: d, Size: int64(packets) * mpegts.PacketSize}
			if ladder.Envivio && nominal != cs.Size {
				cs.NominalSize = nominal
			}
			t.Renditions[ri].Segments[i] = cs
			jobs = append(jobs, segJob{
				rung: ri, index: i, dir: dir, packets: packets,
				seg: mpegts.Segment{Index: i, Duration: d, Start: start, Seed: seedFor(cfg.Seed, name, r.Name, i)},
			})
			start += d
		}
	}
	for i := range jobs {
		jobs[i].out = &t.Renditions[jobs[i].rung].Segments[jobs[i].index]
	}
	if err := runJobs(ctx, cfg.Workers, jobs, writeSegment); err != nil {
		return t, fmt.Errorf("package %s: %w", name, err)
	}
	if err := writePlaylists(tmp, &t); err != nil {
		return t, fmt.Errorf("package %s: %w", name, err)
	}
	return t, install(tmp, filepath.Join(cfg.Out, name))
}

func runJobs(ctx context.Context, workers int, jobs []segJob, do func(segJob) error) error {
	ch := make(chan segJob)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range ch {
				if err := do(j); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	var err error
loop:
	for _, j := range jobs {
		select {
		case ch <- j:
		case <-ctx.Done():
			err = ctx.Err()
			break loop
		}
	}
	close(ch)
	wg.Wait()
	if err != nil {
		return err
	}
	return firstErr
}

func writeSegment(j segJob) error {
	if j.size > 0 {
		f := j.frag
		f.Frames = pictures(j.avc, j.rung, j.index, j.of, f.Samples)
		b, err := fmp4.Media(j.size, f)
		if err != nil {
			// Too small for the pictures: filler alone keeps the size (not decodable).
			f.Frames = nil
			b, err = fmp4.Media(j.size, f)
		}
		if err != nil {
			return fmt.Errorf("segment %s: %w", filepath.Join(j.dir, j.out.Name), err)
		}
		if err := writeFile(filepath.Join(j.dir, j.out.Name), b); err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		j.out.SHA256 = hex.EncodeToString(sum[:])
		return nil
	}
	f, err := os.Create(filepath.Join(j.dir, j.out.Name))
	if err != nil {
		return err
	}
	h := sha256.New()
	bw := bufio.NewWriterSize(io.MultiWriter(f, h), 256<<10)
	err = mpegts.Write(bw, j.packets, j.seg)
	if err == nil {
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("segment %s: %w", f.Name(), err)
	}
	j.out.SHA256 = hex.EncodeToString(h.Sum(nil))
	return nil
}

// rungColours tell renditions apart on screen, lowest first (Y'CbCr, BT.601 limited range).
var rungColours = []fmp4.Colour{
	{Y: 82, Cb: 90, Cr: 240},   // red
	{Y: 144, Cb: 54, Cr: 34},   // green
	{Y: 41, Cb: 240, Cr: 110},  // blue
	{Y: 210, Cb: 16, Cr: 146},  // yellow
	{Y: 107, Cb: 202, Cr: 222}, // magenta
	{Y: 170, Cb: 166, Cr: 16},  // cyan
}

// pictures returns a synthetic segment's coded frames: an IDR picture whose bars show how far
// into the title the segment is (index+1 of n segments, in the rendition's colour, the rest
// dark) and P pictures that repeat it.
func pictures(avc *fmp4.AVC, rung, index, n, frames int) [][]byte {
	cols := (avc.Width + 15) / 16
	lit := max(1, (index+1)*cols/max(n, 1))
	top := make([]fmp4.Colour, cols)
	for x := range top {
		top[x] = fmp4.Colour{Y: 40, Cb: 128, Cr: 128}
		if x < lit {
			top[x] = rungColours[rung%len(rungColours)]
		}
	}
	out := [][]byte{fmp4.AVCC(avc.IDR(index, top))}
	for i := 1; i < frames; i++ {
		out = append(out, fmp4.AVCC(avc.P(i)))
	}
	return out
}

// writeInit writes a rendition's init segment and returns its catalog entry.
func writeInit(dir string, rung Rung, avc *fmp4.AVC) (catalog.Segment, error) {
	p, c, l := avcBytes(rung.Height)
	b, err := fmp4.Init(fmp4.Track{Width: rung.Width, Height: rung.Height, Profile: p, Compat: c, Level: l, SPS: avc.SPS(), PPS: avc.PPS()})
	if err != nil {
		return catalog.Segment{}, err
	}
	if err := writeFile(filepath.Join(dir, InitName), b); err != nil {
		return catalog.Segment{}, err
	}
	sum := sha256.Sum256(b)
	return catalog.Segment{Name: InitName, Size: int64(len(b)), SHA256: hex.EncodeToString(sum[:])}, nil
}

// InitName is the file name of a CMAF rendition's init segment.
const InitName = "init.mp4"

// writePlaylists writes each rendition's media playlist and the title's multivariant playlist,
// filling in the renditions' bandwidths from their segments; for CMAF titles also the DASH
// manifest.
func writePlaylists(dir string, t *catalog.Title) error {
	version := 3
	if t.Format == catalog.FormatCMAF {
		version = 7 // EXT-X-MAP in a playlist without I-frames needs 6; 7 is what fMP4 players expect
	}
	mv := &hls.Multivariant{Version: version, IndependentSegments: true}
	for i := range t.Renditions {
		r := &t.Renditions[i]
		m := &hls.Media{Version: version, PlaylistType: "VOD", IndependentSegments: true, EndList: true}
		if r.Init != nil {
			m.Map = r.Init.Name
		}
		var bytes int64
		var secs, peak float64
		for _, s := range r.Segments {
			m.Segments = append(m.Segments, hls.Segment{URI: s.Name, Duration: s.Duration})
			bytes += s.Size
			secs += s.Duration
			peak = max(peak, float64(s.Size)*8/s.Duration)
		}
		r.Bandwidth = int64(math.Ceil(peak))
		r.AverageBandwidth = int64(math.Ceil(float64(bytes) * 8 / secs))
		if err := writeFile(filepath.Join(dir, r.Name, "index.m3u8"), m.Bytes()); err != nil {
			return err
		}
		mv.Variants = append(mv.Variants, hls.Variant{
			URI: r.Name + "/index.m3u8", Bandwidth: r.Bandwidth, AverageBandwidth: r.AverageBandwidth,
			Width: r.Width, Height: r.Height, Codecs: r.Codecs, Name: r.Name,
		})
	}
	if err := writeFile(filepath.Join(dir, "master.m3u8"), mv.Bytes()); err != nil {
		return err
	}
	if t.Format != catalog.FormatCMAF {
		return nil
	}
	mpd, err := MPD(t)
	if err != nil {
		return fmt.Errorf("manifest.mpd: %w", err)
	}
	b, err := mpd.Marshal()
	if err != nil {
		return fmt.Errorf("manifest.mpd: %w", err)
	}
	return writeFile(filepath.Join(dir, MPDName), b)
}

func writeFile(path string, b []byte) error {
	return os.WriteFile(path, b, 0o644)
}

// install moves a finished title from its temporary folder into place, replacing an older copy,
// so an origin reading the folder never sees half a title.
func install(tmp, dst string) error {
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	old := dst + ".old"
	os.RemoveAll(old)
	if err := os.Rename(dst, old); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := os.Rename(tmp, dst); err != nil {
		return err
	}
	return os.RemoveAll(old)
}

// hashFile returns the hex SHA-256 and size of a file.
func hashFile(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	var h hash.Hash = sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}
