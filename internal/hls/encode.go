package hls

import (
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
)

// appendFloat writes f as the shortest decimal that parses back to f.
func appendFloat(b []byte, f float64) []byte {
	return strconv.AppendFloat(b, f, 'f', -1, 64)
}

// Encode writes m as a multivariant playlist. It returns an error, and writes
// nothing, if m would produce an invalid playlist: no variants, a URI that is
// empty or contains a newline or other control character, a CODECS value
// containing a double quote, a non-positive BANDWIDTH, an invalid PATHWAY-ID,
// and so on.
func (m *Multivariant) Encode(w io.Writer) error { return encodeTo(w, m.append) }

// Bytes returns the encoded multivariant playlist, or nil if Encode would
// return an error.
func (m *Multivariant) Bytes() []byte { return bytesOf(m.append) }

func (m *Multivariant) append(b []byte) ([]byte, error) {
	if m == nil {
		return nil, errors.New("hls: nil multivariant playlist")
	}
	if len(m.Variants) == 0 {
		return nil, errors.New("hls: multivariant playlist has no variants")
	}
	if err := checkVersion(m.Version); err != nil {
		return nil, fmt.Errorf("hls: %v", err)
	}
	size := 256
	for i := range m.Variants {
		size += 160 + len(m.Variants[i].URI) + len(m.Variants[i].Codecs)
	}
	b = slices.Grow(b, size)
	b = append(b, "#EXTM3U\n"...)
	if m.Version != 0 {
		b = append(b, "#EXT-X-VERSION:"...)
		b = strconv.AppendInt(b, int64(m.Version), 10)
		b = append(b, '\n')
	}
	if m.IndependentSegments {
		b = append(b, "#EXT-X-INDEPENDENT-SEGMENTS\n"...)
	}
	if s := m.Steering; s != nil {
		if err := s.validate(); err != nil {
			return nil, fmt.Errorf("hls: EXT-X-CONTENT-STEERING: %v", err)
		}
		b = append(b, `#EXT-X-CONTENT-STEERING:SERVER-URI="`...)
		b = append(b, s.ServerURI...)
		b = append(b, '"')
		if s.PathwayID != "" {
			b = append(b, `,PATHWAY-ID="`...)
			b = append(b, s.PathwayID...)
			b = append(b, '"')
		}
		b = append(b, '\n')
	}
	for i := range m.Variants {
		v := &m.Variants[i]
		if err := v.validateAttrs(); err != nil {
			return nil, fmt.Errorf("hls: Variants[%d]: %v", i, err)
		}
		if err := checkURI(v.URI); err != nil {
			return nil, fmt.Errorf("hls: Variants[%d]: %v", i, err)
		}
		b = append(b, "#EXT-X-STREAM-INF:BANDWIDTH="...)
		b = strconv.AppendInt(b, v.Bandwidth, 10)
		if v.AverageBandwidth != 0 {
			b = append(b, ",AVERAGE-BANDWIDTH="...)
			b = strconv.AppendInt(b, v.AverageBandwidth, 10)
		}
		if v.Width != 0 {
			b = append(b, ",RESOLUTION="...)
			b = strconv.AppendInt(b, int64(v.Width), 10)
			b = append(b, 'x')
			b = strconv.AppendInt(b, int64(v.Height), 10)
		}
		if v.FrameRate != 0 {
			b = append(b, ",FRAME-RATE="...)
			b = appendFloat(b, v.FrameRate)
		}
		if v.Codecs != "" {
			b = append(b, `,CODECS="`...)
			b = append(b, v.Codecs...)
			b = append(b, '"')
		}
		if v.PathwayID != "" {
			b = append(b, `,PATHWAY-ID="`...)
			b = append(b, v.PathwayID...)
			b = append(b, '"')
		}
		if v.StableVariantID != "" {
			b = append(b, `,STABLE-VARIANT-ID="`...)
			b = append(b, v.StableVariantID...)
			b = append(b, '"')
		}
		b = append(b, '\n')
		b = append(b, v.URI...)
		b = append(b, '\n')
	}
	return b, nil
}

// Encode writes m as a media playlist. EXT-X-VERSION is written only when
// Version is non-zero, EXT-X-PLAYLIST-TYPE when PlaylistType is set,
// EXT-X-MEDIA-SEQUENCE always and EXT-X-ENDLIST when EndList is true. A zero
// TargetDuration is computed as math.Ceil of the longest segment duration
// (at least 1). Durations are written with strconv 'f' and precision -1
// (see the package documentation). Encode returns an error, and writes
// nothing, if m would produce an invalid playlist: a negative, NaN or
// infinite duration, a TargetDuration below a rounded segment duration, a URI
// that is empty or contains a newline or other control character, and so on.
func (m *Media) Encode(w io.Writer) error { return encodeTo(w, m.append) }

// Bytes returns the encoded media playlist, or nil if Encode would return an
// error.
func (m *Media) Bytes() []byte { return bytesOf(m.append) }

func (m *Media) append(b []byte) ([]byte, error) {
	if m == nil {
		return nil, errors.New("hls: nil media playlist")
	}
	if err := checkVersion(m.Version); err != nil {
		return nil, fmt.Errorf("hls: %v", err)
	}
	if m.MediaSequence < 0 {
		return nil, fmt.Errorf("hls: EXT-X-MEDIA-SEQUENCE %d is negative", m.MediaSequence)
	}
	if err := checkPlaylistType(m.PlaylistType); err != nil {
		return nil, fmt.Errorf("hls: %v", err)
	}
	if m.Map != "" {
		if err := checkQuoted("EXT-X-MAP URI", m.Map); err != nil {
			return nil, fmt.Errorf("hls: %v", err)
		}
	}
	maxDur, maxAt := 0.0, -1
	for i := range m.Segments {
		s := &m.Segments[i]
		if err := s.validateInf(); err != nil {
			return nil, fmt.Errorf("hls: Segments[%d]: %v", i, err)
		}
		if err := checkURI(s.URI); err != nil {
			return nil, fmt.Errorf("hls: Segments[%d]: %v", i, err)
		}
		if s.ByteRange != nil {
			if err := s.ByteRange.validate(); err != nil {
				return nil, fmt.Errorf("hls: Segments[%d]: %v", i, err)
			}
		}
		if s.Duration > maxDur {
			maxDur, maxAt = s.Duration, i
		}
	}
	target := m.TargetDuration
	if target == 0 {
		target = max(1, int(math.Ceil(maxDur)))
	} else if err := checkTargetDuration(target); err != nil {
		return nil, fmt.Errorf("hls: %v", err)
	} else if r := math.Round(maxDur); r > float64(target) {
		return nil, fmt.Errorf("hls: Segments[%d]: duration %v rounds to %v, above EXT-X-TARGETDURATION %d",
			maxAt, maxDur, r, target)
	}

	size := 160
	for i := range m.Segments {
		size += 64 + len(m.Segments[i].URI) + len(m.Segments[i].Title)
	}
	b = slices.Grow(b, size)
	b = append(b, "#EXTM3U\n"...)
	if m.Version != 0 {
		b = append(b, "#EXT-X-VERSION:"...)
		b = strconv.AppendInt(b, int64(m.Version), 10)
		b = append(b, '\n')
	}
	b = append(b, "#EXT-X-TARGETDURATION:"...)
	b = strconv.AppendInt(b, int64(target), 10)
	b = append(b, "\n#EXT-X-MEDIA-SEQUENCE:"...)
	b = strconv.AppendInt(b, m.MediaSequence, 10)
	b = append(b, '\n')
	if m.PlaylistType != "" {
		b = append(b, "#EXT-X-PLAYLIST-TYPE:"...)
		b = append(b, m.PlaylistType...)
		b = append(b, '\n')
	}
	if m.IndependentSegments {
		b = append(b, "#EXT-X-INDEPENDENT-SEGMENTS\n"...)
	}
	if m.Map != "" {
		b = append(b, `#EXT-X-MAP:URI="`...)
		b = append(b, m.Map...)
		b = append(b, "\"\n"...)
	}
	for i := range m.Segments {
		s := &m.Segments[i]
		b = append(b, "#EXTINF:"...)
		b = appendFloat(b, s.Duration)
		b = append(b, ',')
		b = append(b, s.Title...)
		b = append(b, '\n')
		if br := s.ByteRange; br != nil {
			b = append(b, "#EXT-X-BYTERANGE:"...)
			b = strconv.AppendInt(b, br.Length, 10)
			b = append(b, '@')
			b = strconv.AppendInt(b, br.Offset, 10)
			b = append(b, '\n')
		}
		b = append(b, s.URI...)
		b = append(b, '\n')
	}
	if m.EndList {
		b = append(b, "#EXT-X-ENDLIST\n"...)
	}
	return b, nil
}

// encodeTo writes what app encodes, or nothing when it fails.
func encodeTo(w io.Writer, app func([]byte) ([]byte, error)) error {
	b, err := app(nil)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// bytesOf is what app encodes, or nil when it fails.
func bytesOf(app func([]byte) ([]byte, error)) []byte {
	b, err := app(nil)
	if err != nil {
		return nil
	}
	return b
}
