package sim

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"edgecdn/internal/envivio"
)

// Video is a ladder of levels and the size of each chunk of each level.
type Video struct {
	Kbps         []int     // bitrate of each level, lowest first
	Sizes        [][]int64 // bytes, indexed [level][chunk]
	ChunkSeconds float64   // duration of every chunk
}

// Envivio returns the EnvivioDash3 video of the ABR literature (49 chunks of 4 s, six levels
// from 300 to 4300 kbps), embedded in edgecdn/internal/envivio.
func Envivio() *Video {
	s := envivio.Sizes()
	v := &Video{Kbps: envivio.Kbps[:], ChunkSeconds: envivio.ChunkSeconds}
	for _, r := range s {
		v.Sizes = append(v.Sizes, r)
	}
	return v
}

// LoadVideo reads the chunk sizes of the EnvivioDash3 ladder from dir: one file per level,
// video_size_0 (300 kbps) to video_size_5 (4300 kbps), one integer (bytes) per line, as in
// Pensieve's test folder. Every level needs at least minChunks chunks.
func LoadVideo(dir string, minChunks int) (*Video, error) {
	v := &Video{Kbps: envivio.Kbps[:], ChunkSeconds: envivio.ChunkSeconds}
	for q := range v.Kbps {
		path := filepath.Join(dir, fmt.Sprintf("video_size_%d", q))
		sizes, err := readSizes(path)
		if err != nil {
			return nil, fmt.Errorf("video: %w", err)
		}
		if len(sizes) < minChunks {
			return nil, fmt.Errorf("video: %s has %d chunks, want at least %d", path, len(sizes), minChunks)
		}
		v.Sizes = append(v.Sizes, sizes)
	}
	return v, nil
}

func readSizes(path string) ([]int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []int64
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		fs := strings.Fields(sc.Text())
		if len(fs) == 0 {
			continue
		}
		b, err := strconv.ParseInt(fs[0], 10, 64)
		if err != nil || b <= 0 {
			return nil, fmt.Errorf("%s line %d: want a positive byte count, got %q", path, n, fs[0])
		}
		out = append(out, b)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return out, nil
}
