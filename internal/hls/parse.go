package hls

import (
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// ParseMultivariant parses a multivariant playlist. It fails on media
// playlists, on malformed input and on input larger than MaxPlaylistBytes.
func ParseMultivariant(r io.Reader) (*Multivariant, error) {
	mv, _, err := parse(r, kindMultivariant)
	return mv, err
}

// ParseMedia parses a media playlist. It fails on multivariant playlists, on
// malformed input and on input larger than MaxPlaylistBytes.
func ParseMedia(r io.Reader) (*Media, error) {
	_, m, err := parse(r, kindMedia)
	return m, err
}

// Parse parses a playlist of either kind, telling them apart by their tags.
// On success exactly one of the results is non-nil.
//
// Parse reads at most MaxPlaylistBytes+1 bytes from r. The first line must be
// #EXTM3U (a UTF-8 byte order mark and CRLF line ends are accepted). Unknown
// tags and comments are ignored; a malformed known tag is an error naming
// its line, e.g. `hls: line 7: EXTINF: bad duration "abc"`.
func Parse(r io.Reader) (*Multivariant, *Media, error) {
	return parse(r, kindUnknown)
}

type kind int

const (
	kindUnknown kind = iota
	kindMultivariant
	kindMedia
)

func (k kind) String() string {
	switch k {
	case kindMultivariant:
		return "multivariant"
	case kindMedia:
		return "media"
	}
	return "unknown"
}

// attr is one AttributeName=AttributeValue pair; value excludes the quotes of
// a quoted string.
type attr struct {
	name, value string
	quoted      bool
}

type parser struct {
	line int  // current line number, 1-based
	kind kind // wanted or detected kind; kindUnknown until a kind-specific tag

	attrs [maxAttributes]attr
	nattr int

	version             int
	independentSegments bool

	// Multivariant.
	steering       *ContentSteering
	variants       []Variant
	pendingVariant bool
	variant        Variant
	variantLine    int

	// Media.
	target, targetLine int
	seq                int64
	sawSeq, sawType    bool
	playlistType       string
	endList            bool
	mapURI             string
	segments           []Segment
	pendingInf         bool
	inf                Segment
	infLine            int
	pendingRange       bool
	rangeLen, rangeOff int64
	rangeHasOff        bool
	rangeLine          int
	maxDur             float64
	maxDurLine         int
}

func parse(r io.Reader, want kind) (*Multivariant, *Media, error) {
	if r == nil {
		return nil, nil, errors.New("hls: nil reader")
	}
	data, err := io.ReadAll(io.LimitReader(r, MaxPlaylistBytes+1))
	if err != nil {
		return nil, nil, fmt.Errorf("hls: reading playlist: %w", err)
	}
	if len(data) > MaxPlaylistBytes {
		return nil, nil, fmt.Errorf("hls: playlist larger than %d bytes", MaxPlaylistBytes)
	}
	p := &parser{kind: want}
	if err := p.run(string(data)); err != nil {
		return nil, nil, err
	}
	return p.finish()
}

func (p *parser) errf(format string, args ...any) error {
	return fmt.Errorf("hls: line %d: "+format, append([]any{p.line}, args...)...)
}

func (p *parser) run(s string) error {
	s = strings.TrimPrefix(s, "\ufeff")
	if s == "" {
		return errors.New("hls: empty playlist")
	}
	if n := strings.Count(s, "#EXTINF"); n > 0 && p.kind != kindMultivariant {
		// Capped so that hostile input cannot make us preallocate much.
		p.segments = make([]Segment, 0, min(n, 4096))
	}
	for len(s) > 0 {
		var line string
		if i := strings.IndexByte(s, '\n'); i >= 0 {
			line, s = s[:i], s[i+1:]
		} else {
			line, s = s, ""
		}
		p.line++
		if p.line > maxLines {
			return fmt.Errorf("hls: playlist has more than %d lines", maxLines)
		}
		line = strings.TrimSuffix(line, "\r")
		if p.line == 1 {
			if strings.TrimRight(line, " ") != "#EXTM3U" {
				return p.errf("missing #EXTM3U header, got %s", clip(line))
			}
			continue
		}
		if err := checkText(line); err != nil {
			return p.errf("%v", err)
		}
		line = strings.Trim(line, " ")
		switch {
		case line == "":
		case strings.HasPrefix(line, "#EXT"):
			if err := p.tag(line); err != nil {
				return err
			}
		case line[0] == '#': // comment
		default:
			if err := p.uri(line); err != nil {
				return err
			}
		}
	}
	return nil
}

// setKind records that tag belongs to a playlist of kind k.
func (p *parser) setKind(tag string, k kind) error {
	if p.kind == kindUnknown {
		p.kind = k
	} else if p.kind != k {
		return p.errf("%s: %s playlist tag in a %s playlist", tag, k, p.kind)
	}
	return nil
}

func (p *parser) tag(line string) error {
	name, value, hasValue := strings.Cut(line[1:], ":")
	if p.pendingVariant {
		return fmt.Errorf("hls: line %d: EXT-X-STREAM-INF: not followed by a URI line (found %s on line %d)",
			p.variantLine, clip(name), p.line)
	}
	noValue := func() error {
		if hasValue {
			return p.errf("%s: unexpected value %s", name, clip(value))
		}
		return nil
	}
	needValue := func() error {
		if !hasValue || value == "" {
			return p.errf("%s: missing value", name)
		}
		return nil
	}
	switch name {
	case "EXTM3U":
		return p.errf("EXTM3U: duplicate header")

	case "EXT-X-VERSION":
		if err := needValue(); err != nil {
			return err
		}
		if p.version != 0 {
			return p.errf("%s: duplicate tag", name)
		}
		v, ok := parseInt(value)
		if !ok || v < 1 || v > maxVersion {
			return p.errf("%s: bad version %s", name, clip(value))
		}
		p.version = int(v)

	case "EXT-X-INDEPENDENT-SEGMENTS":
		if err := noValue(); err != nil {
			return err
		}
		p.independentSegments = true

	// Multivariant playlist tags.
	case "EXT-X-STREAM-INF":
		if err := p.setKind(name, kindMultivariant); err != nil {
			return err
		}
		return p.streamInf(name, value, hasValue)
	case "EXT-X-CONTENT-STEERING":
		if err := p.setKind(name, kindMultivariant); err != nil {
			return err
		}
		return p.contentSteering(name, value, hasValue)
	case "EXT-X-MEDIA", "EXT-X-I-FRAME-STREAM-INF", "EXT-X-SESSION-DATA", "EXT-X-SESSION-KEY":
		// Not modelled: syntax-checked and dropped.
		if err := p.setKind(name, kindMultivariant); err != nil {
			return err
		}
		if err := needValue(); err != nil {
			return err
		}
		return p.parseAttrs(name, value)

	// Media playlist tags.
	case "EXTINF":
		if err := p.setKind(name, kindMedia); err != nil {
			return err
		}
		if err := needValue(); err != nil {
			return err
		}
		return p.extinf(name, value)
	case "EXT-X-BYTERANGE":
		if err := p.setKind(name, kindMedia); err != nil {
			return err
		}
		if err := needValue(); err != nil {
			return err
		}
		return p.byteRange(name, value)
	case "EXT-X-TARGETDURATION":
		if err := p.setKind(name, kindMedia); err != nil {
			return err
		}
		if err := needValue(); err != nil {
			return err
		}
		if p.targetLine != 0 {
			return p.errf("%s: duplicate tag", name)
		}
		v, ok := parseInt(value)
		if !ok {
			return p.errf("%s: bad duration %s", name, clip(value))
		}
		if v < 1 || v > maxTargetDur {
			return p.errf("%s: %d out of range [1, %d]", name, v, maxTargetDur)
		}
		p.target, p.targetLine = int(v), p.line
	case "EXT-X-MEDIA-SEQUENCE":
		if err := p.setKind(name, kindMedia); err != nil {
			return err
		}
		if err := needValue(); err != nil {
			return err
		}
		if p.sawSeq {
			return p.errf("%s: duplicate tag", name)
		}
		if len(p.segments) > 0 || p.pendingInf {
			return p.errf("%s: must appear before the first segment", name)
		}
		v, ok := parseInt(value)
		if !ok {
			return p.errf("%s: bad sequence number %s", name, clip(value))
		}
		p.seq, p.sawSeq = v, true
	case "EXT-X-PLAYLIST-TYPE":
		if err := p.setKind(name, kindMedia); err != nil {
			return err
		}
		if err := needValue(); err != nil {
			return err
		}
		if p.sawType {
			return p.errf("%s: duplicate tag", name)
		}
		if err := checkPlaylistType(value); err != nil {
			return p.errf("%s: %v", name, err)
		}
		p.playlistType, p.sawType = value, true
	case "EXT-X-ENDLIST":
		if err := p.setKind(name, kindMedia); err != nil {
			return err
		}
		if err := noValue(); err != nil {
			return err
		}
		p.endList = true
	case "EXT-X-MAP":
		if err := p.setKind(name, kindMedia); err != nil {
			return err
		}
		if err := needValue(); err != nil {
			return err
		}
		return p.mapTag(name, value)
	case "EXT-X-KEY", "EXT-X-DATERANGE":
		// Not modelled: syntax-checked and dropped.
		if err := p.setKind(name, kindMedia); err != nil {
			return err
		}
		if err := needValue(); err != nil {
			return err
		}
		return p.parseAttrs(name, value)
	case "EXT-X-DISCONTINUITY", "EXT-X-DISCONTINUITY-SEQUENCE", "EXT-X-PROGRAM-DATE-TIME",
		"EXT-X-I-FRAMES-ONLY", "EXT-X-GAP", "EXT-X-BITRATE", "EXT-X-PART", "EXT-X-PART-INF",
		"EXT-X-SERVER-CONTROL", "EXT-X-SKIP", "EXT-X-PRELOAD-HINT", "EXT-X-RENDITION-REPORT":
		// Not modelled: only tell the playlist kind.
		return p.setKind(name, kindMedia)
	}
	// Unknown tags are ignored for forward compatibility.
	return nil
}

// mapTag reads EXT-X-MAP:URI="...": one map before the first segment, without BYTERANGE.
func (p *parser) mapTag(name, value string) error {
	if p.mapURI != "" {
		return p.errf("%s: a second map (one init section per playlist is supported)", name)
	}
	if len(p.segments) > 0 || p.pendingInf {
		return p.errf("%s: must appear before the first segment", name)
	}
	if err := p.parseAttrs(name, value); err != nil {
		return err
	}
	for _, a := range p.attrs[:p.nattr] {
		switch a.name {
		case "URI":
			v, err := p.quotedAttr(name, a)
			if err != nil {
				return err
			}
			if err := checkQuoted("URI", v); err != nil || v == "" {
				return p.errf("%s: bad URI %s", name, clip(v))
			}
			p.mapURI = v
		case "BYTERANGE":
			return p.errf("%s: BYTERANGE is not supported", name)
		}
	}
	if p.mapURI == "" {
		return p.errf("%s: no URI", name)
	}
	return nil
}

func (p *parser) streamInf(name, value string, hasValue bool) error {
	if !hasValue || value == "" {
		return p.errf("%s: missing attributes", name)
	}
	if err := p.parseAttrs(name, value); err != nil {
		return err
	}
	v := Variant{}
	sawBandwidth := false
	for _, a := range p.attrs[:p.nattr] {
		var err error
		switch a.name {
		case "BANDWIDTH":
			v.Bandwidth, err = p.intAttr(name, a)
			sawBandwidth = true
		case "AVERAGE-BANDWIDTH":
			v.AverageBandwidth, err = p.intAttr(name, a)
		case "RESOLUTION":
			v.Width, v.Height, err = p.resolutionAttr(name, a)
		case "FRAME-RATE":
			v.FrameRate, err = p.floatAttr(name, a)
		case "CODECS":
			v.Codecs, err = p.quotedAttr(name, a)
		case "PATHWAY-ID":
			v.PathwayID, err = p.quotedAttr(name, a)
			if err == nil {
				if err = checkPathwayID(v.PathwayID); err != nil {
					err = p.errf("%s: %v", name, err)
				}
			}
		}
		if err != nil {
			return err
		}
	}
	if !sawBandwidth {
		return p.errf("%s: missing BANDWIDTH", name)
	}
	if err := v.validateAttrs(); err != nil {
		return p.errf("%s: %v", name, err)
	}
	p.variant, p.pendingVariant, p.variantLine = v, true, p.line
	return nil
}

func (p *parser) contentSteering(name, value string, hasValue bool) error {
	if !hasValue || value == "" {
		return p.errf("%s: missing attributes", name)
	}
	if p.steering != nil {
		return p.errf("%s: duplicate tag", name)
	}
	if err := p.parseAttrs(name, value); err != nil {
		return err
	}
	s := &ContentSteering{}
	sawURI := false
	for _, a := range p.attrs[:p.nattr] {
		var err error
		switch a.name {
		case "SERVER-URI":
			s.ServerURI, err = p.quotedAttr(name, a)
			sawURI = true
		case "PATHWAY-ID":
			s.PathwayID, err = p.quotedAttr(name, a)
			if err == nil && s.PathwayID == "" {
				err = p.errf("%s: empty PATHWAY-ID", name)
			}
		}
		if err != nil {
			return err
		}
	}
	if !sawURI {
		return p.errf("%s: missing SERVER-URI", name)
	}
	if err := s.validate(); err != nil {
		return p.errf("%s: %v", name, err)
	}
	p.steering = s
	return nil
}

func (p *parser) extinf(name, value string) error {
	if p.pendingInf {
		return p.errf("%s: previous EXTINF on line %d has no URI", name, p.infLine)
	}
	durStr, title, _ := strings.Cut(value, ",")
	d, ok := parseFloat(durStr)
	if !ok {
		return p.errf("%s: bad duration %s", name, clip(durStr))
	}
	seg := Segment{Duration: d, Title: title}
	if err := seg.validateInf(); err != nil {
		return p.errf("%s: %v", name, err)
	}
	p.inf, p.pendingInf, p.infLine = seg, true, p.line
	return nil
}

func (p *parser) byteRange(name, value string) error {
	if p.pendingRange {
		return p.errf("%s: previous EXT-X-BYTERANGE on line %d has no URI", name, p.rangeLine)
	}
	lenStr, offStr, hasOff := strings.Cut(value, "@")
	n, ok := parseInt(lenStr)
	if !ok {
		return p.errf("%s: bad length %s", name, clip(lenStr))
	}
	var off int64
	if hasOff {
		if off, ok = parseInt(offStr); !ok {
			return p.errf("%s: bad offset %s", name, clip(offStr))
		}
	}
	br := ByteRange{Length: n, Offset: off}
	if err := br.validate(); err != nil {
		return p.errf("%s: %v", name, err)
	}
	p.pendingRange, p.rangeLen, p.rangeOff, p.rangeHasOff, p.rangeLine = true, n, off, hasOff, p.line
	return nil
}

func (p *parser) uri(line string) error {
	if err := checkURI(line); err != nil {
		return p.errf("%v", err)
	}
	switch {
	case p.pendingVariant:
		v := p.variant
		v.URI = line
		p.variants = append(p.variants, v)
		p.pendingVariant = false
		return nil
	case p.pendingInf:
		seg := p.inf
		seg.URI = line
		if p.pendingRange {
			br := &ByteRange{Length: p.rangeLen, Offset: p.rangeOff}
			if !p.rangeHasOff {
				// The sub-range starts after the previous segment's, which
				// must be a sub-range of the same resource.
				n := len(p.segments)
				if n == 0 || p.segments[n-1].ByteRange == nil || p.segments[n-1].URI != line {
					return fmt.Errorf("hls: line %d: EXT-X-BYTERANGE: no offset and the previous segment is not a sub-range of %s",
						p.rangeLine, clip(line))
				}
				prev := p.segments[n-1].ByteRange
				br.Offset = prev.Offset + prev.Length
			}
			if err := br.validate(); err != nil {
				return fmt.Errorf("hls: line %d: EXT-X-BYTERANGE: %v", p.rangeLine, err)
			}
			seg.ByteRange = br
			p.pendingRange = false
		}
		if seg.Duration > p.maxDur {
			p.maxDur, p.maxDurLine = seg.Duration, p.infLine
		}
		p.segments = append(p.segments, seg)
		p.pendingInf = false
		return nil
	case p.pendingRange:
		return fmt.Errorf("hls: line %d: EXT-X-BYTERANGE: segment URI on line %d has no EXTINF", p.rangeLine, p.line)
	}
	return p.errf("URI %s not preceded by EXTINF or EXT-X-STREAM-INF", clip(line))
}

func (p *parser) finish() (*Multivariant, *Media, error) {
	switch {
	case p.pendingVariant:
		return nil, nil, fmt.Errorf("hls: line %d: EXT-X-STREAM-INF: not followed by a URI line", p.variantLine)
	case p.pendingInf:
		return nil, nil, fmt.Errorf("hls: line %d: EXTINF: not followed by a URI line", p.infLine)
	case p.pendingRange:
		return nil, nil, fmt.Errorf("hls: line %d: EXT-X-BYTERANGE: not followed by a segment", p.rangeLine)
	}
	switch p.kind {
	case kindMultivariant:
		if len(p.variants) == 0 {
			return nil, nil, errors.New("hls: multivariant playlist has no EXT-X-STREAM-INF variants")
		}
		return &Multivariant{
			Version:             p.version,
			IndependentSegments: p.independentSegments,
			Steering:            p.steering,
			Variants:            p.variants,
		}, nil, nil
	case kindMedia:
		if p.targetLine == 0 {
			return nil, nil, errors.New("hls: media playlist has no EXT-X-TARGETDURATION")
		}
		if r := math.Round(p.maxDur); r > float64(p.target) {
			return nil, nil, fmt.Errorf("hls: line %d: EXTINF: duration %v rounds to %v, above EXT-X-TARGETDURATION %d (line %d)",
				p.maxDurLine, p.maxDur, r, p.target, p.targetLine)
		}
		segs := p.segments
		if len(segs) == 0 {
			segs = nil
		}
		return nil, &Media{
			Version:             p.version,
			TargetDuration:      p.target,
			MediaSequence:       p.seq,
			PlaylistType:        p.playlistType,
			IndependentSegments: p.independentSegments,
			Map:                 p.mapURI,
			Segments:            segs,
			EndList:             p.endList,
		}, nil
	}
	return nil, nil, errors.New("hls: neither a multivariant nor a media playlist (no EXT-X-STREAM-INF or EXT-X-TARGETDURATION)")
}

// parseAttrs parses an attribute list (RFC 8216 section 4.2) into p.attrs.
// Spaces after a separating comma are tolerated.
func (p *parser) parseAttrs(tag, s string) error {
	p.nattr = 0
	for {
		s = strings.TrimLeft(s, " ")
		i := 0
		for i < len(s) && (s[i] >= 'A' && s[i] <= 'Z' || s[i] >= '0' && s[i] <= '9' || s[i] == '-') {
			i++
		}
		if i == 0 {
			return p.errf("%s: bad attribute name at %s", tag, clip(s))
		}
		if i == len(s) || s[i] != '=' {
			return p.errf("%s: attribute %s has no value", tag, clip(s[:i]))
		}
		a := attr{name: s[:i]}
		s = s[i+1:]
		if strings.HasPrefix(s, `"`) {
			end := strings.IndexByte(s[1:], '"')
			if end < 0 {
				return p.errf("%s: %s: unterminated quoted string", tag, a.name)
			}
			a.value, a.quoted, s = s[1:1+end], true, s[2+end:]
			if s != "" && s[0] != ',' {
				return p.errf("%s: %s: unexpected %s after quoted string", tag, a.name, clip(s))
			}
		} else {
			end := strings.IndexByte(s, ',')
			if end < 0 {
				end = len(s)
			}
			a.value, s = s[:end], s[end:]
			if a.value == "" {
				return p.errf("%s: %s: empty value", tag, a.name)
			}
			if strings.ContainsAny(a.value, "\" ") {
				return p.errf("%s: %s: bad unquoted value %s", tag, a.name, clip(a.value))
			}
		}
		for _, b := range p.attrs[:p.nattr] {
			if b.name == a.name {
				return p.errf("%s: duplicate attribute %s", tag, a.name)
			}
		}
		if p.nattr == maxAttributes {
			return p.errf("%s: more than %d attributes", tag, maxAttributes)
		}
		p.attrs[p.nattr] = a
		p.nattr++
		if s == "" {
			return nil
		}
		s = s[1:] // the comma
		if s == "" {
			return p.errf("%s: trailing comma", tag)
		}
	}
}

func (p *parser) intAttr(tag string, a attr) (int64, error) {
	if a.quoted {
		return 0, p.errf("%s: %s must not be quoted", tag, a.name)
	}
	v, ok := parseInt(a.value)
	if !ok {
		return 0, p.errf("%s: bad %s %s", tag, a.name, clip(a.value))
	}
	return v, nil
}

func (p *parser) floatAttr(tag string, a attr) (float64, error) {
	if a.quoted {
		return 0, p.errf("%s: %s must not be quoted", tag, a.name)
	}
	v, ok := parseFloat(a.value)
	if !ok {
		return 0, p.errf("%s: bad %s %s", tag, a.name, clip(a.value))
	}
	return v, nil
}

func (p *parser) quotedAttr(tag string, a attr) (string, error) {
	if !a.quoted {
		return "", p.errf("%s: %s must be a quoted string", tag, a.name)
	}
	return a.value, nil
}

func (p *parser) resolutionAttr(tag string, a attr) (w, h int, err error) {
	ws, hs, ok := strings.Cut(a.value, "x")
	var wv, hv int64
	if !a.quoted && ok {
		wv, ok = parseInt(ws)
		if ok {
			hv, ok = parseInt(hs)
		}
	}
	if a.quoted || !ok || wv < 1 || wv > maxDimension || hv < 1 || hv > maxDimension {
		return 0, 0, p.errf("%s: bad RESOLUTION %s", tag, clip(a.value))
	}
	return int(wv), int(hv), nil
}

// parseInt parses a decimal-integer: ASCII digits only, no sign, at most
// maxNumberLen characters, fitting an int64.
func parseInt(s string) (int64, bool) {
	if s == "" || len(s) > maxNumberLen {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		d := int64(c - '0')
		if n > (math.MaxInt64-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

// parseFloat parses a decimal-floating-point: ASCII digits with at most one
// '.', no sign or exponent, at most maxNumberLen characters.
func parseFloat(s string) (float64, bool) {
	if s == "" || len(s) > maxNumberLen {
		return 0, false
	}
	digits, dots := 0, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '.':
			dots++
		default:
			return 0, false
		}
	}
	if digits == 0 || dots > 1 {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, false
	}
	return f, true
}
