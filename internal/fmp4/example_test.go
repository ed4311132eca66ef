package fmp4_test

import (
	"fmt"

	"edgecdn/internal/fmp4"
)

func Example() {
	init, _ := fmp4.Init(fmp4.Track{Width: 640, Height: 360, Profile: 0x4d, Compat: 0x40, Level: 0x1e})
	seg, _ := fmp4.Media(50000, fmp4.Fragment{Sequence: 1, Duration: 4 * fmp4.Timescale, Samples: 100})
	ii, _ := fmp4.CheckInit(init)
	mi, _ := fmp4.CheckMedia(seg)
	fmt.Println(ii.Handler, ii.Timescale, len(seg), mi.Samples)
	// Output: vide 90000 50000 100
}
