// Package envivio carries the EnvivioDash3 reference ladder used in the ABR literature: six
// bitrates and the size in bytes of each 4 s chunk of each rendition.
//
// The sizes (video_size_0 to video_size_5, one chunk per line) come from the test video of
// Pensieve (Mao et al., SIGCOMM 2017, github.com/hongzimao/pensieve, test/video_size_*) and its
// successors; the reference chunk-level simulator uses the first 48 of the 49 chunks.
package envivio

import (
	"embed"
	"fmt"
	"strconv"
	"strings"
)

// Kbps is the ladder's bitrate for each rendition, lowest first.
var Kbps = [6]int{300, 750, 1200, 1850, 2850, 4300}

// ChunkSeconds is the duration of each chunk.
const ChunkSeconds = 4

// Chunks is the number of chunks in each rendition's file.
const Chunks = 49

//go:embed video_size_*
var files embed.FS

var sizes = func() (s [6][]int64) {
	for r := range s {
		b, err := files.ReadFile(fmt.Sprintf("video_size_%d", r))
		if err != nil {
			panic(err)
		}
		for _, f := range strings.Fields(string(b)) {
			n, err := strconv.ParseInt(f, 10, 64)
			if err != nil {
				panic(fmt.Sprintf("envivio: video_size_%d: %v", r, err))
			}
			s[r] = append(s[r], n)
		}
		if len(s[r]) != Chunks {
			panic(fmt.Sprintf("envivio: video_size_%d has %d chunks, want %d", r, len(s[r]), Chunks))
		}
	}
	return s
}()

// Size returns the bytes of chunk i (0-based) of rendition r (0 = 300 kbps).
func Size(r, i int) int64 { return sizes[r][i] }

// Sizes returns a copy of every chunk size, indexed [rendition][chunk].
func Sizes() [6][]int64 {
	var out [6][]int64
	for r := range sizes {
		out[r] = append([]int64(nil), sizes[r]...)
	}
	return out
}
