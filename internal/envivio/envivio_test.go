package envivio

import "testing"

func TestSizes(t *testing.T) {
	// First and last lines of the published files.
	for _, c := range []struct {
		r, i int
		want int64
	}{{0, 0, 181801}, {5, 0, 2354772}} {
		if got := Size(c.r, c.i); got != c.want {
			t.Errorf("Size(%d, %d) = %d, want %d", c.r, c.i, got, c.want)
		}
	}
	// Mean bitrate of each rendition is near its nominal rate.
	for r, kbps := range Kbps {
		var sum int64
		for i := 0; i < Chunks; i++ {
			sum += Size(r, i)
		}
		got := float64(sum) * 8 / (Chunks * ChunkSeconds) / 1000
		if got < float64(kbps)*0.8 || got > float64(kbps)*1.2 {
			t.Errorf("rendition %d: mean %.0f kbps, nominal %d", r, got, kbps)
		}
	}
}
