package packager

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/grafov/m3u8"

	"edgecdn/internal/catalog"
	"edgecdn/internal/dash"
	"edgecdn/internal/envivio"
	"edgecdn/internal/fmp4"
	"edgecdn/internal/hls"
	"edgecdn/internal/testenv"
)

func TestSyntheticMatchesCatalog(t *testing.T) {
	dir := t.TempDir()
	cat, err := Package(context.Background(), Config{Out: dir, Titles: 2, Duration: 30 * time.Second, Ladder: "small"})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := catalog.Load(dir); err != nil || len(got.Titles) != 2 {
		t.Fatalf("catalog.Load = %v titles, %v; want 2", got, err)
	}
	for _, title := range cat.Titles {
		checkTitle(t, dir, title)
	}
}

// checkTitle parses a title's playlists with our parser and with grafov/m3u8 and checks them
// and every segment's bytes against the catalog.
func checkTitle(t *testing.T, dir string, title catalog.Title) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, title.Name, "master.m3u8"))
	if err != nil {
		t.Fatal(err)
	}
	mv, err := hls.ParseMultivariant(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s master: %v", title.Name, err)
	}
	gp, kind, err := m3u8.DecodeFrom(bytes.NewReader(b), true)
	if err != nil || kind != m3u8.MASTER {
		t.Fatalf("%s master: grafov/m3u8: kind %v, %v", title.Name, kind, err)
	}
	gm := gp.(*m3u8.MasterPlaylist)
	if len(mv.Variants) != len(title.Renditions) || len(gm.Variants) != len(title.Renditions) {
		t.Fatalf("%s: %d/%d variants, want %d", title.Name, len(mv.Variants), len(gm.Variants), len(title.Renditions))
	}
	for i, r := range title.Renditions {
		v := mv.Variants[i]
		if v.URI != r.Name+"/index.m3u8" || v.Bandwidth != r.Bandwidth || v.AverageBandwidth != r.AverageBandwidth ||
			v.Width != r.Width || v.Height != r.Height || v.Codecs != r.Codecs || v.Bandwidth < v.AverageBandwidth {
			t.Errorf("%s variant %d = %+v, catalog %+v", title.Name, i, v, r)
		}
		if g := gm.Variants[i]; int64(g.Bandwidth) != r.Bandwidth || g.Codecs != r.Codecs {
			t.Errorf("%s variant %d per grafov/m3u8: %d %q", title.Name, i, g.Bandwidth, g.Codecs)
		}
		mb, err := os.ReadFile(filepath.Join(dir, title.Name, r.Name, "index.m3u8"))
		if err != nil {
			t.Fatal(err)
		}
		m, err := hls.ParseMedia(bytes.NewReader(mb))
		if err != nil {
			t.Fatalf("%s/%s: %v", title.Name, r.Name, err)
		}
		if !m.EndList || m.PlaylistType != "VOD" || m.MediaSequence != 0 || len(m.Segments) != r.SegmentCount {
			t.Errorf("%s/%s: endlist %v type %q seq %d segments %d, want VOD with ENDLIST and %d", title.Name, r.Name,
				m.EndList, m.PlaylistType, m.MediaSequence, len(m.Segments), r.SegmentCount)
		}
		gp, kind, err := m3u8.DecodeFrom(bytes.NewReader(mb), true)
		if err != nil || kind != m3u8.MEDIA {
			t.Fatalf("%s/%s: grafov/m3u8: %v", title.Name, r.Name, err)
		}
		if gm := gp.(*m3u8.MediaPlaylist); int(gm.Count()) != r.SegmentCount || !gm.Closed {
			t.Errorf("%s/%s: grafov/m3u8 sees %d segments, closed %v", title.Name, r.Name, gm.Count(), gm.Closed)
		}
		if title.Format == catalog.FormatCMAF {
			if m.Map != InitName || r.Init == nil || m.Version != 7 {
				t.Fatalf("%s/%s: map %q, version %d, catalog init %v", title.Name, r.Name, m.Map, m.Version, r.Init)
			}
			data, err := os.ReadFile(filepath.Join(dir, title.Name, r.Name, r.Init.Name))
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(data)
			if int64(len(data)) != r.Init.Size || hex.EncodeToString(sum[:]) != r.Init.SHA256 {
				t.Errorf("%s/%s init: %d bytes sha256 %x, catalog %+v", title.Name, r.Name, len(data), sum, r.Init)
			}
			if _, err := fmp4.CheckInit(data); err != nil {
				t.Errorf("%s/%s init: %v", title.Name, r.Name, err)
			}
		} else if m.Map != "" || r.Init != nil {
			t.Errorf("%s/%s: a TS title with map %q, init %v", title.Name, r.Name, m.Map, r.Init)
		}
		for j, s := range r.Segments {
			if m.Segments[j].URI != s.Name || m.Segments[j].Duration != s.Duration {
				t.Errorf("%s/%s segment %d: playlist %+v, catalog %+v", title.Name, r.Name, j, m.Segments[j], s)
			}
			if float64(m.TargetDuration) < s.Duration {
				t.Errorf("%s/%s: TARGETDURATION %d < EXTINF %v", title.Name, r.Name, m.TargetDuration, s.Duration)
			}
			data, err := os.ReadFile(filepath.Join(dir, title.Name, r.Name, s.Name))
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(data)
			if int64(len(data)) != s.Size || hex.EncodeToString(sum[:]) != s.SHA256 {
				t.Fatalf("%s/%s/%s: %d bytes sha256 %x, catalog %d %s", title.Name, r.Name, s.Name, len(data), sum, s.Size, s.SHA256)
			}
			if title.Format == catalog.FormatCMAF {
				if _, err := fmp4.CheckMedia(data); err != nil {
					t.Fatalf("%s/%s/%s: %v", title.Name, r.Name, s.Name, err)
				}
			}
		}
	}
	checkMPD(t, dir, title)
}

// checkMPD checks that a CMAF title's manifest.mpd parses and names exactly the files of the
// HLS playlists, with the catalog's durations; a TS title has none.
func checkMPD(t *testing.T, dir string, title catalog.Title) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, title.Name, MPDName))
	if title.Format != catalog.FormatCMAF {
		if err == nil {
			t.Errorf("%s: a TS title has %s", title.Name, MPDName)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	mpd, err := dash.Parse(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s: %v", title.Name, err)
	}
	as := &mpd.Periods[0].AdaptationSets[0]
	if len(mpd.Periods) != 1 || len(mpd.Periods[0].AdaptationSets) != 1 || len(as.Representations) != len(title.Renditions) {
		t.Fatalf("%s: MPD shape %+v", title.Name, mpd)
	}
	for i, r := range title.Renditions {
		rep := &as.Representations[i]
		if rep.ID != r.Name || rep.Bandwidth != r.Bandwidth || rep.Width != r.Width || rep.Height != r.Height || rep.Codecs != r.Codecs {
			t.Errorf("%s: representation %+v, rendition %+v", title.Name, rep, r)
		}
		st := as.Template(rep)
		init, _ := dash.Expand(st.Initialization, rep.ID, rep.Bandwidth, 0, 0)
		if init != r.Name+"/"+r.Init.Name {
			t.Errorf("%s: init %s", title.Name, init)
		}
		segs, err := st.Segments(mpd.MediaPresentationDuration.Seconds())
		if err != nil || len(segs) != len(r.Segments) {
			t.Fatalf("%s/%s: %d segments, %v; catalog %d", title.Name, r.Name, len(segs), err, len(r.Segments))
		}
		for j, sg := range segs {
			u, _ := dash.Expand(st.Media, rep.ID, rep.Bandwidth, sg.Number, sg.Time)
			if u != r.Name+"/"+r.Segments[j].Name || math.Abs(sg.Duration-r.Segments[j].Duration) > 1e-4 {
				t.Errorf("%s: segment %d is %s of %gs, HLS has %s of %gs", title.Name, j, u, sg.Duration, r.Segments[j].Name, r.Segments[j].Duration)
			}
		}
	}
}

func TestSyntheticDeterministic(t *testing.T) {
	a, b, c := t.TempDir(), t.TempDir(), t.TempDir()
	cfg := Config{Titles: 1, Duration: 12 * time.Second, Ladder: "small", Seed: 7}
	for _, d := range []string{a, b} {
		cfg.Out = d
		if _, err := Package(context.Background(), cfg); err != nil {
			t.Fatal(err)
		}
	}
	cfg.Out, cfg.Seed = c, 8
	if _, err := Package(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	ca, _ := os.ReadFile(filepath.Join(a, "catalog.json"))
	cb, _ := os.ReadFile(filepath.Join(b, "catalog.json"))
	cc, _ := os.ReadFile(filepath.Join(c, "catalog.json"))
	if !bytes.Equal(ca, cb) {
		t.Error("two runs with one seed wrote different catalogs")
	}
	if bytes.Equal(ca, cc) {
		t.Error("different seeds wrote the same catalog")
	}
}

func TestEnvivioSizesCMAF(t *testing.T) {
	dir := t.TempDir()
	cat, err := Package(context.Background(), Config{Out: dir, Titles: 1})
	if err != nil {
		t.Fatal(err)
	}
	title := cat.Titles[0]
	if title.Format != catalog.FormatCMAF || len(title.Renditions) != 6 {
		t.Fatalf("format %s, %d renditions; want cmaf (the default), 6", title.Format, len(title.Renditions))
	}
	for r, rend := range title.Renditions {
		for i, s := range rend.Segments {
			// Exactly the reference size: the mdat pads to it.
			if want := envivio.Size(r, i); s.Size != want || s.NominalSize != 0 {
				t.Fatalf("%s segment %d: size %d nominal %d, envivio %d", rend.Name, i, s.Size, s.NominalSize, want)
			}
		}
	}
	checkTitle(t, dir, title)
}

func TestEnvivioSizes(t *testing.T) {
	dir := t.TempDir()
	cat, err := Package(context.Background(), Config{Out: dir, Titles: 1, Format: catalog.FormatTS})
	if err != nil {
		t.Fatal(err)
	}
	title := cat.Titles[0]
	if len(title.Renditions) != 6 {
		t.Fatalf("%d renditions, want 6", len(title.Renditions))
	}
	for r, rend := range title.Renditions {
		if rend.NominalKbps != envivio.Kbps[r] || len(rend.Segments) != 48 {
			t.Errorf("rendition %d: %d kbps, %d segments; want %d kbps, 48", r, rend.NominalKbps, len(rend.Segments), envivio.Kbps[r])
		}
		for i, s := range rend.Segments {
			want := envivio.Size(r, i)
			nominal := s.Size
			if s.NominalSize != 0 {
				nominal = s.NominalSize
			}
			// Exactly the reference size, rounded up to whole 188-byte packets.
			if nominal != want || s.Size%188 != 0 || s.Size < want || s.Size-want >= 188 {
				t.Fatalf("%s segment %d: size %d nominal %d, envivio %d", rend.Name, i, s.Size, nominal, want)
			}
		}
	}
	checkTitle(t, dir, title)
}

func TestMergeAndBadInput(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	if _, err := Package(ctx, Config{Out: dir, Titles: 2, Duration: 8 * time.Second, Ladder: "small"}); err != nil {
		t.Fatal(err)
	}
	cat, err := Package(ctx, Config{Out: dir, Titles: 1, Prefix: "other", Duration: 8 * time.Second, Ladder: "small"})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tt := range cat.Titles {
		names = append(names, tt.Name)
	}
	if got := strings.Join(names, ","); got != "other-000,title-000,title-001" {
		t.Errorf("merged titles %s", got)
	}
	before, _ := os.ReadFile(filepath.Join(dir, "catalog.json"))
	for _, bad := range []Config{
		{Out: dir, Ladder: "nope"},
		{Out: dir, Segment: time.Hour},
		{Out: dir, Duration: time.Millisecond},
		{Out: dir, Titles: -1},
		{Out: dir, Format: "mkv"},
		{Out: dir, Prefix: "../evil"},
		{Out: ""},
		{Out: dir, FFmpeg: true, FFmpegPath: "/nonexistent/ffmpeg"},
		{Out: dir, FFmpeg: true, Input: "/nonexistent/input.mp4", Duration: 4 * time.Second},
	} {
		if _, err := Package(ctx, bad); err == nil {
			t.Errorf("Package(%+v) succeeded, want an error", bad)
		}
	}
	after, _ := os.ReadFile(filepath.Join(dir, "catalog.json"))
	if !bytes.Equal(before, after) {
		t.Error("a failed Package changed catalog.json")
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".tmp") {
			t.Errorf("left temporary folder %s", e.Name())
		}
	}
}

func TestSyntheticSegmentIsMPEGTS(t *testing.T) {
	ffprobe := testenv.Tool(t, "ffprobe")
	dir := t.TempDir()
	cat, err := Package(context.Background(), Config{Out: dir, Titles: 1, Duration: 8 * time.Second, Ladder: "small", Format: catalog.FormatTS})
	if err != nil {
		t.Fatal(err)
	}
	checkTitle(t, dir, cat.Titles[0])
	r := cat.Titles[0].Renditions[1]
	seg := filepath.Join(dir, cat.Titles[0].Name, r.Name, r.Segments[1].Name)
	out, err := exec.Command(ffprobe, "-v", "error", "-show_entries", "format=format_name,duration:stream=codec_type,codec_name",
		"-of", "default=noprint_wrappers=1", seg).Output()
	if err != nil {
		t.Fatalf("ffprobe: %v", err)
	}
	got := string(out)
	for _, want := range []string{"format_name=mpegts", "codec_name=h264", "codec_type=video"} {
		if !strings.Contains(got, want) {
			t.Errorf("ffprobe says %q, want %s", got, want)
		}
	}
}

// joined writes a rendition's init segment followed by one media segment, the file a player
// hands its decoder, and returns its path.
func joined(t *testing.T, dir, title string, r catalog.Rendition, seg int) string {
	t.Helper()
	init, err := os.ReadFile(filepath.Join(dir, title, r.Name, r.Init.Name))
	if err != nil {
		t.Fatal(err)
	}
	media, err := os.ReadFile(filepath.Join(dir, title, r.Name, r.Segments[seg].Name))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "joined.mp4")
	if err := os.WriteFile(p, append(init, media...), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSyntheticSegmentIsCMAF: a synthetic CMAF segment, after its init segment, is H.264 in
// MP4 that ffprobe reads and ffmpeg decodes.
func TestSyntheticSegmentIsCMAF(t *testing.T) {
	ffprobe := testenv.Tool(t, "ffprobe")
	dir := t.TempDir()
	cat, err := Package(context.Background(), Config{Out: dir, Titles: 1, Duration: 8 * time.Second, Ladder: "small"})
	if err != nil {
		t.Fatal(err)
	}
	r := cat.Titles[0].Renditions[1]
	out, err := exec.Command(ffprobe, "-v", "error", "-show_entries", "format=format_name:stream=codec_type,codec_name,width,height:packet=flags",
		"-of", "default=noprint_wrappers=1", joined(t, dir, cat.Titles[0].Name, r, 1)).Output()
	if err != nil {
		t.Fatalf("ffprobe: %v", err)
	}
	got := string(out)
	for _, want := range []string{"format_name=mov,mp4", "codec_name=h264", "codec_type=video", "width=640", "height=360"} {
		if !strings.Contains(got, want) {
			t.Errorf("ffprobe says %.300q, want %s", got, want)
		}
	}
	if n := strings.Count(got, "flags="); n != 100 || !strings.Contains(got, "flags=K") {
		t.Errorf("ffprobe sees %d packets in a 4 s segment, want 100 (25 fps), the first a keyframe", n)
	}
	// The pictures decode: 100 frames of 640x360 without an error.
	ffmpeg := testenv.Tool(t, "ffmpeg")
	raw, err := exec.Command(ffmpeg, "-v", "error", "-xerror", "-i", joined(t, dir, cat.Titles[0].Name, r, 1), "-f", "rawvideo", "-pix_fmt", "yuv420p", "-").Output()
	if err != nil || len(raw) != 100*640*360*3/2 {
		t.Errorf("ffmpeg decodes %d bytes, %v; want 100 frames of 640x360", len(raw), err)
	}
}

func TestFFmpegTitle(t *testing.T) {
	testenv.Tool(t, "ffmpeg")
	ffprobe := testenv.Tool(t, "ffprobe")
	dir := t.TempDir()
	cat, err := Package(context.Background(), Config{Out: dir, FFmpeg: true, Duration: 8 * time.Second, Preset: "ultrafast"})
	if err != nil {
		t.Fatal(err)
	}
	title := cat.Titles[0]
	if title.Kind != "ffmpeg" || len(title.Renditions) != 3 {
		t.Fatalf("title %s kind %s with %d renditions", title.Name, title.Kind, len(title.Renditions))
	}
	for _, r := range title.Renditions {
		if r.SegmentCount != 2 {
			t.Errorf("%s: %d segments of 4 s for 8 s, want 2 (keyframes not aligned?)", r.Name, r.SegmentCount)
		}
	}
	checkTitle(t, dir, title)
	// Each segment starts with a keyframe, at the same time in every rendition.
	r := title.Renditions[2]
	if title.Format != catalog.FormatCMAF {
		t.Fatalf("format %s, want cmaf", title.Format)
	}
	out, err := exec.Command(ffprobe, "-v", "error", "-select_streams", "v", "-show_entries", "stream=codec_name,width,height:packet=flags",
		"-read_intervals", "%+#1", "-of", "csv=p=0", joined(t, dir, title.Name, r, 1)).Output()
	if err != nil {
		t.Fatalf("ffprobe: %v", err)
	}
	if got := string(out); !strings.Contains(got, "K") || !strings.Contains(got, "h264,1280,720") {
		t.Errorf("second segment of %s: ffprobe %q, want an h264 1280x720 stream starting on a keyframe", r.Name, got)
	}
}
