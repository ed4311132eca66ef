// Package hls writes and parses the HLS playlists edgecdn serves (RFC 8216 and its draft successor, rfc8216bis).
//
// The same package is used by the packager (writing playlists), by the
// steering service (rewriting multivariant playlists to add content-steering
// pathways) and by the player simulator (parsing playlists downloaded from
// possibly hostile servers). The parser is therefore strict: it rejects
// malformed input with an error naming the offending line, never panics, and
// bounds its work (MaxPlaylistBytes, a line limit, and caps on numeric
// attribute values).
//
// Only the subset of HLS that edgecdn models is kept in the data structures.
// Unknown tags are ignored for forward compatibility, and known tags that are
// not modelled (EXT-X-MEDIA, EXT-X-KEY, ...) are used to tell the playlist
// kind and otherwise dropped. EXT-X-MAP (the init section of fragmented MP4
// segments) is modelled in its one-map form: a playlist with two maps, or a
// map with a BYTERANGE, is refused.
//
// # Number formatting
//
// Floating-point values (EXTINF durations and FRAME-RATE) are written with
// strconv.FormatFloat(v, 'f', -1, 64): the shortest decimal string that parses
// back to exactly the same float64, e.g. 4 is written "4" and 6.006 "6.006".
// This keeps playlists compact and makes Encode followed by Parse lossless.
//
// # Round trips
//
// Every playlist accepted by Parse encodes without error and parses back to
// an equal value. Every value accepted by Encode parses back to an equal
// value, except that Variant.Name is not part of the playlist, a zero
// Media.TargetDuration comes back computed, and an empty non-nil Segments
// slice comes back nil.
package hls

// MaxPlaylistBytes is the largest playlist, in bytes, the parsers accept.
const MaxPlaylistBytes = 4 << 20

// Limits that bound the parser's work and reject absurd values. They apply to
// the encoder too, so that everything that encodes also parses.
const (
	maxLines      = 1 << 19        // physical lines in a playlist
	maxAttributes = 64             // attributes in one attribute list
	maxNumberLen  = 40             // characters in a numeric attribute or EXTINF duration
	maxVersion    = 99             // EXT-X-VERSION
	maxBandwidth  = int64(1) << 40 // ~1.1 Tbit/s
	maxDimension  = 32768          // RESOLUTION width and height in pixels
	maxFrameRate  = 1000.0         // FRAME-RATE
	maxDuration   = 86400.0        // EXTINF seconds (one day)
	maxTargetDur  = 86400          // EXT-X-TARGETDURATION seconds
)

// Variant is one EXT-X-STREAM-INF entry of a multivariant playlist.
type Variant struct {
	// URI is the media playlist URI on the line following the tag.
	URI string
	// Bandwidth is BANDWIDTH, the peak bit rate in bits/s. It must be positive.
	Bandwidth int64
	// AverageBandwidth is AVERAGE-BANDWIDTH in bits/s; 0 omits it.
	AverageBandwidth int64
	// Width and Height are RESOLUTION in pixels; both 0 omits it.
	Width, Height int
	// Codecs is CODECS, e.g. "avc1.64001f,mp4a.40.2"; "" omits it.
	Codecs string
	// FrameRate is FRAME-RATE in frames/s; 0 omits it.
	FrameRate float64
	// PathwayID is PATHWAY-ID (content steering); "" omits it. It may only
	// contain ASCII letters, digits, '.', '-' and '_'.
	PathwayID string
	// Name is not a playlist attribute: it is the rendition's folder name,
	// filled in by callers. The parser sets it to "" and Encode ignores it.
	Name string
}

// ContentSteering is the EXT-X-CONTENT-STEERING tag of a multivariant
// playlist: #EXT-X-CONTENT-STEERING:SERVER-URI="...",PATHWAY-ID="...".
type ContentSteering struct {
	// ServerURI is SERVER-URI, the steering manifest URI. It is required.
	ServerURI string
	// PathwayID is PATHWAY-ID, the initial pathway; "" omits it.
	PathwayID string
}

// Multivariant is a multivariant (formerly "master") playlist.
type Multivariant struct {
	// Version is EXT-X-VERSION; 0 omits it.
	Version int
	// IndependentSegments is EXT-X-INDEPENDENT-SEGMENTS.
	IndependentSegments bool
	// Steering is EXT-X-CONTENT-STEERING; nil omits it.
	Steering *ContentSteering
	// Variants are the EXT-X-STREAM-INF entries, in playlist order. A
	// multivariant playlist has at least one.
	Variants []Variant
}

// Segment is one media segment of a media playlist.
type Segment struct {
	// URI is the segment URI.
	URI string
	// Duration is the EXTINF duration in seconds.
	Duration float64
	// Title is the optional EXTINF title (the text after the comma).
	Title string
	// ByteRange is EXT-X-BYTERANGE; nil omits it.
	ByteRange *ByteRange
}

// ByteRange is an EXT-X-BYTERANGE sub-range of a resource. The parser always
// resolves Offset, also when the tag omits it, and Encode always writes it.
type ByteRange struct {
	// Length is the sub-range length in bytes; it must be positive.
	Length int64
	// Offset is the sub-range start, in bytes from the start of the resource.
	Offset int64
}

// Media is a media playlist.
type Media struct {
	// Version is EXT-X-VERSION; 0 omits it. It is written as given: callers
	// pick a version that covers the features used (3 for non-integer
	// durations, 4 for EXT-X-BYTERANGE).
	Version int
	// TargetDuration is EXT-X-TARGETDURATION in integer seconds. It must be
	// at least every segment duration rounded to the nearest integer. When
	// encoding, 0 means compute it as math.Ceil of the longest segment
	// duration (at least 1).
	TargetDuration int
	// MediaSequence is EXT-X-MEDIA-SEQUENCE, always written.
	MediaSequence int64
	// PlaylistType is EXT-X-PLAYLIST-TYPE: "VOD", "EVENT" or "" to omit it.
	PlaylistType string
	// IndependentSegments is EXT-X-INDEPENDENT-SEGMENTS.
	IndependentSegments bool
	// Map is the URI of EXT-X-MAP, the init section every segment needs
	// (fragmented MP4, version 6 or later: callers pick 7); "" omits it. It
	// is written before the first segment.
	Map string
	// Segments are the media segments in playlist order.
	Segments []Segment
	// EndList is EXT-X-ENDLIST.
	EndList bool
}
