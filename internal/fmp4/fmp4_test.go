package fmp4

import (
	"bytes"
	"encoding/binary"
	"errors"
	"slices"
	"testing"
)

func TestInitBoxes(t *testing.T) {
	b, err := Init(Track{Width: 1280, Height: 720, Profile: 0x4d, Compat: 0x40, Level: 0x1f})
	if err != nil {
		t.Fatal(err)
	}
	boxes, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := Types(boxes), []string{"ftyp", "moov"}; !slices.Equal(got, want) {
		t.Fatalf("top-level boxes %v, want %v", got, want)
	}
	for _, path := range [][]string{
		{"moov", "mvhd"}, {"moov", "trak", "tkhd"}, {"moov", "trak", "mdia", "mdhd"}, {"moov", "trak", "mdia", "hdlr"},
		{"moov", "trak", "mdia", "minf", "stbl", "stsd"}, {"moov", "mvex", "trex"},
	} {
		if Find(boxes, path...) == nil {
			t.Errorf("no %v", path)
		}
	}
	info, err := CheckInit(b)
	if err != nil {
		t.Fatal(err)
	}
	if info != (InitInfo{Brand: "cmf2", TrackID: 1, Timescale: Timescale, Handler: "vide", Tracks: 1}) {
		t.Errorf("got %+v", info)
	}
	stsd := Find(boxes, "moov", "trak", "mdia", "minf", "stbl", "stsd")
	if i := bytes.Index(stsd.Body, []byte("avcC")); i < 0 || !bytes.Equal(stsd.Body[i+4:i+8], []byte{1, 0x4d, 0x40, 0x1f}) {
		t.Errorf("avcC does not carry avc1.4d401f: % x", stsd.Body)
	}
	if _, err := Init(Track{}); err == nil {
		t.Error("Init of a track without a size: no error")
	}
}

func TestMediaExactSize(t *testing.T) {
	for _, size := range []int64{MediaOverhead(1) + 5, 1000, 2001, 111155, 1 << 21} {
		f := Fragment{Sequence: 7, Start: 12 * Timescale, Duration: 4 * Timescale, Samples: 100, Seed: [32]byte{1}}
		b, err := Media(size, f)
		if err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		if int64(len(b)) != size {
			t.Fatalf("size %d: wrote %d bytes", size, len(b))
		}
		info, err := CheckMedia(b)
		if err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		if info.Sequence != 7 || info.Start != 12*Timescale || info.Fragments != 1 || info.Samples < 1 || info.Samples > 100 {
			t.Errorf("size %d: got %+v", size, info)
		}
		// Every sample is a length-prefixed NAL unit filling the mdat exactly.
		boxes, _ := Parse(b)
		mdat := boxes[len(boxes)-1].Body
		n := 0
		for p := 0; p < len(mdat); n++ {
			l := int(binary.BigEndian.Uint32(mdat[p:]))
			if mdat[p+4] != 0x0c {
				t.Fatalf("size %d: sample %d is NAL type %d", size, n, mdat[p+4]&0x1f)
			}
			p += 4 + l
			if p > len(mdat) {
				t.Fatalf("size %d: sample %d runs past mdat", size, n)
			}
		}
		if n != info.Samples {
			t.Errorf("size %d: %d NAL units, trun says %d samples", size, n, info.Samples)
		}
	}
	if _, err := Media(MediaOverhead(1)+4, Fragment{Duration: 1, Samples: 1}); err == nil {
		t.Error("a segment too small for one sample: no error")
	}
	if _, err := Media(5000, Fragment{Duration: 1}); err == nil {
		t.Error("no samples: no error")
	}
}

func TestMediaDeterministic(t *testing.T) {
	f := Fragment{Sequence: 1, Duration: 360000, Samples: 100, Seed: [32]byte{3}}
	a, _ := Media(50000, f)
	b, _ := Media(50000, f)
	f.Seed[0]++
	c, _ := Media(50000, f)
	if !bytes.Equal(a, b) || bytes.Equal(a, c) {
		t.Error("same seed must give the same bytes, another seed others")
	}
}

func TestCheckRejects(t *testing.T) {
	init, _ := Init(Track{Width: 640, Height: 360})
	media, _ := Media(20000, Fragment{Sequence: 1, Duration: 360000, Samples: 100})
	cut := func(b []byte, n int) []byte { return slices.Clone(b[:len(b)-n]) }
	noMvex := func() []byte {
		boxes, _ := Parse(init)
		mvex := Find(boxes, "moov", "mvex")
		b := slices.Clone(init)
		copy(b[mvex.Offset+4:], "free")
		return b
	}()
	offsetPastMdat := func() []byte {
		b := slices.Clone(media)
		boxes, _ := Parse(b)
		trun := Find(boxes, "moof", "traf", "trun")
		binary.BigEndian.PutUint32(b[trun.Offset+16:], uint32(len(b)))
		return b
	}()
	for _, tc := range []struct {
		name string
		b    []byte
		init bool
	}{
		{"empty init", nil, true},
		{"truncated init", cut(init, 3), true},
		{"init without mvex", noMvex, true},
		{"media as init", media, true},
		{"empty media", nil, false},
		{"truncated media", cut(media, 1), false},
		{"init as media", init, false},
		{"trun past mdat", offsetPastMdat, false},
		{"zero size box", []byte{0, 0, 0, 4, 'm', 'o', 'o', 'f'}, false},
		{"huge 64-bit size", []byte{0, 0, 0, 1, 'm', 'd', 'a', 't', 0xff, 0, 0, 0, 0, 0, 0, 0}, false},
	} {
		var err error
		if tc.init {
			_, err = CheckInit(tc.b)
		} else {
			_, err = CheckMedia(tc.b)
		}
		if err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
	if _, err := Parse(cut(media, 1)); !errors.Is(err, ErrShort) {
		t.Errorf("truncated: %v, want ErrShort", err)
	}
}

// FuzzCheck feeds arbitrary bytes to the parsers: they must not panic, and an accepted media
// segment's samples lie inside its length.
func FuzzCheck(f *testing.F) {
	init, _ := Init(Track{Width: 640, Height: 360})
	media, _ := Media(3000, Fragment{Sequence: 1, Duration: 360000, Samples: 10})
	f.Add(init)
	f.Add(media)
	f.Add(append(slices.Clone(init), media...))
	f.Fuzz(func(t *testing.T, b []byte) {
		boxes, err := Parse(b)
		if err == nil {
			var total int64
			for _, bx := range boxes {
				total += bx.Size
			}
			if total != int64(len(b)) {
				t.Fatalf("boxes cover %d of %d bytes", total, len(b))
			}
		}
		CheckInit(b)
		CheckMedia(b)
	})
}
