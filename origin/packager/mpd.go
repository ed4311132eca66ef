package packager

import (
	"fmt"
	"math"
	"time"

	"edgecdn/internal/catalog"
	"edgecdn/internal/dash"
)

// MPDName is the DASH manifest's file name in a CMAF title's folder, beside master.m3u8.
const MPDName = "manifest.mpd"

// mpdTimescale is the MPD's timescale: 90 kHz, as the synthetic tracks.
const mpdTimescale = 90000

// MPD returns a CMAF title's DASH manifest: static, one Period, one video AdaptationSet (the
// synthetic titles have no sound; ffmpeg's titles carry it muxed in the same segments), one
// Representation per rendition whose SegmentTemplate names the very files the HLS playlists
// list (<rendition>/init.mp4, <rendition>/segNNNNN.m4s, relative to the manifest), timed by a
// SegmentTimeline of the catalog's durations.
func MPD(t *catalog.Title) (*dash.MPD, error) {
	var total float64
	for _, s := range t.Renditions[0].Segments {
		total += s.Duration
	}
	as := dash.AdaptationSet{ID: "0", ContentType: "video", MimeType: "video/mp4", SegmentAlignment: true, StartWithSAP: 1}
	zero := uint64(0)
	for _, r := range t.Renditions {
		tl := &dash.SegmentTimeline{}
		for i, s := range r.Segments {
			if want := fmt.Sprintf("seg%05d.m4s", i); s.Name != want {
				return nil, fmt.Errorf("%s/%s: segment %d is %q: the template names it %s", t.Name, r.Name, i, s.Name, want)
			}
			d := uint64(math.Round(s.Duration * mpdTimescale))
			if n := len(tl.S); n > 0 && tl.S[n-1].D == d {
				tl.S[n-1].R++
			} else {
				e := dash.S{D: d}
				if i == 0 {
					e.T = &zero
				}
				tl.S = append(tl.S, e)
			}
		}
		init := InitName
		if r.Init != nil {
			init = r.Init.Name
		}
		media := "seg$Number%05d$.m4s"
		as.Representations = append(as.Representations, dash.Representation{
			ID: r.Name, Bandwidth: r.Bandwidth, Width: r.Width, Height: r.Height, Codecs: r.Codecs,
			SegmentTemplate: &dash.SegmentTemplate{
				Timescale: mpdTimescale, StartNumber: &zero, Timeline: tl,
				Initialization: "$RepresentationID$/" + init, Media: "$RepresentationID$/" + media,
			},
		})
	}
	return &dash.MPD{
		Profiles: dash.ProfileLive + "," + dash.ProfileCMAF, Type: "static",
		MediaPresentationDuration: dash.Duration(time.Duration(math.Round(total * 1e9))),
		MinBufferTime:             dash.Duration(time.Duration(math.Round(t.SegmentSeconds * 1e9))),
		Periods:                   []dash.Period{{ID: "0", AdaptationSets: []dash.AdaptationSet{as}}},
	}, nil
}
