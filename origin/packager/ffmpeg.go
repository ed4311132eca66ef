package packager

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"edgecdn/internal/catalog"
	"edgecdn/internal/fmp4"
	"edgecdn/internal/hls"
)

// ffmpegArgs builds one ffmpeg run that encodes every rung of the ladder from one decode of the
// source: H.264 Main + AAC-LC in CMAF (ffmpeg's hls muxer with fmp4 segments: init.mp4 and
// segNNNNN.m4s per rendition) or MPEG-TS, keyframes forced on segment boundaries in every
// rendition (so players can switch at any segment), constant segment length.
func ffmpegArgs(cfg *Config, dir string) []string {
	ladder := Ladders[cfg.Ladder]
	seg := cfg.Segment.Seconds()
	dur := strconv.FormatFloat(cfg.Duration.Seconds(), 'f', -1, 64)
	args := []string{"-hide_banner", "-nostdin", "-loglevel", "error", "-y"}
	if cfg.Input != "" {
		args = append(args, "-t", dur, "-i", cfg.Input)
	} else {
		top := ladder.Rungs[len(ladder.Rungs)-1]
		args = append(args,
			"-f", "lavfi", "-t", dur, "-i", fmt.Sprintf("testsrc2=size=%dx%d:rate=25", top.Width, top.Height),
			"-f", "lavfi", "-t", dur, "-i", "sine=frequency=440:beep_factor=4:sample_rate=48000")
	}
	var fc strings.Builder
	fmt.Fprintf(&fc, "[0:v:0]split=%d", len(ladder.Rungs))
	for i := range ladder.Rungs {
		fmt.Fprintf(&fc, "[s%d]", i)
	}
	for i, r := range ladder.Rungs {
		fmt.Fprintf(&fc, ";[s%d]scale=%d:%d,setsar=1,format=yuv420p[v%d]", i, r.Width, r.Height, i)
	}
	args = append(args, "-filter_complex", fc.String())
	audio := "1:a:0"
	if cfg.Input != "" {
		audio = "0:a:0?" // an input without sound still encodes
	}
	gop := strconv.Itoa(int(seg * 25))
	for i, r := range ladder.Rungs {
		kbps := r.Kbps
		out := filepath.Join(dir, r.Name())
		args = append(args,
			"-map", fmt.Sprintf("[v%d]", i), "-map", audio,
			"-c:v", "libx264", "-preset", cfg.Preset, "-profile:v", "main", "-level", avcLevel(r.Height),
			"-b:v", fmt.Sprintf("%dk", kbps), "-maxrate", fmt.Sprintf("%dk", kbps*11/10), "-bufsize", fmt.Sprintf("%dk", kbps*2),
			"-g", gop, "-keyint_min", gop, "-sc_threshold", "0",
			"-force_key_frames", fmt.Sprintf("expr:gte(t,n_forced*%s)", strconv.FormatFloat(seg, 'f', -1, 64)),
			"-c:a", "aac", "-b:a", "64k", "-ac", "2", "-ar", "48000",
			"-f", "hls", "-hls_time", strconv.FormatFloat(seg, 'f', -1, 64), "-hls_playlist_type", "vod",
			"-hls_flags", "independent_segments")
		if cfg.Format == catalog.FormatCMAF {
			args = append(args, "-hls_segment_type", "fmp4", "-hls_fmp4_init_filename", InitName,
				"-hls_segment_filename", filepath.Join(out, "seg%05d.m4s"))
		} else {
			args = append(args, "-hls_segment_type", "mpegts", "-hls_segment_filename", filepath.Join(out, "seg%05d.ts"))
		}
		args = append(args, filepath.Join(out, "index.m3u8"))
	}
	return args
}

func packageFFmpeg(ctx context.Context, cfg *Config, name string) (catalog.Title, error) {
	ladder := Ladders[cfg.Ladder]
	if _, err := exec.LookPath(cfg.FFmpegPath); err != nil {
		return catalog.Title{}, fmt.Errorf("package %s: --ffmpeg needs ffmpeg (apt-get install ffmpeg): %w", name, err)
	}
	if cfg.Input != "" {
		if _, err := os.Stat(cfg.Input); err != nil {
			return catalog.Title{}, fmt.Errorf("package %s: --input: %w", name, err)
		}
	}
	tmp, err := os.MkdirTemp(cfg.Out, ".tmp-"+name+"-")
	if err != nil {
		return catalog.Title{}, fmt.Errorf("package %s: %w", name, err)
	}
	defer os.RemoveAll(tmp)
	for _, r := range ladder.Rungs {
		if err := os.Mkdir(filepath.Join(tmp, r.Name()), 0o755); err != nil {
			return catalog.Title{}, err
		}
	}
	cmd := exec.CommandContext(ctx, cfg.FFmpegPath, ffmpegArgs(cfg, tmp)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return catalog.Title{}, fmt.Errorf("package %s: ffmpeg: %w: %s", name, err, strings.TrimSpace(lastLines(stderr.String(), 5)))
	}

	t := catalog.Title{
		Name: name, Kind: "ffmpeg", Format: cfg.Format, Ladder: ladder.Name,
		SegmentSeconds: cfg.Segment.Seconds(), DurationS: cfg.Duration.Seconds(),
	}
	for _, rung := range ladder.Rungs {
		dir := filepath.Join(tmp, rung.Name())
		f, err := os.Open(filepath.Join(dir, "index.m3u8"))
		if err != nil {
			return t, fmt.Errorf("package %s: %w", name, err)
		}
		m, err := hls.ParseMedia(f)
		f.Close()
		if err != nil {
			return t, fmt.Errorf("package %s: ffmpeg's playlist: %w", name, err)
		}
		r := catalog.Rendition{
			Name: rung.Name(), NominalKbps: rung.Kbps, Width: rung.Width, Height: rung.Height,
			Codecs: avcCodec(rung.Height) + ",mp4a.40.2",
		}
		if cfg.Format == catalog.FormatCMAF {
			init, err := checkFMP4(dir, m)
			if err != nil {
				return t, fmt.Errorf("package %s: ffmpeg's %s: %w", name, r.Name, err)
			}
			r.Init = &init
		}
		for _, s := range m.Segments {
			if !catalog.ValidName(s.URI) {
				return t, fmt.Errorf("package %s: ffmpeg wrote an unexpected segment URI %q", name, s.URI)
			}
			sum, size, err := hashFile(filepath.Join(dir, s.URI))
			if err != nil {
				return t, fmt.Errorf("package %s: %w", name, err)
			}
			r.Segments = append(r.Segments, catalog.Segment{Name: s.URI, Duration: s.Duration, Size: size, SHA256: sum})
		}
		if len(r.Segments) == 0 {
			return t, fmt.Errorf("package %s: ffmpeg wrote no segments for %s", name, r.Name)
		}
		r.SegmentCount = len(r.Segments)
		t.Renditions = append(t.Renditions, r)
	}
	var total float64
	for _, s := range t.Renditions[0].Segments {
		total += s.Duration
	}
	t.DurationS = total
	// Rewrite ffmpeg's media playlists with ours so every title's playlists have one form.
	if err := writePlaylists(tmp, &t); err != nil {
		return t, fmt.Errorf("package %s: %w", name, err)
	}
	return t, install(tmp, filepath.Join(cfg.Out, name))
}

// checkFMP4 checks ffmpeg's init segment and first media segment with package fmp4 and
// returns the init segment's catalog entry.
func checkFMP4(dir string, m *hls.Media) (catalog.Segment, error) {
	if m.Map != InitName || len(m.Segments) == 0 {
		return catalog.Segment{}, fmt.Errorf("playlist maps %q, want %s", m.Map, InitName)
	}
	b, err := os.ReadFile(filepath.Join(dir, InitName))
	if err != nil {
		return catalog.Segment{}, err
	}
	if _, err := fmp4.CheckInit(b); err != nil {
		return catalog.Segment{}, err
	}
	first, err := os.ReadFile(filepath.Join(dir, m.Segments[0].URI))
	if err != nil {
		return catalog.Segment{}, err
	}
	if _, err := fmp4.CheckMedia(first); err != nil {
		return catalog.Segment{}, fmt.Errorf("%s: %w", m.Segments[0].URI, err)
	}
	sum, size, err := hashFile(filepath.Join(dir, InitName))
	return catalog.Segment{Name: InitName, Size: size, SHA256: sum}, err
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
