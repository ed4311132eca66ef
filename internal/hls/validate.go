package hls

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The checks in this file are shared by the encoder and the parser, so that
// every playlist Encode writes parses back, and every playlist Parse accepts
// encodes again.

// clip quotes s for an error message, shortened so that hostile input cannot
// blow up error strings.
func clip(s string) string {
	const n = 48
	if len(s) > n {
		i := n
		for i > 0 && !utf8.RuneStart(s[i]) {
			i--
		}
		return strconv.Quote(s[:i]) + "..."
	}
	return strconv.Quote(s)
}

// checkText reports whether s is valid UTF-8 without control characters.
// RFC 8216 section 4.1 forbids U+0000-U+001F and U+007F-U+009F in playlists
// (CR and LF only appear as line terminators).
func checkText(s string) error {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f {
				return fmt.Errorf("control character %q at byte %d", c, i)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			return fmt.Errorf("invalid UTF-8 at byte %d", i)
		}
		if r >= 0x80 && r <= 0x9f {
			return fmt.Errorf("control character %U at byte %d", r, i)
		}
		i += size
	}
	return nil
}

// checkURI validates a URI line.
func checkURI(s string) error {
	if s == "" {
		return errors.New("empty URI")
	}
	if err := checkText(s); err != nil {
		return fmt.Errorf("URI %s: %v", clip(s), err)
	}
	if s[0] == '#' {
		return fmt.Errorf("URI %s starts with '#'", clip(s))
	}
	if s[0] == ' ' || s[len(s)-1] == ' ' {
		return fmt.Errorf("URI %s has leading or trailing space", clip(s))
	}
	return nil
}

// checkQuoted validates the contents of a quoted-string attribute.
func checkQuoted(name, s string) error {
	if err := checkText(s); err != nil {
		return fmt.Errorf("%s %s: %v", name, clip(s), err)
	}
	for i := 0; i < len(s); i++ {
		if s[i] == '"' {
			return fmt.Errorf("%s %s contains a double quote", name, clip(s))
		}
	}
	return nil
}

// checkPathwayID validates a non-empty PATHWAY-ID: rfc8216bis restricts it
// to [a-z], [A-Z], [0-9], '.', '-' and '_'.
func checkPathwayID(s string) error {
	if s == "" {
		return errors.New("empty PATHWAY-ID")
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == '_') {
			return fmt.Errorf("PATHWAY-ID %s has invalid character %q", clip(s), c)
		}
	}
	return nil
}

func checkVersion(v int) error {
	if v < 0 || v > maxVersion {
		return fmt.Errorf("EXT-X-VERSION %d out of range [1, %d]", v, maxVersion)
	}
	return nil
}

// validateAttrs checks everything but the URI of a variant.
func (v *Variant) validateAttrs() error {
	if v.Bandwidth <= 0 || v.Bandwidth > maxBandwidth {
		return fmt.Errorf("BANDWIDTH %d out of range [1, %d]", v.Bandwidth, maxBandwidth)
	}
	if v.AverageBandwidth < 0 || v.AverageBandwidth > maxBandwidth {
		return fmt.Errorf("AVERAGE-BANDWIDTH %d out of range [0, %d]", v.AverageBandwidth, maxBandwidth)
	}
	if v.Width != 0 || v.Height != 0 {
		if v.Width <= 0 || v.Width > maxDimension || v.Height <= 0 || v.Height > maxDimension {
			return fmt.Errorf("RESOLUTION %dx%d out of range [1, %d]", v.Width, v.Height, maxDimension)
		}
	}
	if err := checkQuoted("CODECS", v.Codecs); err != nil {
		return err
	}
	if math.IsNaN(v.FrameRate) || v.FrameRate < 0 || v.FrameRate > maxFrameRate {
		return fmt.Errorf("FRAME-RATE %v out of range [0, %v]", v.FrameRate, maxFrameRate)
	}
	if v.PathwayID != "" {
		if err := checkPathwayID(v.PathwayID); err != nil {
			return err
		}
	}
	if v.StableVariantID != "" {
		if err := CheckStableID(v.StableVariantID); err != nil {
			return err
		}
	}
	return nil
}

// CheckStableID validates a STABLE-VARIANT-ID or STABLE-RENDITION-ID: rfc8216bis allows
// [a-zA-Z0-9], '+', '/', '=', '.', '-' and '_'.
func CheckStableID(s string) error {
	if s == "" {
		return errors.New("empty stable ID")
	}
	if len(s) > 256 {
		return fmt.Errorf("stable ID %s longer than 256 bytes", clip(s))
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("+/=.-_", c) >= 0) {
			return fmt.Errorf("stable ID %s has invalid character %q", clip(s), c)
		}
	}
	return nil
}

func (s *ContentSteering) validate() error {
	if s.ServerURI == "" {
		return errors.New("missing SERVER-URI")
	}
	if err := checkQuoted("SERVER-URI", s.ServerURI); err != nil {
		return err
	}
	if s.PathwayID != "" {
		return checkPathwayID(s.PathwayID)
	}
	return nil
}

func checkDuration(d float64) error {
	if math.IsNaN(d) || math.Signbit(d) || d > maxDuration {
		return fmt.Errorf("duration %v out of range [0, %v]", d, maxDuration)
	}
	return nil
}

// checkTitle validates an EXTINF title. The parser trims trailing spaces
// from lines, so a title cannot end in one.
func checkTitle(t string) error {
	if err := checkText(t); err != nil {
		return fmt.Errorf("title %s: %v", clip(t), err)
	}
	if t != "" && t[len(t)-1] == ' ' {
		return fmt.Errorf("title %s has trailing space", clip(t))
	}
	return nil
}

func (br *ByteRange) validate() error {
	if br.Length <= 0 {
		return fmt.Errorf("byte range length %d is not positive", br.Length)
	}
	if br.Offset < 0 || br.Offset > math.MaxInt64-br.Length {
		return fmt.Errorf("byte range offset %d out of range", br.Offset)
	}
	return nil
}

// validateInf checks a segment's EXTINF values (duration and title).
func (s *Segment) validateInf() error {
	if err := checkDuration(s.Duration); err != nil {
		return err
	}
	return checkTitle(s.Title)
}

func checkTargetDuration(t int) error {
	if t < 1 || t > maxTargetDur {
		return fmt.Errorf("EXT-X-TARGETDURATION %d out of range [1, %d]", t, maxTargetDur)
	}
	return nil
}

func checkPlaylistType(t string) error {
	if t != "" && t != "VOD" && t != "EVENT" {
		return fmt.Errorf("EXT-X-PLAYLIST-TYPE %s is not VOD or EVENT", clip(t))
	}
	return nil
}
