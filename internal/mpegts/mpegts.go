// Package mpegts writes synthetic MPEG-TS segments: valid transport streams (188-byte packets,
// PAT, PMT, PES with PCR, PTS and DTS) of an exact size whose payload is deterministic filler.
//
// The elementary stream is H.264 in form only: each frame is an access unit delimiter NAL unit
// followed by one filler-data NAL unit, so demuxers and probes accept the stream and decoders
// skip it, while the bytes on the wire have the size and timing of real video at the rendition's
// bitrate. Filler bytes come from a ChaCha8 stream seeded by the caller and never contain a zero
// byte, so no start code can appear inside them.
package mpegts

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
)

// PacketSize is the size of one transport stream packet.
const PacketSize = 188

const (
	pidPAT   = 0x0000
	pidPMT   = 0x1000
	pidVideo = 0x0100

	streamTypeH264 = 0x1b
	// FrameRate is the frame rate of the synthetic video: one PES packet per frame.
	FrameRate = 25
	// ptsOffset starts the first segment 1.4 s in, as ffmpeg does, so that DTS never goes negative.
	ptsOffset = 126000
)

// MinPackets is the smallest segment Write produces: PAT, PMT and one video packet.
const MinPackets = 3

// Segment describes one segment of a rendition.
type Segment struct {
	Index    int      // position in the rendition; timestamps continue from segment to segment
	Duration float64  // seconds
	Start    float64  // presentation time of the first frame, in seconds from the title's start
	Seed     [32]byte // seeds the filler bytes
}

// PacketsFor returns the number of packets that best fits size bytes (rounded up when exact is
// true, to the nearest otherwise), at least MinPackets.
func PacketsFor(size int64, exact bool) int {
	var n int64
	if exact {
		n = (size + PacketSize - 1) / PacketSize
	} else {
		n = (size + PacketSize/2) / PacketSize
	}
	if n < MinPackets {
		n = MinPackets
	}
	return int(n)
}

// Write writes a segment of exactly packets*188 bytes to w.
func Write(w io.Writer, packets int, seg Segment) error {
	if packets < MinPackets {
		return fmt.Errorf("mpegts: %d packets, need at least %d", packets, MinPackets)
	}
	if !(seg.Duration > 0) || math.IsInf(seg.Duration, 0) || seg.Start < 0 {
		return errors.New("mpegts: bad segment timing")
	}
	rng := rand.NewChaCha8(seg.Seed)
	buf := make([]byte, 0, 64*PacketSize)
	flush := func(force bool) error {
		if len(buf) == 0 || (!force && len(buf)+PacketSize <= cap(buf)) {
			return nil
		}
		_, err := w.Write(buf)
		buf = buf[:0]
		return err
	}

	buf = appendPSI(buf, pidPAT, 0, patSection())
	buf = appendPSI(buf, pidPMT, 0, pmtSection())

	videoPackets := packets - 2
	frames := int(math.Round(seg.Duration * FrameRate))
	frames = max(1, min(frames, videoPackets))
	per, extra := videoPackets/frames, videoPackets%frames
	frameTicks := seg.Duration * 90000 / float64(frames)
	start := ptsOffset + seg.Start*90000
	cc := byte(0)
	for f := 0; f < frames; f++ {
		n := per
		if f < extra {
			n++
		}
		pts := uint64(start+float64(f)*frameTicks) & (1<<33 - 1)
		for p := 0; p < n; p++ {
			if err := flush(false); err != nil {
				return err
			}
			buf = appendVideoPacket(buf, rng, cc, p == 0, f == 0, pts)
			cc = (cc + 1) & 0x0f
		}
	}
	return flush(true)
}

// appendVideoPacket appends one packet of the video PID. The first packet of a frame starts a PES
// packet and carries a PCR in its adaptation field; the rest carry filler only.
func appendVideoPacket(buf []byte, rng *rand.ChaCha8, cc byte, first, keyframe bool, pts uint64) []byte {
	start := len(buf)
	buf = buf[:start+PacketSize]
	p := buf[start:]
	p[0] = 0x47
	p[1] = byte(pidVideo >> 8 & 0x1f)
	p[2] = byte(pidVideo & 0xff)
	i := 4
	if first {
		p[1] |= 0x40     // payload_unit_start_indicator
		p[3] = 0x30 | cc // adaptation field and payload
		p[4] = 7         // adaptation_field_length: flags + PCR
		p[5] = 0x10      // PCR_flag
		if keyframe {
			p[5] |= 0x40 // random_access_indicator
		}
		pcr := (pts - 9000) & (1<<33 - 1) // PCR runs 100 ms ahead of presentation
		p[6] = byte(pcr >> 25)
		p[7] = byte(pcr >> 17)
		p[8] = byte(pcr >> 9)
		p[9] = byte(pcr >> 1)
		p[10] = byte(pcr<<7) | 0x7e // reserved bits set, extension 0
		p[11] = 0
		i = 12
		// PES header: start code, stream_id 0xE0, length 0 (unbounded, allowed for video),
		// flags with PTS and DTS.
		dts := (pts - 3600) & (1<<33 - 1)
		i += copy(p[i:], []byte{0, 0, 1, 0xe0, 0, 0, 0x80, 0xc0, 10})
		putTimestamp(p[i:], 0x3, pts)
		putTimestamp(p[i+5:], 0x1, dts)
		i += 10
		// Access unit delimiter (primary_pic_type 7), then the header of a filler-data NAL unit
		// whose payload runs to the end of the frame.
		i += copy(p[i:], []byte{0, 0, 0, 1, 0x09, 0xf0, 0, 0, 0, 1, 0x0c})
	} else {
		p[3] = 0x10 | cc // payload only
	}
	fill(p[i:], rng)
	return buf
}

// fill writes pseudo-random bytes with no zero byte: a NAL unit payload must not contain a start
// code, and 0xff keeps it the filler-data value.
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

func putTimestamp(b []byte, marker byte, ts uint64) {
	b[0] = marker<<4 | byte(ts>>29)&0x0e | 1
	b[1] = byte(ts >> 22)
	b[2] = byte(ts>>14) | 1
	b[3] = byte(ts >> 7)
	b[4] = byte(ts<<1) | 1
}

// appendPSI appends one packet carrying a PSI section, padded with 0xff.
func appendPSI(buf []byte, pid uint16, cc byte, section []byte) []byte {
	start := len(buf)
	buf = buf[:start+PacketSize]
	p := buf[start:]
	p[0] = 0x47
	p[1] = 0x40 | byte(pid>>8&0x1f)
	p[2] = byte(pid & 0xff)
	p[3] = 0x10 | cc
	p[4] = 0 // pointer_field
	n := copy(p[5:], section)
	for i := 5 + n; i < PacketSize; i++ {
		p[i] = 0xff
	}
	return buf
}

func patSection() []byte {
	s := []byte{
		0x00,       // table_id: program_association_section
		0xb0, 0x0d, // section_syntax_indicator, length 13
		0x00, 0x01, // transport_stream_id
		0xc1,       // version 0, current_next_indicator
		0x00, 0x00, // section_number, last_section_number
		0x00, 0x01, // program_number 1
		0xe0 | byte(pidPMT>>8), byte(pidPMT & 0xff),
	}
	return binary.BigEndian.AppendUint32(s, crc32MPEG2(s))
}

func pmtSection() []byte {
	s := []byte{
		0x02,       // table_id: TS_program_map_section
		0xb0, 0x12, // section_syntax_indicator, length 18
		0x00, 0x01, // program_number
		0xc1,
		0x00, 0x00,
		0xe0 | byte(pidVideo>>8), byte(pidVideo & 0xff), // PCR_PID
		0xf0, 0x00, // program_info_length 0
		streamTypeH264, 0xe0 | byte(pidVideo>>8), byte(pidVideo & 0xff),
		0xf0, 0x00, // ES_info_length 0
	}
	return binary.BigEndian.AppendUint32(s, crc32MPEG2(s))
}

var crcTable = func() (t [256]uint32) {
	for i := range t {
		c := uint32(i) << 24
		for j := 0; j < 8; j++ {
			if c&0x80000000 != 0 {
				c = c<<1 ^ 0x04c11db7
			} else {
				c <<= 1
			}
		}
		t[i] = c
	}
	return t
}()

// crc32MPEG2 is the CRC of PSI sections: polynomial 0x04C11DB7, no reflection, initial all ones.
func crc32MPEG2(b []byte) uint32 {
	c := uint32(0xffffffff)
	for _, x := range b {
		c = c<<8 ^ crcTable[byte(c>>24)^x]
	}
	return c
}
