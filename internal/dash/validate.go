package dash

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"edgecdn/internal/pathway"
)

// Validate checks m structurally: a static presentation with profiles, a positive
// mediaPresentationDuration and minBufferTime; one or more Periods, each with AdaptationSets
// of a content or MIME type, each with Representations that have an id (unique in the
// Period), a positive bandwidth, codecs, and a SegmentTemplate (their own or their set's)
// whose templates use only known identifiers and whose segments, by duration or timeline,
// add up to the presentation's duration (within one segment); BaseURLs with unique service
// locations; ContentSteering with a URL whose default service location is one of them.
func (m *MPD) Validate() error {
	if m == nil {
		return errors.New("dash: nil MPD")
	}
	if strings.TrimSpace(m.Profiles) == "" {
		return errors.New("dash: MPD@profiles missing")
	}
	if m.Type != "static" {
		return fmt.Errorf("dash: MPD@type %.20q: only static presentations are supported", m.Type)
	}
	total := m.MediaPresentationDuration.Seconds()
	if !(total > 0) {
		return errors.New("dash: MPD@mediaPresentationDuration missing or zero")
	}
	if !(m.MinBufferTime.Seconds() > 0) {
		return errors.New("dash: MPD@minBufferTime missing or zero")
	}
	locations := map[string]bool{}
	for i, b := range m.BaseURLs {
		if err := checkURL(b.URL); err != nil {
			return fmt.Errorf("dash: BaseURL[%d]: %v", i, err)
		}
		if b.ServiceLocation != "" {
			if locations[b.ServiceLocation] {
				return fmt.Errorf("dash: BaseURL[%d]: serviceLocation %.64q listed twice", i, b.ServiceLocation)
			}
			if err := checkToken(b.ServiceLocation); err != nil {
				return fmt.Errorf("dash: BaseURL[%d]@serviceLocation: %v", i, err)
			}
			locations[b.ServiceLocation] = true
		}
	}
	if cs := m.ContentSteering; cs != nil {
		if err := checkURL(cs.URL); err != nil {
			return fmt.Errorf("dash: ContentSteering: %v", err)
		}
		for _, d := range strings.Fields(cs.DefaultServiceLocation) {
			if !locations[d] {
				return fmt.Errorf("dash: ContentSteering@defaultServiceLocation %.64q names no BaseURL", d)
			}
		}
	}
	if len(m.Periods) == 0 {
		return errors.New("dash: no Period")
	}
	for pi := range m.Periods {
		p := &m.Periods[pi]
		if len(p.AdaptationSets) == 0 {
			return fmt.Errorf("dash: Period[%d]: no AdaptationSet", pi)
		}
		start := 0.0
		if p.Start != nil {
			start = p.Start.Seconds()
		}
		ids := map[string]bool{}
		for ai := range p.AdaptationSets {
			as := &p.AdaptationSets[ai]
			where := fmt.Sprintf("Period[%d].AdaptationSet[%d]", pi, ai)
			if as.ContentType == "" && as.MimeType == "" {
				return fmt.Errorf("dash: %s: neither contentType nor mimeType", where)
			}
			if as.StartWithSAP < 0 || as.StartWithSAP > 6 {
				return fmt.Errorf("dash: %s@startWithSAP %d out of 0..6", where, as.StartWithSAP)
			}
			if len(as.Representations) == 0 {
				return fmt.Errorf("dash: %s: no Representation", where)
			}
			for ri := range as.Representations {
				r := &as.Representations[ri]
				where := fmt.Sprintf("%s.Representation[%d]", where, ri)
				if err := checkToken(r.ID); err != nil {
					return fmt.Errorf("dash: %s@id: %v", where, err)
				}
				if ids[r.ID] {
					return fmt.Errorf("dash: %s@id %q is not unique in its Period", where, r.ID)
				}
				ids[r.ID] = true
				if r.Bandwidth <= 0 {
					return fmt.Errorf("dash: %s@bandwidth must be positive", where)
				}
				if r.Width < 0 || r.Height < 0 || r.Width > 65535 || r.Height > 65535 {
					return fmt.Errorf("dash: %s: bad size %dx%d", where, r.Width, r.Height)
				}
				if r.Codecs == "" || strings.ContainsAny(r.Codecs, " \t\n\"") {
					return fmt.Errorf("dash: %s@codecs missing or malformed", where)
				}
				st := r.SegmentTemplate
				if st == nil {
					st = as.SegmentTemplate
				}
				if st == nil {
					return fmt.Errorf("dash: %s: no SegmentTemplate", where)
				}
				if err := st.validate(total - start); err != nil {
					return fmt.Errorf("dash: %s: %v", where, err)
				}
			}
		}
	}
	return nil
}

func (st *SegmentTemplate) validate(total float64) error {
	if err := checkTemplate(st.Media); err != nil || st.Media == "" {
		return fmt.Errorf("SegmentTemplate@media %.64q: %v", st.Media, err)
	}
	if !strings.Contains(st.Media, "$Number") && !strings.Contains(st.Media, "$Time$") {
		return fmt.Errorf("SegmentTemplate@media %.64q has neither $Number$ nor $Time$", st.Media)
	}
	if st.Initialization != "" {
		if err := checkTemplate(st.Initialization); err != nil {
			return fmt.Errorf("SegmentTemplate@initialization %.64q: %v", st.Initialization, err)
		}
		if strings.Contains(st.Initialization, "$Number") || strings.Contains(st.Initialization, "$Time$") {
			return fmt.Errorf("SegmentTemplate@initialization %.64q names a segment", st.Initialization)
		}
	}
	if (st.Duration == 0) == (st.Timeline == nil) {
		return errors.New("SegmentTemplate needs exactly one of @duration and SegmentTimeline")
	}
	segs, err := st.Segments(total)
	if err != nil {
		return err
	}
	var sum float64
	longest := 0.0
	for _, s := range segs {
		sum += s.Duration
		longest = max(longest, s.Duration)
	}
	// The segments cover the presentation: they end within one segment of its end.
	if st.Timeline != nil && math.Abs(sum-total) > longest+1e-3 {
		return fmt.Errorf("SegmentTimeline lasts %gs, the presentation %gs", sum, total)
	}
	return nil
}

// Template returns the SegmentTemplate that applies to a Representation of the set: its own,
// else the set's.
func (as *AdaptationSet) Template(r *Representation) *SegmentTemplate {
	if r.SegmentTemplate != nil {
		return r.SegmentTemplate
	}
	return as.SegmentTemplate
}

// Segment is one media segment of a Representation, as the template expands it.
type Segment struct {
	Number   uint64
	Time     uint64  // start, in timescale units
	Start    float64 // seconds from the Period's start
	Duration float64 // seconds
}

// Segments expands the template into its segments for a Period of total seconds: from the
// timeline (an R of -1 repeats to the end), or ceil(total / duration) segments of @duration.
// It refuses zero durations, a timescale of zero, times that go backwards, and more than
// MaxSegments segments.
func (st *SegmentTemplate) Segments(total float64) ([]Segment, error) {
	ts := st.Timescale
	if ts == 0 {
		ts = 1
	}
	if ts > 1<<32 {
		return nil, fmt.Errorf("timescale %d out of range", ts)
	}
	num := uint64(1)
	if st.StartNumber != nil {
		num = *st.StartNumber
	}
	if num > math.MaxUint32 {
		return nil, fmt.Errorf("startNumber %d too large", num)
	}
	var out []Segment
	if st.Timeline == nil {
		d := float64(st.Duration) / float64(ts)
		if !(d > 0) || d > maxSeconds {
			return nil, errors.New("SegmentTemplate@duration out of range")
		}
		n := math.Ceil(total/d - 1e-9)
		if n < 1 || n > MaxSegments {
			return nil, fmt.Errorf("%g segments out of 1..%d", n, MaxSegments)
		}
		for i := 0; i < int(n); i++ {
			out = append(out, Segment{Number: num + uint64(i), Time: uint64(i) * st.Duration, Start: float64(i) * d, Duration: min(d, total-float64(i)*d)})
		}
		return out, nil
	}
	var t uint64
	for i, s := range st.Timeline.S {
		if s.T != nil {
			if *s.T < t || *s.T > math.MaxInt64/2 {
				return nil, fmt.Errorf("SegmentTimeline.S[%d]@t %d goes backwards", i, *s.T)
			}
			t = *s.T
		}
		if s.D == 0 || float64(s.D)/float64(ts) > maxSeconds {
			return nil, fmt.Errorf("SegmentTimeline.S[%d]@d out of range", i)
		}
		reps := s.R + 1
		if s.R == -1 {
			if i != len(st.Timeline.S)-1 {
				return nil, fmt.Errorf("SegmentTimeline.S[%d]@r -1 before the last S", i)
			}
			reps = int(math.Ceil((total*float64(ts) - float64(t)) / float64(s.D)))
		}
		if s.R < -1 || reps < 1 || reps > MaxSegments-len(out) {
			return nil, fmt.Errorf("SegmentTimeline.S[%d]@r %d out of range", i, s.R)
		}
		for j := 0; j < reps; j++ {
			out = append(out, Segment{Number: num + uint64(len(out)), Time: t,
				Start: float64(t) / float64(ts), Duration: float64(s.D) / float64(ts)})
			t += s.D
			if float64(t)/float64(ts) > maxSeconds {
				return nil, fmt.Errorf("SegmentTimeline.S[%d] ends past %gs", i, float64(maxSeconds))
			}
		}
	}
	if len(out) == 0 {
		return nil, errors.New("empty SegmentTimeline")
	}
	return out, nil
}

// Expand fills a template's identifiers for one segment.
func Expand(tmpl, repID string, bandwidth int64, number, time uint64) (string, error) {
	var b strings.Builder
	for {
		i := strings.IndexByte(tmpl, '$')
		if i < 0 {
			b.WriteString(tmpl)
			return b.String(), nil
		}
		b.WriteString(tmpl[:i])
		j := strings.IndexByte(tmpl[i+1:], '$')
		if j < 0 {
			return "", errors.New("unterminated identifier")
		}
		id := tmpl[i+1 : i+1+j]
		tmpl = tmpl[i+2+j:]
		name, format, _ := strings.Cut(id, "%")
		var v uint64
		switch name {
		case "":
			if format != "" {
				return "", fmt.Errorf("bad identifier $%s$", id)
			}
			b.WriteByte('$')
			continue
		case "RepresentationID":
			if format != "" {
				return "", errors.New("$RepresentationID$ takes no format")
			}
			b.WriteString(repID)
			continue
		case "Number":
			v = number
		case "Time":
			v = time
		case "Bandwidth":
			v = uint64(bandwidth)
		default:
			return "", fmt.Errorf("unknown identifier $%.20s$", id)
		}
		width := 1
		if format != "" {
			// %0Nd, the one width format DASH allows.
			w, ok := strings.CutSuffix(strings.TrimPrefix(format, "0"), "d")
			n, err := strconv.Atoi(w)
			if !ok || !strings.HasPrefix(format, "0") || err != nil || n < 1 || n > 20 {
				return "", fmt.Errorf("bad format %%%.20s", format)
			}
			width = n
		}
		s := strconv.FormatUint(v, 10)
		for k := len(s); k < width; k++ {
			b.WriteByte('0')
		}
		b.WriteString(s)
	}
}

func checkTemplate(t string) error {
	if err := checkURL(t); err != nil {
		return err
	}
	_, err := Expand(t, "r", 1, 1, 1)
	return err
}

// checkURL accepts a non-empty URL reference without white space or control characters.
func checkURL(s string) error {
	if s == "" {
		return errors.New("empty URL")
	}
	if len(s) > 4096 {
		return errors.New("URL longer than 4096 bytes")
	}
	for _, c := range []byte(s) {
		if c <= ' ' || c == 0x7f || c == '"' || c == '<' || c == '>' {
			return fmt.Errorf("URL %.64q has a space, quote or control character", s)
		}
	}
	return nil
}

// checkToken accepts identifiers: pathway IDs (pathway.ValidID), 1 to 64 of [A-Za-z0-9._-].
func checkToken(s string) error {
	if !pathway.ValidID(s) {
		return fmt.Errorf("%.64q: 1 to 64 letters, digits, '.', '_' or '-'", s)
	}
	return nil
}
