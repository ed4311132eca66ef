// Package fmp4 writes and checks the fragmented MP4 (ISO BMFF, CMAF) files edgecdn packages: an
// init segment (ftyp, moov with mvhd, trak and mvex/trex) and media segments (styp, moof with
// mfhd and traf/tfhd/tfdt/trun, mdat) that serve both HLS (EXT-X-MAP) and DASH.
//
// Synthetic media segments have the exact size of real video at the rendition's bitrate: their
// samples are coded pictures (AVC: decodable H.264 written without an encoder) each followed by
// a filler-data NAL unit of deterministic pseudo-random bytes that takes its share of the size;
// a segment too small for the pictures carries filler alone (valid boxes, nothing to decode).
package fmp4

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
)

// Timescale is the media timescale of synthetic tracks: 90 kHz, as MPEG-TS.
const Timescale = 90000

// FrameRate is the frame rate of synthetic video: one sample per frame.
const FrameRate = 25

// Track describes the one video track of an init segment.
type Track struct {
	ID            uint32 // track_ID; default 1
	Timescale     uint32 // default Timescale
	Width, Height int    // pixels
	// Profile, Compat and Level are the avcC's AVCProfileIndication, profile_compatibility and
	// AVCLevelIndication: the three bytes of an RFC 6381 "avc1.PPCCLL" codec string.
	Profile, Compat, Level byte
	Duration               uint64 // in Timescale units; 0 for unknown (fragmented)
	// SPS and PPS are the parameter sets the avcC carries (NAL units, as AVC returns them);
	// none for samples that hold no slices.
	SPS, PPS []byte
}

func (t *Track) defaults() {
	if t.ID == 0 {
		t.ID = 1
	}
	if t.Timescale == 0 {
		t.Timescale = Timescale
	}
}

// box appends a box of type typ whose body body appends, patching in its size.
func box(b []byte, typ string, body func([]byte) []byte) []byte {
	start := len(b)
	b = append(b, 0, 0, 0, 0)
	b = append(b, typ...)
	b = body(b)
	binary.BigEndian.PutUint32(b[start:], uint32(len(b)-start))
	return b
}

// fullBox appends a FullBox: version, 24 bits of flags, then the body.
func fullBox(b []byte, typ string, version byte, flags uint32, body func([]byte) []byte) []byte {
	return box(b, typ, func(b []byte) []byte {
		b = append(b, version, byte(flags>>16), byte(flags>>8), byte(flags))
		return body(b)
	})
}

func u16(b []byte, v uint16) []byte { return binary.BigEndian.AppendUint16(b, v) }
func u32(b []byte, v uint32) []byte { return binary.BigEndian.AppendUint32(b, v) }
func u64(b []byte, v uint64) []byte { return binary.BigEndian.AppendUint64(b, v) }

// unity is the identity transformation matrix of mvhd and tkhd.
var unity = []uint32{0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000}

// Init returns an init segment for one H.264 video track: ftyp (CMAF brands), moov with mvhd,
// trak (tkhd, mdia with mdhd, hdlr, minf with vmhd, dinf and stbl whose sample tables are
// empty, as fragmented files have them, and an avc1 sample entry) and mvex with trex.
func Init(t Track) ([]byte, error) {
	t.defaults()
	if t.Width <= 0 || t.Height <= 0 || t.Width > 65535 || t.Height > 65535 {
		return nil, fmt.Errorf("fmp4: bad video size %dx%d", t.Width, t.Height)
	}
	b := make([]byte, 0, 768)
	b = box(b, "ftyp", func(b []byte) []byte {
		b = append(b, "cmf2"...)
		b = u32(b, 0)
		return append(b, "cmf2iso6cmfcdashmsix"...) // cmf2, iso6, cmfc, dash, msix
	})
	b = box(b, "moov", func(b []byte) []byte {
		b = fullBox(b, "mvhd", 1, 0, func(b []byte) []byte {
			b = u64(b, 0) // creation_time
			b = u64(b, 0) // modification_time
			b = u32(b, t.Timescale)
			b = u64(b, t.Duration)
			b = u32(b, 0x00010000) // rate 1.0
			b = u16(b, 0x0100)     // volume 1.0
			b = append(b, make([]byte, 10)...)
			for _, m := range unity {
				b = u32(b, m)
			}
			b = append(b, make([]byte, 24)...) // pre_defined
			return u32(b, t.ID+1)              // next_track_ID
		})
		b = box(b, "trak", func(b []byte) []byte {
			b = fullBox(b, "tkhd", 1, 3, func(b []byte) []byte { // enabled, in movie
				b = u64(b, 0)
				b = u64(b, 0)
				b = u32(b, t.ID)
				b = u32(b, 0)
				b = u64(b, t.Duration)
				b = append(b, make([]byte, 8)...) // reserved
				b = u16(b, 0)                     // layer
				b = u16(b, 0)                     // alternate_group
				b = u16(b, 0)                     // volume: 0 for video
				b = u16(b, 0)
				for _, m := range unity {
					b = u32(b, m)
				}
				b = u32(b, uint32(t.Width)<<16)
				return u32(b, uint32(t.Height)<<16)
			})
			b = box(b, "mdia", func(b []byte) []byte {
				b = fullBox(b, "mdhd", 1, 0, func(b []byte) []byte {
					b = u64(b, 0)
					b = u64(b, 0)
					b = u32(b, t.Timescale)
					b = u64(b, t.Duration)
					b = u16(b, 0x55c4) // language "und"
					return u16(b, 0)
				})
				b = fullBox(b, "hdlr", 0, 0, func(b []byte) []byte {
					b = u32(b, 0)
					b = append(b, "vide"...)
					b = append(b, make([]byte, 12)...)
					return append(b, "edgecdn\x00"...)
				})
				return box(b, "minf", func(b []byte) []byte {
					b = fullBox(b, "vmhd", 0, 1, func(b []byte) []byte { return append(b, make([]byte, 8)...) })
					b = box(b, "dinf", func(b []byte) []byte {
						return fullBox(b, "dref", 0, 0, func(b []byte) []byte {
							b = u32(b, 1)
							return fullBox(b, "url ", 0, 1, func(b []byte) []byte { return b }) // self-contained
						})
					})
					return box(b, "stbl", func(b []byte) []byte {
						b = fullBox(b, "stsd", 0, 0, func(b []byte) []byte {
							b = u32(b, 1)
							return avc1(b, &t)
						})
						b = fullBox(b, "stts", 0, 0, func(b []byte) []byte { return u32(b, 0) })
						b = fullBox(b, "stsc", 0, 0, func(b []byte) []byte { return u32(b, 0) })
						b = fullBox(b, "stsz", 0, 0, func(b []byte) []byte { return u64(b, 0) })
						return fullBox(b, "stco", 0, 0, func(b []byte) []byte { return u32(b, 0) })
					})
				})
			})
			return b
		})
		return box(b, "mvex", func(b []byte) []byte {
			return fullBox(b, "trex", 0, 0, func(b []byte) []byte {
				b = u32(b, t.ID)
				b = u32(b, 1) // default_sample_description_index
				b = u32(b, 0)
				b = u32(b, 0)
				return u32(b, 0)
			})
		})
	})
	return b, nil
}

// avc1 appends the visual sample entry with its avcC.
func avc1(b []byte, t *Track) []byte {
	return box(b, "avc1", func(b []byte) []byte {
		b = append(b, make([]byte, 6)...) // reserved
		b = u16(b, 1)                     // data_reference_index
		b = append(b, make([]byte, 16)...)
		b = u16(b, uint16(t.Width))
		b = u16(b, uint16(t.Height))
		b = u32(b, 0x00480000) // 72 dpi
		b = u32(b, 0x00480000)
		b = u32(b, 0)
		b = u16(b, 1) // frame_count
		b = append(b, make([]byte, 32)...)
		b = u16(b, 0x0018) // depth
		b = u16(b, 0xffff) // pre_defined -1
		return box(b, "avcC", func(b []byte) []byte {
			// version 1; profile, compatibility, level; 4-byte NAL lengths; the parameter sets.
			b = append(b, 1, t.Profile, t.Compat, t.Level, 0xff)
			if len(t.SPS) == 0 {
				return append(b, 0xe0, 0)
			}
			b = append(b, 0xe1)
			b = u16(b, uint16(len(t.SPS)))
			b = append(b, t.SPS...)
			b = append(b, 1)
			b = u16(b, uint16(len(t.PPS)))
			return append(b, t.PPS...)
		})
	})
}

// Fragment describes one media segment.
type Fragment struct {
	Sequence uint32   // mfhd sequence_number, from 1
	TrackID  uint32   // default 1
	Start    uint64   // baseMediaDecodeTime, in the track's timescale
	Duration uint64   // in the track's timescale
	Samples  int      // number of samples (frames); at least 1
	Seed     [32]byte // seeds the sample bytes
	// Frames, when set, are the samples' coded pictures (length-prefixed NAL units, one entry
	// per sample; Samples is then len(Frames)): each is followed by a filler-data NAL unit that
	// takes its share of the segment's size.
	Frames [][]byte
}

// MediaOverhead returns the bytes a media segment of n samples spends outside its samples:
// styp, moof and the mdat header.
func MediaOverhead(samples int) int64 {
	const styp = 24
	const mfhd = 16
	const tfhd = 20                           // track_ID and default_sample_duration
	const tfdt = 20                           // version 1
	trun := int64(12 + 4 + 4 + 4 + 4*samples) // sample_count, data_offset, first_sample_flags, sizes
	return styp + 8 + mfhd + 8 + tfhd + tfdt + trun + 8
}

// Media returns a media segment of exactly size bytes: styp, moof and an mdat whose samples
// share the payload evenly, each a length-prefixed H.264 filler-data NAL unit. The first
// sample is flagged as a sync sample, the others not. Samples are reduced when the payload is
// too small to give each its 5-byte NAL header.
func Media(size int64, f Fragment) ([]byte, error) {
	if f.TrackID == 0 {
		f.TrackID = 1
	}
	if f.Frames != nil {
		return mediaFrames(size, f)
	}
	if f.Samples < 1 || f.Duration == 0 || f.Duration > math.MaxUint32 {
		return nil, fmt.Errorf("fmp4: bad fragment: %d samples over %d ticks", f.Samples, f.Duration)
	}
	n := f.Samples
	for n > 1 && size-MediaOverhead(n) < int64(n)*5 {
		n--
	}
	payload := size - MediaOverhead(n)
	if payload < 5 || size > math.MaxUint32 {
		return nil, fmt.Errorf("fmp4: %d bytes cannot hold a media segment", size)
	}
	per, extra := payload/int64(n), payload%int64(n)
	sampleSize := func(i int) uint32 {
		if int64(i) < extra {
			return uint32(per + 1)
		}
		return uint32(per)
	}
	b := fragmentHead(make([]byte, 0, size), f, n, payload, sampleSize)
	rng := rand.NewChaCha8(f.Seed)
	for i := 0; i < n; i++ {
		s := sampleSize(i)
		b = u32(b, s-4)
		b = append(b, 0x0c) // nal_unit_type 12: filler data
		start := len(b)
		b = b[:start+int(s)-5]
		fill(b[start:], rng)
	}
	if int64(len(b)) != size {
		return nil, fmt.Errorf("fmp4: wrote %d bytes, want %d", len(b), size)
	}
	return b, nil
}

// mediaFrames is Media for coded pictures: sample i is Frames[i] and a filler NAL unit. The
// padding is shared evenly while every share holds a filler NAL unit (5 bytes or more), else
// it all goes to the first sample; 1 to 4 bytes that no NAL unit can take are left at the end of
// the mdat, outside every sample.
func mediaFrames(size int64, f Fragment) ([]byte, error) {
	n := len(f.Frames)
	if n == 0 || f.Duration == 0 || f.Duration > math.MaxUint32 || size > math.MaxUint32 {
		return nil, fmt.Errorf("fmp4: bad fragment: %d frames over %d ticks", n, f.Duration)
	}
	var coded int64
	for _, fr := range f.Frames {
		coded += int64(len(fr))
	}
	payload := size - MediaOverhead(n)
	pad := payload - coded
	if pad < 0 {
		return nil, fmt.Errorf("fmp4: %d bytes of pictures do not fit a segment of %d bytes", coded, size)
	}
	fillers := make([]int64, n)
	switch {
	case pad >= 5*int64(n):
		for i := range fillers {
			fillers[i] = pad / int64(n)
		}
		fillers[0] += pad % int64(n)
	case pad >= 5:
		fillers[0] = pad
	}
	b := fragmentHead(make([]byte, 0, size), f, n, payload, func(i int) uint32 { return uint32(int64(len(f.Frames[i])) + fillers[i]) })
	rng := rand.NewChaCha8(f.Seed)
	for i := 0; i < n; i++ {
		b = append(b, f.Frames[i]...)
		if fl := fillers[i]; fl > 0 {
			b = u32(b, uint32(fl-4))
			b = append(b, 0x0c)
			start := len(b)
			b = b[:start+int(fl)-5]
			fill(b[start:], rng)
		}
	}
	for int64(len(b)) < size {
		b = append(b, 0) // unreferenced: outside every sample
	}
	return b, nil
}

// fragmentHead appends a media segment's styp, its moof (one track run of n samples of the
// given sizes, the first a sync sample) and the header of an mdat of payload bytes.
func fragmentHead(b []byte, f Fragment, n int, payload int64, sampleSize func(int) uint32) []byte {
	b = box(b, "styp", func(b []byte) []byte {
		b = append(b, "msdh"...)
		b = u32(b, 0)
		return append(b, "msdhmsix"...)
	})
	moofStart := len(b)
	var dataOffsetAt int
	b = box(b, "moof", func(b []byte) []byte {
		b = fullBox(b, "mfhd", 0, 0, func(b []byte) []byte { return u32(b, f.Sequence) })
		return box(b, "traf", func(b []byte) []byte {
			// default-base-is-moof, default_sample_duration present
			b = fullBox(b, "tfhd", 0, 0x020008, func(b []byte) []byte {
				b = u32(b, f.TrackID)
				return u32(b, uint32(f.Duration/uint64(n)))
			})
			b = fullBox(b, "tfdt", 1, 0, func(b []byte) []byte { return u64(b, f.Start) })
			// data_offset, first_sample_flags, sample_size present
			return fullBox(b, "trun", 0, 0x000205, func(b []byte) []byte {
				b = u32(b, uint32(n))
				dataOffsetAt = len(b)
				b = u32(b, 0)
				b = u32(b, 0x02000000) // first sample: depends on no other (sync)
				for i := 0; i < n; i++ {
					b = u32(b, sampleSize(i))
				}
				return b
			})
		})
	})
	// The samples start after the mdat header; the offset counts from the moof's first byte.
	binary.BigEndian.PutUint32(b[dataOffsetAt:], uint32(len(b)-moofStart+8))
	b = u32(b, uint32(8+payload))
	return append(b, "mdat"...)
}

// fill writes pseudo-random bytes with no zero byte, so no start code appears in a NAL unit.
func fill(b []byte, rng *rand.ChaCha8) {
	var word [8]byte
	for i := 0; i < len(b); i += 8 {
		binary.LittleEndian.PutUint64(word[:], rng.Uint64())
		n := copy(b[i:], word[:])
		for j := i; j < i+n; j++ {
			if b[j] == 0 {
				b[j] = 0xff
			}
		}
	}
}

// ErrShort is returned for a segment too small for its boxes.
var ErrShort = errors.New("fmp4: truncated box")
