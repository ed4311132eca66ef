// Package dash writes, parses and checks the MPEG-DASH manifests (MPD, ISO/IEC 23009-1) edgecdn
// serves: static, one Period, SegmentTemplate addressing with $Number$ and a SegmentTimeline,
// and DASH content steering (BaseURL@serviceLocation, ContentSteering).
//
// The packager writes them beside the HLS playlists, the steering service adds pathways to them,
// and the player simulator parses them from possibly hostile servers. The parser is strict and
// bounded (MaxBytes, MaxSegments); Validate is a structural check of what the DASH schema and
// the profiles require of this subset: required attributes, their types, identifiers in
// templates, and durations that agree with each other.
package dash

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// Namespace is the MPD's XML namespace.
const Namespace = "urn:mpeg:dash:schema:mpd:2011"

// Profiles this package writes: the ISO live profile (SegmentTemplate addressing) and CMAF.
const (
	ProfileLive = "urn:mpeg:dash:profile:isoff-live:2011"
	ProfileCMAF = "urn:mpeg:dash:profile:cmaf:2019"
)

// MaxBytes bounds the MPD a parser accepts, and MaxSegments the segments a Representation may
// expand to.
const (
	MaxBytes    = 4 << 20
	MaxSegments = 1 << 17
)

// maxSeconds bounds durations: float64 seconds stay exact to the nanosecond below it.
const maxSeconds = 1e7

// MPD is a static Media Presentation Description.
type MPD struct {
	XMLName                   xml.Name         `xml:"urn:mpeg:dash:schema:mpd:2011 MPD"`
	Profiles                  string           `xml:"profiles,attr"`
	Type                      string           `xml:"type,attr"` // "static"
	MediaPresentationDuration Duration         `xml:"mediaPresentationDuration,attr"`
	MinBufferTime             Duration         `xml:"minBufferTime,attr"`
	BaseURLs                  []BaseURL        `xml:"BaseURL"`
	ContentSteering           *ContentSteering `xml:"ContentSteering"`
	Periods                   []Period         `xml:"Period"`
}

// BaseURL is an MPD-level base URL; with content steering each carries its pathway as
// serviceLocation.
type BaseURL struct {
	ServiceLocation string `xml:"serviceLocation,attr,omitempty"`
	URL             string `xml:",chardata"`
}

// ContentSteering is the DASH content steering element: the steering server's URL, the
// pathway to start on, and whether to ask the server before playing.
type ContentSteering struct {
	DefaultServiceLocation string `xml:"defaultServiceLocation,attr,omitempty"`
	QueryBeforeStart       bool   `xml:"queryBeforeStart,attr,omitempty"`
	URL                    string `xml:",chardata"`
}

// Period is the one period of a static presentation.
type Period struct {
	ID             string          `xml:"id,attr,omitempty"`
	Start          *Duration       `xml:"start,attr,omitempty"`
	AdaptationSets []AdaptationSet `xml:"AdaptationSet"`
}

// AdaptationSet groups the Representations of one media type.
type AdaptationSet struct {
	ID               string           `xml:"id,attr,omitempty"`
	ContentType      string           `xml:"contentType,attr,omitempty"` // "video", "audio", "text"
	MimeType         string           `xml:"mimeType,attr,omitempty"`
	SegmentAlignment bool             `xml:"segmentAlignment,attr,omitempty"`
	StartWithSAP     int              `xml:"startWithSAP,attr,omitempty"`
	SegmentTemplate  *SegmentTemplate `xml:"SegmentTemplate"`
	Representations  []Representation `xml:"Representation"`
}

// Representation is one rendition.
type Representation struct {
	ID              string           `xml:"id,attr"`
	Bandwidth       int64            `xml:"bandwidth,attr"`
	Width           int              `xml:"width,attr,omitempty"`
	Height          int              `xml:"height,attr,omitempty"`
	FrameRate       string           `xml:"frameRate,attr,omitempty"`
	Codecs          string           `xml:"codecs,attr,omitempty"`
	MimeType        string           `xml:"mimeType,attr,omitempty"`
	SegmentTemplate *SegmentTemplate `xml:"SegmentTemplate"`
}

// SegmentTemplate addresses segments by number: Initialization and Media are URL templates
// with $RepresentationID$, $Number$ (optionally $Number%0Nd$), $Bandwidth$, $Time$ and $$.
// Either Duration or a SegmentTimeline gives the segments' durations, in Timescale units.
type SegmentTemplate struct {
	Timescale      uint64           `xml:"timescale,attr,omitempty"` // default 1
	Duration       uint64           `xml:"duration,attr,omitempty"`
	StartNumber    *uint64          `xml:"startNumber,attr,omitempty"` // default 1
	Initialization string           `xml:"initialization,attr,omitempty"`
	Media          string           `xml:"media,attr"`
	Timeline       *SegmentTimeline `xml:"SegmentTimeline"`
}

// SegmentTimeline lists segment durations as runs.
type SegmentTimeline struct {
	S []S `xml:"S"`
}

// S is a run of R+1 segments of duration D starting at T (default: where the previous ended).
type S struct {
	T *uint64 `xml:"t,attr,omitempty"`
	D uint64  `xml:"d,attr"`
	R int     `xml:"r,attr,omitempty"`
}

// Duration is an xs:duration attribute. It is written as PT<seconds>S and read in the forms
// PnDTnHnMnS without years or months.
type Duration time.Duration

// MarshalXMLAttr implements xml.MarshalerAttr.
func (d Duration) MarshalXMLAttr(name xml.Name) (xml.Attr, error) {
	return xml.Attr{Name: name, Value: "PT" + strconv.FormatFloat(time.Duration(d).Seconds(), 'f', -1, 64) + "S"}, nil
}

// UnmarshalXMLAttr implements xml.UnmarshalerAttr.
func (d *Duration) UnmarshalXMLAttr(a xml.Attr) error {
	v, err := ParseDuration(a.Value)
	if err != nil {
		return fmt.Errorf("%s: %w", a.Name.Local, err)
	}
	*d = Duration(v)
	return nil
}

// ParseDuration reads an xs:duration of days, hours, minutes and seconds ("PT4S", "P1DT2H",
// "PT1M30.5S"); negative durations, years and months are refused.
func ParseDuration(s string) (time.Duration, error) {
	bad := fmt.Errorf("bad duration %.40q", s)
	rest, ok := strings.CutPrefix(s, "P")
	if !ok || rest == "" || len(s) > 64 {
		return 0, bad
	}
	var secs float64
	inTime := false
	units := "D"
	for rest != "" {
		if rest[0] == 'T' {
			if inTime || len(rest) == 1 {
				return 0, bad
			}
			inTime, units, rest = true, "HMS", rest[1:]
			continue
		}
		i := 0
		for i < len(rest) && (rest[i] >= '0' && rest[i] <= '9' || rest[i] == '.') {
			i++
		}
		if i == 0 || i == len(rest) {
			return 0, bad
		}
		n, err := strconv.ParseFloat(rest[:i], 64)
		if err != nil || rest[0] == '.' || rest[i-1] == '.' {
			return 0, bad
		}
		u := strings.IndexByte(units, rest[i])
		if u < 0 {
			return 0, bad
		}
		if rest[i] != 'S' && strings.Contains(rest[:i], ".") {
			return 0, bad // only seconds carry a fraction here
		}
		switch rest[i] {
		case 'D':
			secs += n * 86400
		case 'H':
			secs += n * 3600
		case 'M':
			secs += n * 60
		case 'S':
			secs += n
		}
		units, rest = units[u+1:], rest[i+1:]
	}
	if secs > maxSeconds || math.IsNaN(secs) {
		return 0, bad
	}
	return time.Duration(math.Round(secs * 1e9)), nil
}

// Seconds returns d in seconds.
func (d Duration) Seconds() float64 { return time.Duration(d).Seconds() }

// Encode writes m as XML after checking it with Validate.
func (m *MPD) Encode(w io.Writer) error {
	b, err := m.Marshal()
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// Marshal returns m as an XML document, or Validate's error.
func (m *MPD) Marshal() ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	enc := xml.NewEncoder(&buf)
	enc.Indent("", " ")
	if err := enc.Encode(m); err != nil {
		return nil, fmt.Errorf("dash: %w", err)
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}

// Parse reads and validates an MPD of at most MaxBytes.
func Parse(r io.Reader) (*MPD, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("dash: reading MPD: %w", err)
	}
	if len(b) > MaxBytes {
		return nil, fmt.Errorf("dash: MPD larger than %d bytes", MaxBytes)
	}
	var m MPD
	dec := xml.NewDecoder(bytes.NewReader(b))
	dec.Strict = true
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("dash: %w", err)
	}
	// Nothing but white space and comments may follow the root element.
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("dash: after the MPD: %w", err)
		}
		switch t := tok.(type) {
		case xml.CharData:
			if len(bytes.TrimSpace(t)) > 0 {
				return nil, errors.New("dash: text after the MPD element")
			}
		case xml.Comment, xml.ProcInst:
		default:
			return nil, errors.New("dash: content after the MPD element")
		}
	}
	m.trim()
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

// trim removes the white space around text content that indentation adds.
func (m *MPD) trim() {
	for i := range m.BaseURLs {
		m.BaseURLs[i].URL = strings.TrimSpace(m.BaseURLs[i].URL)
	}
	if m.ContentSteering != nil {
		m.ContentSteering.URL = strings.TrimSpace(m.ContentSteering.URL)
	}
}
