package hls

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

func sampleMultivariant() *Multivariant {
	return &Multivariant{
		Version:             7,
		IndependentSegments: true,
		Steering:            &ContentSteering{ServerURI: "https://steer.example.com/v1/steering?video=42", PathwayID: "cdn-a"},
		Variants: []Variant{
			{URI: "360p/index.m3u8", Bandwidth: 900000, AverageBandwidth: 750000, Width: 640, Height: 360,
				Codecs: "avc1.4d401e,mp4a.40.2", FrameRate: 29.97, PathwayID: "cdn-a"},
			{URI: "720p/index.m3u8", Bandwidth: 3000000, Width: 1280, Height: 720,
				Codecs: "avc1.64001f,mp4a.40.2", FrameRate: 30},
			{URI: "https://b.example.com/1080p/index.m3u8?token=a,b", Bandwidth: 6500000, AverageBandwidth: 5000000,
				Width: 1920, Height: 1080, Codecs: "avc1.640028,mp4a.40.2", FrameRate: 59.94, PathwayID: "cdn-b"},
			{URI: "audio/index.m3u8", Bandwidth: 128000},
		},
	}
}

func sampleMedia() *Media {
	return &Media{
		Version:             4,
		TargetDuration:      5,
		MediaSequence:       17,
		PlaylistType:        "VOD",
		IndependentSegments: true,
		Segments: []Segment{
			{URI: "seg0.ts", Duration: 4.004, Title: "first, with a comma"},
			{URI: "seg1.ts", Duration: 4.5},
			{URI: "https://cdn.example.com/all.mp4", Duration: 4, ByteRange: &ByteRange{Length: 1000, Offset: 0}},
			{URI: "https://cdn.example.com/all.mp4", Duration: 0.1, ByteRange: &ByteRange{Length: 500, Offset: 1000}},
			{URI: "seg4.ts", Duration: 0, Title: "zéro"},
		},
		EndList: true,
	}
}

func TestRoundTripMultivariant(t *testing.T) {
	tests := []struct {
		name string
		in   *Multivariant
	}{
		{"full", sampleMultivariant()},
		{"minimal", &Multivariant{Variants: []Variant{{URI: "a.m3u8", Bandwidth: 1}}}},
		{"steering without pathway", &Multivariant{
			Steering: &ContentSteering{ServerURI: "/steer"},
			Variants: []Variant{{URI: "a.m3u8", Bandwidth: 1, PathwayID: "A_1.x-y"}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := tt.in.Encode(&buf); err != nil {
				t.Fatalf("Encode: %v", err)
			}
			if b := tt.in.Bytes(); !bytes.Equal(b, buf.Bytes()) {
				t.Errorf("Bytes() = %q, Encode wrote %q", b, buf.Bytes())
			}
			got, err := ParseMultivariant(bytes.NewReader(buf.Bytes()))
			if err != nil {
				t.Fatalf("ParseMultivariant: %v\n%s", err, buf.Bytes())
			}
			if !reflect.DeepEqual(got, tt.in) {
				t.Errorf("round trip mismatch\ngot:  %+v\nwant: %+v\nplaylist:\n%s", got, tt.in, buf.Bytes())
			}
			mv, m, err := Parse(bytes.NewReader(buf.Bytes()))
			if err != nil || m != nil || !reflect.DeepEqual(mv, tt.in) {
				t.Errorf("Parse = %+v, %+v, %v; want %+v, nil, nil", mv, m, err, tt.in)
			}
		})
	}
}

func TestRoundTripMedia(t *testing.T) {
	tests := []struct {
		name string
		in   *Media
	}{
		{"full", sampleMedia()},
		{"live, no segments", &Media{TargetDuration: 6}},
		{"event", &Media{TargetDuration: 10, PlaylistType: "EVENT", Segments: []Segment{{URI: "a.ts", Duration: 9.5}}}},
		{"long precise duration", &Media{TargetDuration: 7, Segments: []Segment{{URI: "a.ts", Duration: 6.006006006006006}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := tt.in.Encode(&buf); err != nil {
				t.Fatalf("Encode: %v", err)
			}
			if b := tt.in.Bytes(); !bytes.Equal(b, buf.Bytes()) {
				t.Errorf("Bytes() = %q, Encode wrote %q", b, buf.Bytes())
			}
			got, err := ParseMedia(bytes.NewReader(buf.Bytes()))
			if err != nil {
				t.Fatalf("ParseMedia: %v\n%s", err, buf.Bytes())
			}
			if !reflect.DeepEqual(got, tt.in) {
				t.Errorf("round trip mismatch\ngot:  %+v\nwant: %+v\nplaylist:\n%s", got, tt.in, buf.Bytes())
			}
			mv, m, err := Parse(bytes.NewReader(buf.Bytes()))
			if err != nil || mv != nil || !reflect.DeepEqual(m, tt.in) {
				t.Errorf("Parse = %+v, %+v, %v; want nil, %+v, nil", mv, m, err, tt.in)
			}
		})
	}
}

func TestVariantNameNotEncoded(t *testing.T) {
	in := &Multivariant{Variants: []Variant{{URI: "720p/index.m3u8", Bandwidth: 1, Name: "720p"}}}
	got, err := ParseMultivariant(bytes.NewReader(in.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if got.Variants[0].Name != "" {
		t.Errorf("parsed Name = %q, want \"\"", got.Variants[0].Name)
	}
}

func TestEncodeMediaTargetDuration(t *testing.T) {
	tests := []struct {
		name      string
		target    int
		durations []float64
		want      string // the EXT-X-TARGETDURATION line, "" = error
	}{
		{"computed ceil", 0, []float64{4, 4.004, 3.5}, "#EXT-X-TARGETDURATION:5"},
		{"computed exact", 0, []float64{6, 6}, "#EXT-X-TARGETDURATION:6"},
		{"computed no segments", 0, nil, "#EXT-X-TARGETDURATION:1"},
		{"computed tiny", 0, []float64{0.2}, "#EXT-X-TARGETDURATION:1"},
		{"explicit rounds down", 4, []float64{4.4}, "#EXT-X-TARGETDURATION:4"},
		{"explicit larger", 10, []float64{4}, "#EXT-X-TARGETDURATION:10"},
		{"explicit too small", 4, []float64{4.5}, ""},
		{"negative", -1, []float64{1}, ""},
		{"absurd", maxTargetDur + 1, []float64{1}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &Media{TargetDuration: tt.target}
			for i, d := range tt.durations {
				m.Segments = append(m.Segments, Segment{URI: fmt.Sprintf("s%d.ts", i), Duration: d})
			}
			var buf bytes.Buffer
			err := m.Encode(&buf)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("Encode succeeded, want error:\n%s", buf.Bytes())
				}
				if buf.Len() != 0 || m.Bytes() != nil {
					t.Errorf("failed Encode wrote %q / Bytes() non-nil", buf.Bytes())
				}
				return
			}
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			if got := strings.Split(buf.String(), "\n")[1]; got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestEncodeErrors(t *testing.T) {
	mv := func(f func(*Multivariant)) *Multivariant { m := sampleMultivariant(); f(m); return m }
	md := func(f func(*Media)) *Media { m := sampleMedia(); f(m); return m }
	tests := []struct {
		name string
		enc  interface{ Bytes() []byte }
		want string // substring of the error
	}{
		{"nil multivariant", (*Multivariant)(nil), "nil"},
		{"no variants", &Multivariant{}, "no variants"},
		{"uri newline", mv(func(m *Multivariant) { m.Variants[1].URI = "a.m3u8\n#EXT-X-ENDLIST" }), "Variants[1]"},
		{"uri empty", mv(func(m *Multivariant) { m.Variants[0].URI = "" }), "empty URI"},
		{"uri hash", mv(func(m *Multivariant) { m.Variants[0].URI = "#x" }), "starts with '#'"},
		{"uri space", mv(func(m *Multivariant) { m.Variants[0].URI = " a" }), "space"},
		{"codecs quote", mv(func(m *Multivariant) { m.Variants[0].Codecs = `avc1",X="` }), "double quote"},
		{"negative bandwidth", mv(func(m *Multivariant) { m.Variants[0].Bandwidth = -1 }), "BANDWIDTH"},
		{"zero bandwidth", mv(func(m *Multivariant) { m.Variants[0].Bandwidth = 0 }), "BANDWIDTH"},
		{"negative average", mv(func(m *Multivariant) { m.Variants[0].AverageBandwidth = -5 }), "AVERAGE-BANDWIDTH"},
		{"half resolution", mv(func(m *Multivariant) { m.Variants[0].Height = 0 }), "RESOLUTION"},
		{"nan frame rate", mv(func(m *Multivariant) { m.Variants[0].FrameRate = math.NaN() }), "FRAME-RATE"},
		{"bad pathway", mv(func(m *Multivariant) { m.Variants[0].PathwayID = "a b" }), "PATHWAY-ID"},
		{"steering no uri", mv(func(m *Multivariant) { m.Steering.ServerURI = "" }), "SERVER-URI"},
		{"steering quote", mv(func(m *Multivariant) { m.Steering.ServerURI = `a"b` }), "SERVER-URI"},
		{"bad version", mv(func(m *Multivariant) { m.Version = -1 }), "EXT-X-VERSION"},
		{"nil media", (*Media)(nil), "nil"},
		{"negative duration", md(func(m *Media) { m.Segments[0].Duration = -1 }), "Segments[0]"},
		{"negative zero duration", md(func(m *Media) { m.Segments[0].Duration = math.Copysign(0, -1) }), "duration"},
		{"nan duration", md(func(m *Media) { m.Segments[1].Duration = math.NaN() }), "duration"},
		{"inf duration", md(func(m *Media) { m.Segments[1].Duration = math.Inf(1) }), "duration"},
		{"segment uri newline", md(func(m *Media) { m.Segments[2].URI = "a\r\nb" }), "Segments[2]"},
		{"title newline", md(func(m *Media) { m.Segments[0].Title = "a\nb" }), "title"},
		{"title trailing space", md(func(m *Media) { m.Segments[0].Title = "a " }), "title"},
		{"bad byte range", md(func(m *Media) { m.Segments[2].ByteRange.Length = 0 }), "byte range"},
		{"negative offset", md(func(m *Media) { m.Segments[2].ByteRange.Offset = -1 }), "byte range"},
		{"playlist type", md(func(m *Media) { m.PlaylistType = "LIVE" }), "EXT-X-PLAYLIST-TYPE"},
		{"negative sequence", md(func(m *Media) { m.MediaSequence = -1 }), "EXT-X-MEDIA-SEQUENCE"},
		{"target too small", md(func(m *Media) { m.TargetDuration = 3 }), "EXT-X-TARGETDURATION"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			switch e := tt.enc.(type) {
			case *Multivariant:
				err = e.Encode(&bytes.Buffer{})
			case *Media:
				err = e.Encode(&bytes.Buffer{})
			}
			if err == nil {
				t.Fatalf("Encode succeeded, want error containing %q", tt.want)
			}
			if !strings.HasPrefix(err.Error(), "hls: ") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want prefix \"hls: \" and %q", err, tt.want)
			}
			if b := tt.enc.Bytes(); b != nil {
				t.Errorf("Bytes() = %q, want nil", b)
			}
		})
	}
}

func TestEncodeWriteError(t *testing.T) {
	werr := errors.New("disk full")
	if err := sampleMedia().Encode(errWriter{werr}); !errors.Is(err, werr) {
		t.Errorf("Media.Encode error = %v, want %v", err, werr)
	}
	if err := sampleMultivariant().Encode(errWriter{werr}); !errors.Is(err, werr) {
		t.Errorf("Multivariant.Encode error = %v, want %v", err, werr)
	}
}

type errWriter struct{ err error }

func (w errWriter) Write([]byte) (int, error) { return 0, w.err }

// Real-world playlists.

const rfcSimpleMedia = `#EXTM3U
#EXT-X-TARGETDURATION:10
#EXT-X-VERSION:3
#EXTINF:9.009,
http://media.example.com/first.ts
#EXTINF:9.009,
http://media.example.com/second.ts
#EXTINF:3.003,
http://media.example.com/third.ts
#EXT-X-ENDLIST
`

const rfcEncryptedMedia = `#EXTM3U
#EXT-X-VERSION:3
#EXT-X-MEDIA-SEQUENCE:7794
#EXT-X-TARGETDURATION:15

#EXT-X-KEY:METHOD=AES-128,URI="https://priv.example.com/key.php?r=52"

#EXTINF:2.833,
http://media.example.com/fileSequence52-A.ts
#EXTINF:15.0,
http://media.example.com/fileSequence52-B.ts
#EXTINF:13.333,
http://media.example.com/fileSequence52-C.ts

#EXT-X-KEY:METHOD=AES-128,URI="https://priv.example.com/key.php?r=53"

#EXTINF:15.0,
http://media.example.com/fileSequence53-A.ts
`

const rfcMultivariant = `#EXTM3U
#EXT-X-STREAM-INF:BANDWIDTH=1280000,AVERAGE-BANDWIDTH=1000000
http://example.com/low.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=2560000,AVERAGE-BANDWIDTH=2000000
http://example.com/mid.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=7680000,AVERAGE-BANDWIDTH=6000000
http://example.com/hi.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=65000,CODECS="mp4a.40.5"
http://example.com/audio-only.m3u8
`

const rfcAlternativeAudio = `#EXTM3U
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aac",LANGUAGE="en",NAME="English",DEFAULT=YES,AUTOSELECT=YES,URI="main/english-audio.m3u8"
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aac",LANGUAGE="de",NAME="Deutsch",DEFAULT=NO,AUTOSELECT=YES,URI="main/german-audio.m3u8"
#EXT-X-STREAM-INF:BANDWIDTH=1280000,CODECS="avc1.4d401e,mp4a.40.2",AUDIO="aac"
low/video-only.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=65000,CODECS="mp4a.40.5",AUDIO="aac"
main/english-audio.m3u8
`

// ffmpeg -f hls -hls_time 4 -hls_playlist_type vod, with CRLF line ends and
// a BOM added by a Windows editor.
const ffmpegMedia = "\ufeff#EXTM3U\r\n#EXT-X-VERSION:3\r\n#EXT-X-TARGETDURATION:4\r\n#EXT-X-MEDIA-SEQUENCE:0\r\n" +
	"#EXT-X-PLAYLIST-TYPE:VOD\r\n#EXTINF:4.000000,\r\nstream0.ts\r\n#EXTINF:4.000000,\r\nstream1.ts\r\n" +
	"#EXTINF:3.960000,\r\nstream2.ts\r\n#EXTINF:1.120000,\r\nstream3.ts\r\n#EXT-X-ENDLIST\r\n"

// A content-steering multivariant playlist in the style of rfc8216bis.
const steeringMultivariant = `#EXTM3U
#EXT-X-VERSION:6
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-CONTENT-STEERING:SERVER-URI="https://steer.example.com/steering?video=00012",PATHWAY-ID="CDN-A"
#EXT-X-STREAM-INF:BANDWIDTH=1280000,RESOLUTION=640x360,FRAME-RATE=25.000,CODECS="avc1.4d401e,mp4a.40.2",PATHWAY-ID="CDN-A"
https://a.example.com/360p/index.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=1280000,RESOLUTION=640x360,FRAME-RATE=25.000,CODECS="avc1.4d401e,mp4a.40.2",PATHWAY-ID="CDN-B"
https://b.example.com/360p/index.m3u8
#EXT-X-UNKNOWN-FUTURE-TAG:X=1
# a comment
`

func TestParseRealWorld(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		wantMV *Multivariant
		wantM  *Media
	}{
		{"rfc8216 8.1 simple media", rfcSimpleMedia, nil, &Media{
			Version: 3, TargetDuration: 10, EndList: true,
			Segments: []Segment{
				{URI: "http://media.example.com/first.ts", Duration: 9.009},
				{URI: "http://media.example.com/second.ts", Duration: 9.009},
				{URI: "http://media.example.com/third.ts", Duration: 3.003},
			},
		}},
		{"rfc8216 8.3 encrypted media", rfcEncryptedMedia, nil, &Media{
			Version: 3, TargetDuration: 15, MediaSequence: 7794,
			Segments: []Segment{
				{URI: "http://media.example.com/fileSequence52-A.ts", Duration: 2.833},
				{URI: "http://media.example.com/fileSequence52-B.ts", Duration: 15},
				{URI: "http://media.example.com/fileSequence52-C.ts", Duration: 13.333},
				{URI: "http://media.example.com/fileSequence53-A.ts", Duration: 15},
			},
		}},
		{"rfc8216 8.4 multivariant", rfcMultivariant, &Multivariant{Variants: []Variant{
			{URI: "http://example.com/low.m3u8", Bandwidth: 1280000, AverageBandwidth: 1000000},
			{URI: "http://example.com/mid.m3u8", Bandwidth: 2560000, AverageBandwidth: 2000000},
			{URI: "http://example.com/hi.m3u8", Bandwidth: 7680000, AverageBandwidth: 6000000},
			{URI: "http://example.com/audio-only.m3u8", Bandwidth: 65000, Codecs: "mp4a.40.5"},
		}}, nil},
		{"rfc8216 8.6 alternative audio", rfcAlternativeAudio, &Multivariant{Variants: []Variant{
			{URI: "low/video-only.m3u8", Bandwidth: 1280000, Codecs: "avc1.4d401e,mp4a.40.2"},
			{URI: "main/english-audio.m3u8", Bandwidth: 65000, Codecs: "mp4a.40.5"},
		}}, nil},
		{"ffmpeg vod", ffmpegMedia, nil, &Media{
			Version: 3, TargetDuration: 4, PlaylistType: "VOD", EndList: true,
			Segments: []Segment{
				{URI: "stream0.ts", Duration: 4}, {URI: "stream1.ts", Duration: 4},
				{URI: "stream2.ts", Duration: 3.96}, {URI: "stream3.ts", Duration: 1.12},
			},
		}},
		{"content steering", steeringMultivariant, &Multivariant{
			Version: 6, IndependentSegments: true,
			Steering: &ContentSteering{ServerURI: "https://steer.example.com/steering?video=00012", PathwayID: "CDN-A"},
			Variants: []Variant{
				{URI: "https://a.example.com/360p/index.m3u8", Bandwidth: 1280000, Width: 640, Height: 360, FrameRate: 25,
					Codecs: "avc1.4d401e,mp4a.40.2", PathwayID: "CDN-A"},
				{URI: "https://b.example.com/360p/index.m3u8", Bandwidth: 1280000, Width: 640, Height: 360, FrameRate: 25,
					Codecs: "avc1.4d401e,mp4a.40.2", PathwayID: "CDN-B"},
			},
		}, nil},
		{"byte ranges with implied offset", "#EXTM3U\n#EXT-X-VERSION:4\n#EXT-X-TARGETDURATION:6\n" +
			"#EXTINF:6,\n#EXT-X-BYTERANGE:1000@200\nmain.mp4\n#EXT-X-BYTERANGE:500\n#EXTINF:5.5,\nmain.mp4\n",
			nil, &Media{Version: 4, TargetDuration: 6, Segments: []Segment{
				{URI: "main.mp4", Duration: 6, ByteRange: &ByteRange{Length: 1000, Offset: 200}},
				{URI: "main.mp4", Duration: 5.5, ByteRange: &ByteRange{Length: 500, Offset: 1200}},
			}}},
		{"titles, missing comma, lenient spacing", "#EXTM3U \n#EXT-X-TARGETDURATION:3\n#EXTINF:2.5, Intro, part 1  \n  a.ts  \n" +
			"#EXTINF:3\nb.ts\n#EXT-X-DISCONTINUITY\n#EXTINF:1,\n#EXT-X-PROGRAM-DATE-TIME:2024-01-01T00:00:00Z\nc.ts\n#EXT-X-ENDLIST",
			nil, &Media{TargetDuration: 3, EndList: true, Segments: []Segment{
				{URI: "a.ts", Duration: 2.5, Title: " Intro, part 1"},
				{URI: "b.ts", Duration: 3},
				{URI: "c.ts", Duration: 1},
			}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mv, m, err := Parse(strings.NewReader(tt.in))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !reflect.DeepEqual(mv, tt.wantMV) || !reflect.DeepEqual(m, tt.wantM) {
				t.Errorf("Parse mismatch\ngot:  %+v %+v\nwant: %+v %+v", mv, m, tt.wantMV, tt.wantM)
			}
			if tt.wantM != nil {
				got, err := ParseMedia(strings.NewReader(tt.in))
				if err != nil || !reflect.DeepEqual(got, tt.wantM) {
					t.Errorf("ParseMedia = %+v, %v; want %+v", got, err, tt.wantM)
				}
				if _, err := ParseMultivariant(strings.NewReader(tt.in)); err == nil {
					t.Errorf("ParseMultivariant of a media playlist succeeded")
				}
			} else {
				got, err := ParseMultivariant(strings.NewReader(tt.in))
				if err != nil || !reflect.DeepEqual(got, tt.wantMV) {
					t.Errorf("ParseMultivariant = %+v, %v; want %+v", got, err, tt.wantMV)
				}
				if _, err := ParseMedia(strings.NewReader(tt.in)); err == nil {
					t.Errorf("ParseMedia of a multivariant playlist succeeded")
				}
			}
		})
	}
}

func TestParseMalformed(t *testing.T) {
	const mh = "#EXTM3U\n#EXT-X-TARGETDURATION:4\n" // media header, lines 1-2
	const sv = "#EXTM3U\n#EXT-X-STREAM-INF:"        // multivariant, stream-inf on line 2
	tests := []struct {
		name, in string
		want     string // exact error, or a substring if it starts with "~"
	}{
		{"empty", "", "hls: empty playlist"},
		{"no header", "#EXT-X-TARGETDURATION:4\n", `hls: line 1: missing #EXTM3U header, got "#EXT-X-TARGETDURATION:4"`},
		{"binary garbage", "\x00\x01\x02PK\x03\x04", "~line 1: missing #EXTM3U header"},
		{"html error page", "<html><body>502 Bad Gateway</body></html>", "~line 1: missing #EXTM3U header"},
		{"blank line first", "\n#EXTM3U\n", "~line 1: missing #EXTM3U header"},
		{"header only", "#EXTM3U\n", "hls: neither a multivariant nor a media playlist (no EXT-X-STREAM-INF or EXT-X-TARGETDURATION)"},
		{"bad duration", mh + "#EXTINF:4,\na.ts\n#EXT-X-DISCONTINUITY\n#EXTINF:1,\nb.ts\n#EXTINF:abc,\nc.ts\n", `hls: line 8: EXTINF: bad duration "abc"`},
		{"negative duration", mh + "#EXTINF:-1,\na.ts\n", `hls: line 3: EXTINF: bad duration "-1"`},
		{"nan duration", mh + "#EXTINF:NaN,\na.ts\n", `hls: line 3: EXTINF: bad duration "NaN"`},
		{"inf duration", mh + "#EXTINF:+Inf,\na.ts\n", `hls: line 3: EXTINF: bad duration "+Inf"`},
		{"exponent duration", mh + "#EXTINF:1e3,\na.ts\n", `hls: line 3: EXTINF: bad duration "1e3"`},
		{"huge duration", mh + "#EXTINF:99999999,\na.ts\n", "~line 3: EXTINF: duration 9.9999999e+07 out of range"},
		{"empty EXTINF", mh + "#EXTINF:\na.ts\n", "hls: line 3: EXTINF: missing value"},
		{"EXTINF without URI", mh + "#EXTINF:4,\n", "hls: line 3: EXTINF: not followed by a URI line"},
		{"EXTINF twice", mh + "#EXTINF:4,\n#EXTINF:4,\na.ts\n", "hls: line 4: EXTINF: previous EXTINF on line 3 has no URI"},
		{"URI without EXTINF", mh + "a.ts\n", `hls: line 3: URI "a.ts" not preceded by EXTINF or EXT-X-STREAM-INF`},
		{"no target duration", "#EXTM3U\n#EXTINF:4,\na.ts\n", "hls: media playlist has no EXT-X-TARGETDURATION"},
		{"target duration too small", mh + "#EXTINF:4,\na.ts\n#EXTINF:4.6,\nb.ts\n", "hls: line 5: EXTINF: duration 4.6 rounds to 5, above EXT-X-TARGETDURATION 4 (line 2)"},
		{"target duration zero", "#EXTM3U\n#EXT-X-TARGETDURATION:0\n", "hls: line 2: EXT-X-TARGETDURATION: 0 out of range [1, 86400]"},
		{"target duration float", "#EXTM3U\n#EXT-X-TARGETDURATION:4.5\n", `hls: line 2: EXT-X-TARGETDURATION: bad duration "4.5"`},
		{"duplicate target duration", mh + "#EXT-X-TARGETDURATION:4\n", "hls: line 3: EXT-X-TARGETDURATION: duplicate tag"},
		{"media sequence overflow", mh + "#EXT-X-MEDIA-SEQUENCE:9223372036854775808\n", `hls: line 3: EXT-X-MEDIA-SEQUENCE: bad sequence number "9223372036854775808"`},
		{"media sequence after segment", mh + "#EXTINF:4,\na.ts\n#EXT-X-MEDIA-SEQUENCE:3\n", "hls: line 5: EXT-X-MEDIA-SEQUENCE: must appear before the first segment"},
		{"playlist type", mh + "#EXT-X-PLAYLIST-TYPE:LIVE\n", `hls: line 3: EXT-X-PLAYLIST-TYPE: EXT-X-PLAYLIST-TYPE "LIVE" is not VOD or EVENT`},
		{"endlist with value", mh + "#EXT-X-ENDLIST:YES\n", `hls: line 3: EXT-X-ENDLIST: unexpected value "YES"`},
		{"version zero", mh + "#EXT-X-VERSION:0\n", `hls: line 3: EXT-X-VERSION: bad version "0"`},
		{"duplicate version", "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-VERSION:3\n", "hls: line 3: EXT-X-VERSION: duplicate tag"},
		{"byterange garbage", mh + "#EXTINF:4,\n#EXT-X-BYTERANGE:12@x\na.ts\n", `hls: line 4: EXT-X-BYTERANGE: bad offset "x"`},
		{"byterange zero", mh + "#EXTINF:4,\n#EXT-X-BYTERANGE:0@0\na.ts\n", "hls: line 4: EXT-X-BYTERANGE: byte range length 0 is not positive"},
		{"byterange overflow", mh + "#EXTINF:4,\n#EXT-X-BYTERANGE:9223372036854775807@1\na.ts\n", "~EXT-X-BYTERANGE: byte range offset 1 out of range"},
		{"byterange no previous", mh + "#EXTINF:4,\n#EXT-X-BYTERANGE:100\na.ts\n", `hls: line 4: EXT-X-BYTERANGE: no offset and the previous segment is not a sub-range of "a.ts"`},
		{"byterange without EXTINF", mh + "#EXT-X-BYTERANGE:100@0\na.ts\n", "hls: line 3: EXT-X-BYTERANGE: segment URI on line 4 has no EXTINF"},
		{"control character", mh + "#EXTINF:4,ti\x00tle\na.ts\n", `hls: line 3: control character '\x00' at byte 12`},
		{"tab", mh + "#EXTINF:4,\na\t.ts\n", `hls: line 4: control character '\t' at byte 1`},
		{"invalid utf8", mh + "#EXTINF:4,\xff\na.ts\n", "hls: line 3: invalid UTF-8 at byte 10"},
		{"c1 control", mh + "#EXTINF:4,\u0085\na.ts\n", "hls: line 3: control character U+0085 at byte 10"},
		{"bare CR line end", "#EXTM3U\r#EXT-X-TARGETDURATION:4\r", `~line 1: missing #EXTM3U header`},
		{"duplicate header", mh + "#EXTM3U\n", "hls: line 3: EXTM3U: duplicate header"},
		{"no variants", "#EXTM3U\n#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"a\",NAME=\"x\"\n", "hls: multivariant playlist has no EXT-X-STREAM-INF variants"},
		{"stream-inf without URI", sv + "BANDWIDTH=1\n", "hls: line 2: EXT-X-STREAM-INF: not followed by a URI line"},
		{"stream-inf then tag", sv + "BANDWIDTH=1\n#EXT-X-STREAM-INF:BANDWIDTH=2\na.m3u8\n", `hls: line 2: EXT-X-STREAM-INF: not followed by a URI line (found "EXT-X-STREAM-INF" on line 3)`},
		{"missing bandwidth", sv + "CODECS=\"avc1\"\na.m3u8\n", "hls: line 2: EXT-X-STREAM-INF: missing BANDWIDTH"},
		{"zero bandwidth", sv + "BANDWIDTH=0\na.m3u8\n", "hls: line 2: EXT-X-STREAM-INF: BANDWIDTH 0 out of range [1, 1099511627776]"},
		{"absurd bandwidth", sv + "BANDWIDTH=99999999999999999\na.m3u8\n", "~BANDWIDTH 99999999999999999 out of range"},
		{"negative bandwidth", sv + "BANDWIDTH=-1\na.m3u8\n", `hls: line 2: EXT-X-STREAM-INF: bad BANDWIDTH "-1"`},
		{"quoted bandwidth", sv + "BANDWIDTH=\"1\"\na.m3u8\n", "hls: line 2: EXT-X-STREAM-INF: BANDWIDTH must not be quoted"},
		{"unquoted codecs", sv + "BANDWIDTH=1,CODECS=avc1\na.m3u8\n", "hls: line 2: EXT-X-STREAM-INF: CODECS must be a quoted string"},
		{"unterminated quote", sv + "BANDWIDTH=1,CODECS=\"avc1,mp4a\na.m3u8\n", "hls: line 2: EXT-X-STREAM-INF: CODECS: unterminated quoted string"},
		{"junk after quote", sv + "BANDWIDTH=1,CODECS=\"avc1\"x\na.m3u8\n", `hls: line 2: EXT-X-STREAM-INF: CODECS: unexpected "x" after quoted string`},
		{"duplicate attribute", sv + "BANDWIDTH=1,BANDWIDTH=2\na.m3u8\n", "hls: line 2: EXT-X-STREAM-INF: duplicate attribute BANDWIDTH"},
		{"trailing comma", sv + "BANDWIDTH=1,\na.m3u8\n", "hls: line 2: EXT-X-STREAM-INF: trailing comma"},
		{"lower-case attribute", sv + "bandwidth=1\na.m3u8\n", `hls: line 2: EXT-X-STREAM-INF: bad attribute name at "bandwidth=1"`},
		{"attribute without value", sv + "BANDWIDTH\na.m3u8\n", `hls: line 2: EXT-X-STREAM-INF: attribute "BANDWIDTH" has no value`},
		{"empty attribute value", sv + "BANDWIDTH=1,AUDIO=\na.m3u8\n", "hls: line 2: EXT-X-STREAM-INF: AUDIO: empty value"},
		{"bad resolution", sv + "BANDWIDTH=1,RESOLUTION=1920*1080\na.m3u8\n", `hls: line 2: EXT-X-STREAM-INF: bad RESOLUTION "1920*1080"`},
		{"absurd resolution", sv + "BANDWIDTH=1,RESOLUTION=100000x100000\na.m3u8\n", `hls: line 2: EXT-X-STREAM-INF: bad RESOLUTION "100000x100000"`},
		{"absurd frame rate", sv + "BANDWIDTH=1,FRAME-RATE=100000\na.m3u8\n", "~FRAME-RATE 100000 out of range"},
		{"bad pathway", sv + "BANDWIDTH=1,PATHWAY-ID=\"a/b\"\na.m3u8\n", `hls: line 2: EXT-X-STREAM-INF: PATHWAY-ID "a/b" has invalid character '/'`},
		{"steering without uri", "#EXTM3U\n#EXT-X-CONTENT-STEERING:PATHWAY-ID=\"A\"\n#EXT-X-STREAM-INF:BANDWIDTH=1\na.m3u8\n", "hls: line 2: EXT-X-CONTENT-STEERING: missing SERVER-URI"},
		{"too many attributes", sv + "BANDWIDTH=1" + manyAttrs(64) + "\na.m3u8\n", "~more than 64 attributes"},
		{"mixed kinds", sv + "BANDWIDTH=1\na.m3u8\n#EXTINF:4,\nb.ts\n", "hls: line 4: EXTINF: media playlist tag in a multivariant playlist"},
		{"mixed kinds media first", mh + "#EXT-X-STREAM-INF:BANDWIDTH=1\na.m3u8\n", "hls: line 3: EXT-X-STREAM-INF: multivariant playlist tag in a media playlist"},
		{"URI before any tag", "#EXTM3U\na.ts\n", `hls: line 2: URI "a.ts" not preceded by EXTINF or EXT-X-STREAM-INF`},
		{"too many lines", "#EXTM3U\n" + strings.Repeat("\n", maxLines), "hls: playlist has more than 524288 lines"},
		{"too large", "#EXTM3U\n#" + strings.Repeat("x", MaxPlaylistBytes), "hls: playlist larger than 4194304 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mv, m, err := Parse(strings.NewReader(tt.in))
			if err == nil {
				t.Fatalf("Parse succeeded: %+v %+v", mv, m)
			}
			if mv != nil || m != nil {
				t.Errorf("Parse returned %+v %+v with error", mv, m)
			}
			got := err.Error()
			if sub, ok := strings.CutPrefix(tt.want, "~"); ok {
				if !strings.HasPrefix(got, "hls: ") || !strings.Contains(got, sub) {
					t.Errorf("error %q, want it to contain %q", got, sub)
				}
			} else if got != tt.want {
				t.Errorf("error\ngot:  %s\nwant: %s", got, tt.want)
			}
		})
	}
}

func manyAttrs(n int) string {
	var sb strings.Builder
	for i := range n {
		fmt.Fprintf(&sb, ",X-%d=%d", i, i)
	}
	return sb.String()
}

func TestParseWrongKind(t *testing.T) {
	if _, err := ParseMedia(strings.NewReader(rfcMultivariant)); err == nil ||
		err.Error() != "hls: line 2: EXT-X-STREAM-INF: multivariant playlist tag in a media playlist" {
		t.Errorf("ParseMedia(multivariant) error = %v", err)
	}
	if _, err := ParseMultivariant(strings.NewReader(rfcSimpleMedia)); err == nil ||
		err.Error() != "hls: line 2: EXT-X-TARGETDURATION: media playlist tag in a multivariant playlist" {
		t.Errorf("ParseMultivariant(media) error = %v", err)
	}
	if _, err := ParseMedia(strings.NewReader("#EXTM3U\n")); err == nil ||
		err.Error() != "hls: media playlist has no EXT-X-TARGETDURATION" {
		t.Errorf("ParseMedia(header only) error = %v", err)
	}
	if _, err := ParseMultivariant(strings.NewReader("#EXTM3U\n")); err == nil ||
		err.Error() != "hls: multivariant playlist has no EXT-X-STREAM-INF variants" {
		t.Errorf("ParseMultivariant(header only) error = %v", err)
	}
}

func TestParseReadError(t *testing.T) {
	rerr := errors.New("connection reset")
	_, _, err := Parse(iotest.ErrReader(rerr))
	if !errors.Is(err, rerr) || !strings.HasPrefix(err.Error(), "hls: ") {
		t.Errorf("Parse error = %v, want wrapped %v", err, rerr)
	}
	if _, _, err := Parse(nil); err == nil {
		t.Error("Parse(nil) succeeded")
	}
}

// TestParseSizeLimit checks that the parser does not read past the limit of
// an endless (hostile) stream.
func TestParseSizeLimit(t *testing.T) {
	r := &countingReader{}
	_, _, err := Parse(r)
	if err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("Parse error = %v", err)
	}
	if r.n > MaxPlaylistBytes+64<<10 {
		t.Errorf("read %d bytes, want about %d", r.n, MaxPlaylistBytes)
	}
	exact := "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#"
	exact += strings.Repeat("x", MaxPlaylistBytes-len(exact))
	if _, err := ParseMedia(strings.NewReader(exact)); err != nil {
		t.Errorf("playlist of exactly MaxPlaylistBytes: %v", err)
	}
}

type countingReader struct{ n int }

func (r *countingReader) Read(p []byte) (int, error) {
	if r.n == 0 && len(p) >= 8 {
		r.n += copy(p, "#EXTM3U\n")
		return 8, nil
	}
	for i := range p {
		p[i] = '#'
	}
	r.n += len(p)
	return len(p), nil
}

func media48() []byte {
	m := &Media{Version: 3, MediaSequence: 0, PlaylistType: "VOD", EndList: true}
	for i := range 48 {
		m.Segments = append(m.Segments, Segment{URI: fmt.Sprintf("https://edge.example.com/v/1234/720p/seg-%05d.ts", i), Duration: 4.004})
	}
	return m.Bytes()
}

func BenchmarkParseMedia(b *testing.B) {
	data := media48()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		m, err := ParseMedia(bytes.NewReader(data))
		if err != nil || len(m.Segments) != 48 {
			b.Fatalf("ParseMedia: %v", err)
		}
	}
}

func BenchmarkEncodeMedia(b *testing.B) {
	m, err := ParseMedia(bytes.NewReader(media48()))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := m.Encode(ioDiscard{}); err != nil {
			b.Fatal(err)
		}
	}
}

type ioDiscard struct{}

func (ioDiscard) Write(p []byte) (int, error) { return len(p), nil }

func TestMap(t *testing.T) {
	m := &Media{Version: 7, PlaylistType: "VOD", Map: "init.mp4", EndList: true,
		Segments: []Segment{{URI: "seg00000.m4s", Duration: 4}, {URI: "seg00001.m4s", Duration: 4}}}
	b := m.Bytes()
	if !strings.Contains(string(b), "#EXT-X-MAP:URI=\"init.mp4\"\n#EXTINF:4,\nseg00000.m4s\n") {
		t.Fatalf("map not written before the first segment:\n%s", b)
	}
	got, err := ParseMedia(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if got.Map != "init.mp4" {
		t.Errorf("Map = %q, want init.mp4", got.Map)
	}
	for _, bad := range []string{
		"#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXT-X-MAP:URI=\"a.mp4\"\n#EXT-X-MAP:URI=\"b.mp4\"\n#EXTINF:4,\ns.m4s\n",
		"#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXT-X-MAP:URI=\"a.mp4\",BYTERANGE=\"100@0\"\n#EXTINF:4,\ns.m4s\n",
		"#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXT-X-MAP:URI=a.mp4\n#EXTINF:4,\ns.m4s\n",
		"#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXT-X-MAP:URI=\"\"\n#EXTINF:4,\ns.m4s\n",
		"#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4,\ns.m4s\n#EXT-X-MAP:URI=\"a.mp4\"\n",
	} {
		if _, err := ParseMedia(strings.NewReader(bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
	if (&Media{Map: "a\"b"}).Bytes() != nil {
		t.Error("encoded a map URI with a double quote")
	}
}
