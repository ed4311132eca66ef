package fmp4

import (
	"encoding/binary"
	"fmt"
	"slices"
)

// Box is one parsed box: its type, where its body lies in the file, and its children when it
// is a container this package knows.
type Box struct {
	Type     string
	Offset   int64 // of the box header, from the start of the file
	Size     int64 // whole box, header included
	Body     []byte
	Children []Box
}

// containers are the box types whose bodies are boxes.
var containers = map[string]bool{
	"moov": true, "trak": true, "mdia": true, "minf": true, "dinf": true, "stbl": true,
	"mvex": true, "moof": true, "traf": true, "edts": true, "udta": true,
}

// maxDepth and maxBoxes bound the parser's work on hostile input.
const (
	maxDepth = 8
	maxBoxes = 1 << 16
)

// Parse splits b into its top-level boxes, descending into known containers. It refuses a
// box that runs past its parent, a size under its header, 64-bit sizes beyond the input, and
// nesting or box counts past fixed bounds.
func Parse(b []byte) ([]Box, error) {
	count := 0
	return parseBoxes(b, 0, 0, &count)
}

func parseBoxes(b []byte, base int64, depth int, count *int) ([]Box, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("fmp4: boxes nested deeper than %d", maxDepth)
	}
	var out []Box
	for off := 0; off < len(b); {
		if *count++; *count > maxBoxes {
			return nil, fmt.Errorf("fmp4: more than %d boxes", maxBoxes)
		}
		if len(b)-off < 8 {
			return nil, fmt.Errorf("fmp4: %d stray bytes at offset %d", len(b)-off, base+int64(off))
		}
		size := uint64(binary.BigEndian.Uint32(b[off:]))
		typ := string(b[off+4 : off+8])
		if !printable(typ) {
			return nil, fmt.Errorf("fmp4: bad box type %q at offset %d", typ, base+int64(off))
		}
		hdr := uint64(8)
		switch size {
		case 0: // to the end of the file
			size = uint64(len(b) - off)
		case 1:
			if len(b)-off < 16 {
				return nil, fmt.Errorf("fmp4: %s at offset %d: %w", typ, base+int64(off), ErrShort)
			}
			size, hdr = binary.BigEndian.Uint64(b[off+8:]), 16
		}
		if size < hdr || size > uint64(len(b)-off) {
			return nil, fmt.Errorf("fmp4: %s at offset %d: size %d, %d bytes left: %w", typ, base+int64(off), size, len(b)-off, ErrShort)
		}
		bx := Box{Type: typ, Offset: base + int64(off), Size: int64(size), Body: b[off+int(hdr) : off+int(size)]}
		if containers[typ] {
			kids, err := parseBoxes(bx.Body, bx.Offset+int64(hdr), depth+1, count)
			if err != nil {
				return nil, err
			}
			bx.Children = kids
		}
		out = append(out, bx)
		off += int(size)
	}
	return out, nil
}

func printable(s string) bool {
	for _, c := range []byte(s) {
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}

// Find returns the first box of the path of types below boxes ("moov", "trak", "tkhd"), or nil.
func Find(boxes []Box, path ...string) *Box {
	for i := range boxes {
		if boxes[i].Type != path[0] {
			continue
		}
		if len(path) == 1 {
			return &boxes[i]
		}
		if f := Find(boxes[i].Children, path[1:]...); f != nil {
			return f
		}
	}
	return nil
}

// InitInfo is what CheckInit reads from an init segment.
type InitInfo struct {
	Brand     string
	TrackID   uint32
	Timescale uint32
	Handler   string // "vide", "soun", ...
	Tracks    int
}

// CheckInit checks an init segment: ftyp first, a moov with mvhd, at least one trak with
// tkhd and mdia/mdhd/hdlr, an mvex with a trex per track, and no media data (moof, mdat).
// It returns the first track's identity.
func CheckInit(b []byte) (InitInfo, error) {
	var info InitInfo
	boxes, err := Parse(b)
	if err != nil {
		return info, err
	}
	if len(boxes) == 0 || boxes[0].Type != "ftyp" || len(boxes[0].Body) < 8 {
		return info, fmt.Errorf("fmp4: init segment does not start with ftyp")
	}
	info.Brand = string(boxes[0].Body[:4])
	for _, bx := range boxes {
		if bx.Type == "moof" || bx.Type == "mdat" {
			return info, fmt.Errorf("fmp4: init segment holds %s", bx.Type)
		}
	}
	moov := Find(boxes, "moov")
	if moov == nil || Find(moov.Children, "mvhd") == nil {
		return info, fmt.Errorf("fmp4: init segment has no moov/mvhd")
	}
	trexes := 0
	if mvex := Find(moov.Children, "mvex"); mvex != nil {
		for _, c := range mvex.Children {
			if c.Type == "trex" {
				trexes++
			}
		}
	}
	for _, trak := range moov.Children {
		if trak.Type != "trak" {
			continue
		}
		info.Tracks++
		tkhd := Find(trak.Children, "tkhd")
		mdhd := Find(trak.Children, "mdia", "mdhd")
		hdlr := Find(trak.Children, "mdia", "hdlr")
		if tkhd == nil || mdhd == nil || hdlr == nil || len(hdlr.Body) < 12 {
			return info, fmt.Errorf("fmp4: trak %d lacks tkhd, mdhd or hdlr", info.Tracks)
		}
		id, ok := tkhdTrackID(tkhd.Body)
		ts, ok2 := mdhdTimescale(mdhd.Body)
		if !ok || !ok2 || id == 0 || ts == 0 {
			return info, fmt.Errorf("fmp4: trak %d: bad tkhd or mdhd", info.Tracks)
		}
		if info.Tracks == 1 {
			info.TrackID, info.Timescale, info.Handler = id, ts, string(hdlr.Body[8:12])
		}
	}
	if info.Tracks == 0 {
		return info, fmt.Errorf("fmp4: init segment has no trak")
	}
	if trexes < info.Tracks {
		return info, fmt.Errorf("fmp4: %d tracks but %d trex in mvex: not a fragmented file", info.Tracks, trexes)
	}
	return info, nil
}

func tkhdTrackID(b []byte) (uint32, bool) {
	switch {
	case len(b) >= 24 && b[0] == 1:
		return binary.BigEndian.Uint32(b[20:]), true
	case len(b) >= 16 && b[0] == 0:
		return binary.BigEndian.Uint32(b[12:]), true
	}
	return 0, false
}

func mdhdTimescale(b []byte) (uint32, bool) {
	switch {
	case len(b) >= 24 && b[0] == 1:
		return binary.BigEndian.Uint32(b[20:]), true
	case len(b) >= 16 && b[0] == 0:
		return binary.BigEndian.Uint32(b[12:]), true
	}
	return 0, false
}

// MediaInfo is what CheckMedia reads from a media segment.
type MediaInfo struct {
	Sequence  uint32   // of the first moof
	Start     uint64   // first traf's baseMediaDecodeTime
	Samples   int      // in all fragments
	Fragments int      // moof+mdat pairs
	Tracks    []uint32 // track IDs of the first moof's trafs
}

// CheckMedia checks a media segment: optional styp (and sidx, prft, emsg boxes), then one or
// more moof+mdat pairs where every traf has a tfhd and a tfdt, and every trun's samples,
// placed by its data_offset, lie inside the mdat that follows (when the trun lists sample
// sizes, or the tfhd gives a default one).
func CheckMedia(b []byte) (MediaInfo, error) {
	var info MediaInfo
	boxes, err := Parse(b)
	if err != nil {
		return info, err
	}
	for i := 0; i < len(boxes); i++ {
		bx := boxes[i]
		switch bx.Type {
		case "styp", "sidx", "prft", "emsg", "free", "skip":
			continue
		case "moof":
		default:
			return info, fmt.Errorf("fmp4: unexpected %s at offset %d in a media segment", bx.Type, bx.Offset)
		}
		if i+1 >= len(boxes) || boxes[i+1].Type != "mdat" {
			return info, fmt.Errorf("fmp4: moof at offset %d not followed by mdat", bx.Offset)
		}
		mdat := boxes[i+1]
		i++
		mfhd := Find(bx.Children, "mfhd")
		if mfhd == nil || len(mfhd.Body) < 8 {
			return info, fmt.Errorf("fmp4: moof at offset %d has no mfhd", bx.Offset)
		}
		if info.Fragments == 0 {
			info.Sequence = binary.BigEndian.Uint32(mfhd.Body[4:])
		}
		info.Fragments++
		trafs := 0
		for _, traf := range bx.Children {
			if traf.Type != "traf" {
				continue
			}
			trafs++
			n, id, start, err := checkTraf(traf, bx, mdat)
			if err != nil {
				return info, err
			}
			if info.Fragments == 1 {
				if trafs == 1 {
					info.Start = start
				}
				info.Tracks = append(info.Tracks, id)
			}
			info.Samples += n
		}
		if trafs == 0 {
			return info, fmt.Errorf("fmp4: moof at offset %d has no traf", bx.Offset)
		}
	}
	if info.Fragments == 0 {
		return info, fmt.Errorf("fmp4: media segment has no moof")
	}
	return info, nil
}

// checkTraf checks one track fragment and returns its sample count, track ID and decode time.
func checkTraf(traf, moof, mdat Box) (samples int, trackID uint32, start uint64, err error) {
	tfhd := Find(traf.Children, "tfhd")
	tfdt := Find(traf.Children, "tfdt")
	if tfhd == nil || tfdt == nil || len(tfhd.Body) < 8 {
		return 0, 0, 0, fmt.Errorf("fmp4: traf at offset %d lacks tfhd or tfdt", traf.Offset)
	}
	flags := binary.BigEndian.Uint32(tfhd.Body) & 0xffffff
	trackID = binary.BigEndian.Uint32(tfhd.Body[4:])
	p := 8
	var defaultSize uint32
	for _, f := range []struct {
		bit uint32
		n   int
	}{{0x1, 8}, {0x2, 4}, {0x8, 4}, {0x10, 4}, {0x20, 4}} {
		if flags&f.bit == 0 {
			continue
		}
		if len(tfhd.Body) < p+f.n {
			return 0, 0, 0, fmt.Errorf("fmp4: tfhd at offset %d: %w", tfhd.Offset, ErrShort)
		}
		if f.bit == 0x10 {
			defaultSize = binary.BigEndian.Uint32(tfhd.Body[p:])
		}
		p += f.n
	}
	switch {
	case len(tfdt.Body) >= 12 && tfdt.Body[0] == 1:
		start = binary.BigEndian.Uint64(tfdt.Body[4:])
	case len(tfdt.Body) >= 8 && tfdt.Body[0] == 0:
		start = uint64(binary.BigEndian.Uint32(tfdt.Body[4:]))
	default:
		return 0, 0, 0, fmt.Errorf("fmp4: tfdt at offset %d: %w", tfdt.Offset, ErrShort)
	}
	mdatStart, mdatEnd := mdat.Offset+mdat.Size-int64(len(mdat.Body)), mdat.Offset+mdat.Size
	for _, trun := range traf.Children {
		if trun.Type != "trun" {
			continue
		}
		n, size, offset, hasOffset, err := parseTrun(trun.Body, defaultSize)
		if err != nil {
			return 0, 0, 0, fmt.Errorf("fmp4: trun at offset %d: %w", trun.Offset, err)
		}
		samples += n
		// Without an explicit data offset (and with default-base-is-moof, 0x020000), samples
		// follow the previous run; only the explicit form is checked against the mdat.
		if hasOffset && flags&0x1 == 0 && size >= 0 {
			at := moof.Offset + offset
			if at < mdatStart || at+size > mdatEnd {
				return 0, 0, 0, fmt.Errorf("fmp4: trun at offset %d: samples at %d..%d outside mdat %d..%d",
					trun.Offset, at, at+size, mdatStart, mdatEnd)
			}
		}
	}
	return samples, trackID, start, nil
}

// parseTrun reads a trun's sample count, the bytes its samples take (-1 when neither the trun
// nor the tfhd says) and its data offset.
func parseTrun(b []byte, defaultSize uint32) (n int, size, offset int64, hasOffset bool, err error) {
	if len(b) < 8 {
		return 0, 0, 0, false, ErrShort
	}
	flags := binary.BigEndian.Uint32(b) & 0xffffff
	count := binary.BigEndian.Uint32(b[4:])
	p := 8
	if flags&0x1 != 0 {
		if len(b) < p+4 {
			return 0, 0, 0, false, ErrShort
		}
		offset, hasOffset = int64(int32(binary.BigEndian.Uint32(b[p:]))), true
		p += 4
	}
	if flags&0x4 != 0 {
		p += 4
	}
	per := 0
	for _, bit := range []uint32{0x100, 0x200, 0x400, 0x800} {
		if flags&bit != 0 {
			per += 4
		}
	}
	if per > 0 && uint64(count)*uint64(per) > uint64(len(b)) || p > len(b) || (per > 0 && len(b)-p < int(count)*per) {
		return 0, 0, 0, false, fmt.Errorf("%d samples: %w", count, ErrShort)
	}
	if per == 0 && count > 1<<20 {
		return 0, 0, 0, false, fmt.Errorf("%d samples", count)
	}
	switch {
	case flags&0x200 != 0:
		skip := 0
		if flags&0x100 != 0 {
			skip = 4
		}
		for i := 0; i < int(count); i++ {
			size += int64(binary.BigEndian.Uint32(b[p+i*per+skip:]))
		}
	case defaultSize != 0:
		size = int64(count) * int64(defaultSize)
	default:
		size = -1
	}
	return int(count), size, offset, hasOffset, nil
}

// Types lists the types of boxes, for messages and tests.
func Types(boxes []Box) []string {
	var out []string
	for _, b := range boxes {
		out = append(out, b.Type)
	}
	return slices.Clip(out)
}
