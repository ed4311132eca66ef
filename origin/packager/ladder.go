package packager

import (
	"fmt"
	"sort"
	"strings"

	"edgecdn/internal/envivio"
)

// Rung is one rendition of a ladder.
type Rung struct {
	Kbps          int
	Width, Height int
}

// Name is the rendition's folder name: its bitrate, "750k".
func (r Rung) Name() string { return fmt.Sprintf("%dk", r.Kbps) }

// Ladder is a named bitrate ladder.
type Ladder struct {
	Name        string
	Description string
	Rungs       []Rung // lowest bitrate first
	// Envivio makes segment i of rung r exactly envivio.Size(r, i) bytes (rounded up to whole
	// TS packets) instead of following the bitrate with a seeded variation.
	Envivio bool
}

// Ladders are the named ladders --ladder accepts.
var Ladders = map[string]Ladder{
	"envivio": {
		Name:        "envivio",
		Description: "the 6-level EnvivioDash3 ladder of the ABR literature, exact chunk sizes",
		Rungs: []Rung{
			{envivio.Kbps[0], 426, 240}, {envivio.Kbps[1], 640, 360}, {envivio.Kbps[2], 854, 480},
			{envivio.Kbps[3], 1280, 720}, {envivio.Kbps[4], 1920, 1080}, {envivio.Kbps[5], 1920, 1080},
		},
		Envivio: true,
	},
	"small": {
		Name:        "small",
		Description: "3 levels, 400/1000/2500 kbps: quick to package and to encode with ffmpeg",
		Rungs:       []Rung{{400, 416, 234}, {1000, 640, 360}, {2500, 1280, 720}},
	},
	"apple": {
		Name:        "apple",
		Description: "7 levels from Apple's HLS authoring specification, 145 kbps to 7.8 Mbps",
		Rungs: []Rung{
			{145, 416, 234}, {365, 480, 270}, {730, 640, 360}, {1100, 768, 432},
			{2000, 960, 540}, {4500, 1280, 720}, {7800, 1920, 1080},
		},
	},
}

// LadderNames lists the ladders by name, for help texts and errors.
func LadderNames() string {
	var n []string
	for k := range Ladders {
		n = append(n, k)
	}
	sort.Strings(n)
	return strings.Join(n, ", ")
}

// avcCodec returns the RFC 6381 codec string of H.264 Main profile at the level a resolution needs.
func avcCodec(height int) string {
	switch {
	case height <= 576:
		return "avc1.4d401e" // Main, level 3.0
	case height <= 720:
		return "avc1.4d401f" // Main, level 3.1
	default:
		return "avc1.4d4028" // Main, level 4.0
	}
}

// avcBytes is avcCodec's profile, compatibility and level bytes, as an avcC carries them.
func avcBytes(height int) (profile, compat, level byte) {
	switch {
	case height <= 576:
		return 0x4d, 0x40, 0x1e
	case height <= 720:
		return 0x4d, 0x40, 0x1f
	default:
		return 0x4d, 0x40, 0x28
	}
}

// avcLevel is avcCodec's level in the form ffmpeg's -level takes.
func avcLevel(height int) string {
	switch {
	case height <= 576:
		return "3.0"
	case height <= 720:
		return "3.1"
	default:
		return "4.0"
	}
}
