package dash

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"
)

func u64p(v uint64) *uint64 { return &v }

func sample() *MPD {
	tl := &SegmentTimeline{S: []S{{T: u64p(0), D: 360000, R: 46}, {D: 180000}}}
	return &MPD{
		Profiles: ProfileLive + "," + ProfileCMAF, Type: "static",
		MediaPresentationDuration: Duration(190 * time.Second), MinBufferTime: Duration(4 * time.Second),
		Periods: []Period{{ID: "0", AdaptationSets: []AdaptationSet{{
			ContentType: "video", MimeType: "video/mp4", SegmentAlignment: true, StartWithSAP: 1,
			Representations: []Representation{
				{ID: "300k", Bandwidth: 300000, Width: 426, Height: 240, Codecs: "avc1.4d401e",
					SegmentTemplate: &SegmentTemplate{Timescale: 90000, StartNumber: u64p(0), Initialization: "$RepresentationID$/init.mp4", Media: "$RepresentationID$/seg$Number%05d$.m4s", Timeline: tl}},
				{ID: "750k", Bandwidth: 750000, Width: 640, Height: 360, Codecs: "avc1.4d401e",
					SegmentTemplate: &SegmentTemplate{Timescale: 90000, StartNumber: u64p(0), Initialization: "$RepresentationID$/init.mp4", Media: "$RepresentationID$/seg$Number%05d$.m4s", Timeline: tl}},
			},
		}}}},
	}
}

func TestRoundTrip(t *testing.T) {
	m := sample()
	m.BaseURLs = []BaseURL{{ServiceLocation: "zone-a", URL: "http://127.0.0.11:8000/vod/t/"}, {ServiceLocation: "zone-b", URL: "http://127.0.0.12:8000/vod/t/"}}
	m.ContentSteering = &ContentSteering{DefaultServiceLocation: "zone-a", QueryBeforeStart: true, URL: "http://127.0.0.1:8500/steering/x.json"}
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`<MPD xmlns="urn:mpeg:dash:schema:mpd:2011"`, `mediaPresentationDuration="PT190S"`,
		`<BaseURL serviceLocation="zone-a">http://127.0.0.11:8000/vod/t/</BaseURL>`,
		`<ContentSteering defaultServiceLocation="zone-a" queryBeforeStart="true">http://127.0.0.1:8500/steering/x.json</ContentSteering>`,
		`<S t="0" d="360000" r="46"></S>`} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("no %s in\n%s", want, b)
		}
	}
	got, err := Parse(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	got.XMLName = m.XMLName
	if !reflect.DeepEqual(got, m) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, m)
	}
	as := &got.Periods[0].AdaptationSets[0]
	segs, err := as.Template(&as.Representations[1]).Segments(190)
	if err != nil {
		t.Fatal(err)
	}
	if len(segs) != 48 || segs[47].Number != 47 || segs[47].Start != 188 || segs[47].Duration != 2 {
		t.Errorf("segments: %d, last %+v", len(segs), segs[len(segs)-1])
	}
	u, _ := Expand(as.Representations[1].SegmentTemplate.Media, "750k", 750000, 47, 0)
	if u != "750k/seg00047.m4s" {
		t.Errorf("Expand = %q", u)
	}
}

func TestDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"PT4S": 4 * time.Second, "PT1M30.5S": 90500 * time.Millisecond,
		"P1DT2H": 26 * time.Hour, "PT0.04S": 40 * time.Millisecond, "PT192S": 192 * time.Second} {
		if got, err := ParseDuration(in); err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "P", "PT", "4S", "PT-4S", "P1Y", "PT1.5M", "PT4", "PT.5S", "PT5.S", "PTS", "PT4S4S", "PT1S2M", "P9999999999DT"} {
		if got, err := ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q) = %v, want an error", in, got)
		}
	}
}

func TestValidateRejects(t *testing.T) {
	for name, mutate := range map[string]func(m *MPD){
		"no profiles":           func(m *MPD) { m.Profiles = "" },
		"dynamic":               func(m *MPD) { m.Type = "dynamic" },
		"no duration":           func(m *MPD) { m.MediaPresentationDuration = 0 },
		"no min buffer":         func(m *MPD) { m.MinBufferTime = 0 },
		"no period":             func(m *MPD) { m.Periods = nil },
		"no representation":     func(m *MPD) { m.Periods[0].AdaptationSets[0].Representations = nil },
		"no type":               func(m *MPD) { a := &m.Periods[0].AdaptationSets[0]; a.ContentType, a.MimeType = "", "" },
		"zero bandwidth":        func(m *MPD) { m.Periods[0].AdaptationSets[0].Representations[0].Bandwidth = 0 },
		"duplicate id":          func(m *MPD) { m.Periods[0].AdaptationSets[0].Representations[1].ID = "300k" },
		"bad id":                func(m *MPD) { m.Periods[0].AdaptationSets[0].Representations[0].ID = "a b" },
		"no codecs":             func(m *MPD) { m.Periods[0].AdaptationSets[0].Representations[0].Codecs = "" },
		"no template":           func(m *MPD) { m.Periods[0].AdaptationSets[0].Representations[0].SegmentTemplate = nil },
		"unknown identifier":    func(m *MPD) { tmpl(m).Media = "$Foo$/$Number$.m4s" },
		"no number":             func(m *MPD) { tmpl(m).Media = "seg.m4s" },
		"bad format":            func(m *MPD) { tmpl(m).Media = "$Number%5x$.m4s" },
		"number in init":        func(m *MPD) { tmpl(m).Initialization = "$Number$.mp4" },
		"duration and timeline": func(m *MPD) { tmpl(m).Duration = 4 },
		"timeline too short":    func(m *MPD) { m.MediaPresentationDuration = Duration(300 * time.Second) },
		"zero d":                func(m *MPD) { tmpl(m).Timeline = &SegmentTimeline{S: []S{{D: 0}}} },
		"t backwards": func(m *MPD) {
			tmpl(m).Timeline = &SegmentTimeline{S: []S{{T: u64p(10), D: 360000, R: 46}, {T: u64p(0), D: 180000}}}
		},
		"huge r":    func(m *MPD) { tmpl(m).Timeline = &SegmentTimeline{S: []S{{D: 1, R: 1 << 30}}} },
		"url space": func(m *MPD) { m.BaseURLs = []BaseURL{{URL: "http://a b/"}} },
		"dup location": func(m *MPD) {
			m.BaseURLs = []BaseURL{{ServiceLocation: "a", URL: "x/"}, {ServiceLocation: "a", URL: "y/"}}
		},
		"steering to nowhere": func(m *MPD) {
			m.BaseURLs = []BaseURL{{ServiceLocation: "a", URL: "x/"}}
			m.ContentSteering = &ContentSteering{DefaultServiceLocation: "b", URL: "s.json"}
		},
		"steering without url": func(m *MPD) { m.ContentSteering = &ContentSteering{} },
	} {
		m := sample()
		mutate(m)
		if err := m.Validate(); err == nil {
			t.Errorf("%s: valid", name)
		}
		if _, err := m.Marshal(); err == nil {
			t.Errorf("%s: marshalled", name)
		}
	}
}

// tmpl gives the first Representation its own template to change.
func tmpl(m *MPD) *SegmentTemplate {
	r := &m.Periods[0].AdaptationSets[0].Representations[0]
	c := *r.SegmentTemplate
	r.SegmentTemplate = &c
	return &c
}

func TestParseRejects(t *testing.T) {
	good, _ := sample().Marshal()
	for name, in := range map[string]string{
		"empty":          "",
		"not xml":        "#EXTM3U\n",
		"other root":     `<foo xmlns="urn:mpeg:dash:schema:mpd:2011"/>`,
		"no namespace":   strings.Replace(string(good), ` xmlns="urn:mpeg:dash:schema:mpd:2011"`, "", 1),
		"trailing junk":  string(good) + "<MPD/>",
		"bad bandwidth":  strings.Replace(string(good), `bandwidth="300000"`, `bandwidth="lots"`, 1),
		"bad duration":   strings.Replace(string(good), `PT190S`, `190`, 1),
		"unclosed":       string(good[:len(good)/2]),
		"entity":         `<!DOCTYPE MPD [<!ENTITY a "aaaa">]><MPD xmlns="urn:mpeg:dash:schema:mpd:2011">&a;</MPD>`,
		"too big":        string(good) + strings.Repeat(" ", MaxBytes),
		"negative width": strings.Replace(string(good), `width="426"`, `width="-1"`, 1),
	} {
		if _, err := Parse(strings.NewReader(in)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// FuzzParse checks that Parse never panics and that what it accepts marshals and parses back
// to an equal value. Seeds live in testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	good, _ := sample().Marshal()
	f.Add(good)
	m := sample()
	m.BaseURLs = []BaseURL{{ServiceLocation: "zone-a", URL: "http://a/vod/t/"}}
	m.ContentSteering = &ContentSteering{DefaultServiceLocation: "zone-a", QueryBeforeStart: true, URL: "/steering/x.json"}
	steered, _ := m.Marshal()
	f.Add(steered)
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse(bytes.NewReader(b))
		if err != nil {
			return
		}
		enc, err := m.Marshal()
		if err != nil {
			t.Fatalf("Marshal of a parsed MPD: %v", err)
		}
		m2, err := Parse(bytes.NewReader(enc))
		if err != nil {
			t.Fatalf("Parse of a marshalled MPD: %v\n%s", err, enc)
		}
		if !reflect.DeepEqual(m, m2) {
			t.Fatalf("not a fixpoint:\n%+v\n%+v", m, m2)
		}
	})
}
