package fmp4

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"edgecdn/internal/testenv"
)

// decodable writes an init segment and one media segment of size bytes for a w x h picture and
// returns the joined file.
func decodable(t *testing.T, w, h int, size int64) (string, []Colour) {
	t.Helper()
	a := NewAVC(w, h, 0x4d, 0x40, 0x1e)
	init, err := Init(Track{Width: w, Height: h, Profile: 0x4d, Compat: 0x40, Level: 0x1e, SPS: a.SPS(), PPS: a.PPS()})
	if err != nil {
		t.Fatal(err)
	}
	top := []Colour{{81, 90, 240}, {145, 54, 34}, {41, 240, 110}, {235, 128, 128}}
	frames := [][]byte{AVCC(a.IDR(3, top))}
	for i := 1; i < 100; i++ {
		frames = append(frames, AVCC(a.P(i)))
	}
	seg, err := Media(size, Fragment{Sequence: 1, Duration: 4 * Timescale, Frames: frames, Seed: [32]byte{5}})
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(seg)) != size {
		t.Fatalf("%d bytes, want %d", len(seg), size)
	}
	if info, err := CheckMedia(seg); err != nil || info.Samples != 100 {
		t.Fatalf("CheckMedia: %+v %v", info, err)
	}
	p := filepath.Join(t.TempDir(), "joined.mp4")
	os.WriteFile(p, append(init, seg...), 0o644)
	return p, top
}

// TestAVCDecodes: ffmpeg decodes the synthetic H.264 without an error, 100 frames of the
// declared size, and the picture has the top row's colours all the way down.
func TestAVCDecodes(t *testing.T) {
	ffmpeg := testenv.Tool(t, "ffmpeg")
	for _, tc := range []struct {
		w, h int
		size int64
	}{{426, 240, 111155}, {640, 360, 300000}, {1920, 1080, 2_000_000}, {416, 234, 72000}} {
		p, top := decodable(t, tc.w, tc.h, tc.size)
		out, err := exec.Command(ffmpeg, "-v", "error", "-xerror", "-i", p, "-f", "rawvideo", "-pix_fmt", "yuv420p", "-").Output()
		if err != nil {
			t.Fatalf("%dx%d: ffmpeg: %v", tc.w, tc.h, err)
		}
		fsize := tc.w*tc.h + 2*((tc.w+1)/2)*((tc.h+1)/2)
		if want := fsize * 100; len(out) != want {
			t.Fatalf("%dx%d: decoded %d bytes, want %d (100 frames)", tc.w, tc.h, len(out), want)
		}
		// Last frame's luma plane, last row: each bar's luma, from the top row down through
		// every P frame.
		frame := out[len(out)-fsize:]
		row := frame[(tc.h-1)*tc.w:]
		for i, c := range top {
			if got := row[i*16+8]; got != c.Y {
				t.Errorf("%dx%d: bar %d luma %d at the bottom, want %d", tc.w, tc.h, i, got, c.Y)
			}
		}
		if got := row[len(top)*16+8]; got != 128 {
			t.Errorf("%dx%d: grey column luma %d, want 128", tc.w, tc.h, got)
		}
	}
}

func TestAVCEscapes(t *testing.T) {
	got := nal(3, 5, []byte{0, 0, 1, 0, 0, 0, 0, 0, 3, 7})
	if want := []byte{0x65, 0, 0, 3, 1, 0, 0, 3, 0, 0, 3, 0, 3, 7}; !bytes.Equal(got, want) {
		t.Errorf("nal = % x, want % x", got, want)
	}
	if !strings.Contains(string(NewAVC(426, 240, 0x4d, 0x40, 0x1e).SPS()[:4]), "\x67\x4d\x40\x1e") {
		t.Error("SPS does not start with its header and profile bytes")
	}
}
