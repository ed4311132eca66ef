package hls_test

import (
	"fmt"
	"os"
	"strings"

	"edgecdn/internal/hls"
)

func ExampleMedia_Encode() {
	m := &hls.Media{
		Version:      3,
		PlaylistType: "VOD",
		Segments: []hls.Segment{
			{URI: "seg-00000.ts", Duration: 4},
			{URI: "seg-00001.ts", Duration: 4.004},
			{URI: "seg-00002.ts", Duration: 1.5},
		},
		EndList: true,
	}
	if err := m.Encode(os.Stdout); err != nil {
		fmt.Println(err)
	}
	// Output:
	// #EXTM3U
	// #EXT-X-VERSION:3
	// #EXT-X-TARGETDURATION:5
	// #EXT-X-MEDIA-SEQUENCE:0
	// #EXT-X-PLAYLIST-TYPE:VOD
	// #EXTINF:4,
	// seg-00000.ts
	// #EXTINF:4.004,
	// seg-00001.ts
	// #EXTINF:1.5,
	// seg-00002.ts
	// #EXT-X-ENDLIST
}

func ExampleMultivariant_Encode() {
	mv := &hls.Multivariant{
		Version:             6,
		IndependentSegments: true,
		Steering:            &hls.ContentSteering{ServerURI: "/steering?video=42", PathwayID: "cdn-a"},
		Variants: []hls.Variant{
			{URI: "https://a.example.com/720p/index.m3u8", Bandwidth: 3000000, AverageBandwidth: 2500000,
				Width: 1280, Height: 720, FrameRate: 29.97, Codecs: "avc1.64001f,mp4a.40.2", PathwayID: "cdn-a", Name: "720p"},
			{URI: "https://b.example.com/720p/index.m3u8", Bandwidth: 3000000, AverageBandwidth: 2500000,
				Width: 1280, Height: 720, FrameRate: 29.97, Codecs: "avc1.64001f,mp4a.40.2", PathwayID: "cdn-b", Name: "720p"},
		},
	}
	if err := mv.Encode(os.Stdout); err != nil {
		fmt.Println(err)
	}
	// Output:
	// #EXTM3U
	// #EXT-X-VERSION:6
	// #EXT-X-INDEPENDENT-SEGMENTS
	// #EXT-X-CONTENT-STEERING:SERVER-URI="/steering?video=42",PATHWAY-ID="cdn-a"
	// #EXT-X-STREAM-INF:BANDWIDTH=3000000,AVERAGE-BANDWIDTH=2500000,RESOLUTION=1280x720,FRAME-RATE=29.97,CODECS="avc1.64001f,mp4a.40.2",PATHWAY-ID="cdn-a"
	// https://a.example.com/720p/index.m3u8
	// #EXT-X-STREAM-INF:BANDWIDTH=3000000,AVERAGE-BANDWIDTH=2500000,RESOLUTION=1280x720,FRAME-RATE=29.97,CODECS="avc1.64001f,mp4a.40.2",PATHWAY-ID="cdn-b"
	// https://b.example.com/720p/index.m3u8
}

func ExampleParse() {
	mv, m, err := hls.Parse(strings.NewReader("#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4.000000,\nseg0.ts\n#EXTINF:abc,\nseg1.ts\n"))
	fmt.Println(mv, m, err)
	// Output:
	// <nil> <nil> hls: line 5: EXTINF: bad duration "abc"
}
