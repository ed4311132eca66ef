package player

import (
	"bytes"
	"strings"
	"testing"

	"edgecdn/internal/dash"
)

const testMPD = `<?xml version="1.0"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" profiles="urn:mpeg:dash:profile:isoff-live:2011" type="static" mediaPresentationDuration="PT10S" minBufferTime="PT4S">
 <Period>
  <AdaptationSet contentType="audio" mimeType="audio/mp4">
   <Representation id="a" bandwidth="64000" codecs="mp4a.40.2"><SegmentTemplate media="a/$Number$.m4s" duration="4"></SegmentTemplate></Representation>
  </AdaptationSet>
  <AdaptationSet contentType="video" mimeType="video/mp4">
   <SegmentTemplate timescale="1000" startNumber="0" initialization="$RepresentationID$/init.mp4" media="MEDIA"><SegmentTimeline><S t="0" d="4000" r="1"></S><S d="2000"></S></SegmentTimeline></SegmentTemplate>
   <Representation id="750k" bandwidth="800000" codecs="avc1.4d401e"></Representation>
   <Representation id="300k" bandwidth="320000" codecs="avc1.4d401e"></Representation>
  </AdaptationSet>
 </Period>
</MPD>`

func TestMPDLevels(t *testing.T) {
	m, err := dash.Parse(strings.NewReader(strings.Replace(testMPD, "MEDIA", "$RepresentationID$/seg$Number%05d$.m4s", 1)))
	if err != nil {
		t.Fatal(err)
	}
	ls, err := mpdLevels(m)
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != 2 || ls[0].uri != "300k" || ls[0].kbps != 320 || ls[1].init != "750k/init.mp4" || len(ls[1].segments) != 3 ||
		ls[1].segments[2].URI != "750k/seg00002.m4s" || ls[1].segments[2].Duration != 2 {
		t.Fatalf("levels %+v", ls)
	}
	// Templates that lead outside the title are refused.
	for _, media := range []string{"http://192.0.2.1/$Number$.m4s", "/etc/$Number$", "../$Number$.m4s", "$Number$.m4s?x=1", "a\\$Number$"} {
		m, err := dash.Parse(strings.NewReader(strings.Replace(testMPD, "MEDIA", media, 1)))
		if err != nil {
			continue // refused by the parser already
		}
		if _, err := mpdLevels(m); err == nil {
			t.Errorf("media %q: accepted", media)
		}
	}
}

// FuzzMPDLevels: whatever MPD parses, its levels either fail cleanly or stay inside the title.
func FuzzMPDLevels(f *testing.F) {
	f.Add([]byte(strings.Replace(testMPD, "MEDIA", "$RepresentationID$/seg$Number%05d$.m4s", 1)))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := dash.Parse(bytes.NewReader(b))
		if err != nil {
			return
		}
		ls, err := mpdLevels(m)
		if err != nil {
			return
		}
		for _, l := range ls {
			if l.init != "" && !insideTitle(l.init) || len(l.segments) == 0 {
				t.Fatalf("level %+v", l)
			}
			for _, s := range l.segments {
				if !insideTitle(s.URI) || !(s.Duration > 0) {
					t.Fatalf("segment %+v", s)
				}
			}
		}
	})
}
