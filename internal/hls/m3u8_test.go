package hls

import (
	"bytes"
	"fmt"
	"reflect"
	"testing"

	"github.com/grafov/m3u8"
)

// These tests cross-check the encoder against an independent decoder,
// github.com/grafov/m3u8, in strict mode.

func TestGrafovDecodesMultivariant(t *testing.T) {
	in := sampleMultivariant()
	pl, typ, err := m3u8.DecodeFrom(bytes.NewReader(in.Bytes()), true)
	if err != nil {
		t.Fatalf("m3u8.DecodeFrom: %v\n%s", err, in.Bytes())
	}
	if typ != m3u8.MASTER {
		t.Fatalf("m3u8 list type = %v, want MASTER", typ)
	}
	mp := pl.(*m3u8.MasterPlaylist)
	type variant struct {
		URI                string
		Bandwidth, AvgBW   int64
		Resolution, Codecs string
		FrameRate          float64
	}
	var got, want []variant
	for _, v := range mp.Variants {
		got = append(got, variant{v.URI, int64(v.Bandwidth), int64(v.AverageBandwidth), v.Resolution, v.Codecs, v.FrameRate})
	}
	for _, v := range in.Variants {
		res := ""
		if v.Width != 0 {
			res = fmt.Sprintf("%dx%d", v.Width, v.Height)
		}
		want = append(want, variant{v.URI, v.Bandwidth, v.AverageBandwidth, res, v.Codecs, v.FrameRate})
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("m3u8 variants differ\ngot:  %+v\nwant: %+v", got, want)
	}
	if mp.IndependentSegments() != in.IndependentSegments {
		t.Errorf("m3u8 IndependentSegments = %v, want %v", mp.IndependentSegments(), in.IndependentSegments)
	}
}

func TestGrafovDecodesMedia(t *testing.T) {
	for _, in := range []*Media{sampleMedia(), func() *Media {
		m, err := ParseMedia(bytes.NewReader(media48()))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}()} {
		pl, typ, err := m3u8.DecodeFrom(bytes.NewReader(in.Bytes()), true)
		if err != nil {
			t.Fatalf("m3u8.DecodeFrom: %v\n%s", err, in.Bytes())
		}
		if typ != m3u8.MEDIA {
			t.Fatalf("m3u8 list type = %v, want MEDIA", typ)
		}
		mp := pl.(*m3u8.MediaPlaylist)
		type segment struct {
			URI            string
			Duration       float64
			Title          string
			Length, Offset int64
		}
		var got, want []segment
		for _, s := range mp.GetAllSegments() {
			got = append(got, segment{s.URI, s.Duration, s.Title, s.Limit, s.Offset})
		}
		for _, s := range in.Segments {
			seg := segment{URI: s.URI, Duration: s.Duration, Title: s.Title}
			if s.ByteRange != nil {
				seg.Length, seg.Offset = s.ByteRange.Length, s.ByteRange.Offset
			}
			want = append(want, seg)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("m3u8 segments differ\ngot:  %+v\nwant: %+v", got, want)
		}
		if mp.SeqNo != uint64(in.MediaSequence) || mp.Closed != in.EndList || int(mp.TargetDuration) != in.TargetDuration {
			t.Errorf("m3u8 SeqNo=%d Closed=%v TargetDuration=%v, want %d %v %d",
				mp.SeqNo, mp.Closed, mp.TargetDuration, in.MediaSequence, in.EndList, in.TargetDuration)
		}
		if mp.Version() != uint8(in.Version) {
			t.Errorf("m3u8 version = %d, want %d", mp.Version(), in.Version)
		}
	}
}
