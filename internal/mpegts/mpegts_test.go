package mpegts

import (
	"bytes"
	"encoding/binary"
	"testing"
)

func TestWriteStructure(t *testing.T) {
	var buf bytes.Buffer
	const packets = 2000
	seg := Segment{Index: 3, Duration: 4, Start: 12, Seed: [32]byte{9}}
	if err := Write(&buf, packets, seg); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	if len(b) != packets*PacketSize {
		t.Fatalf("%d bytes, want %d", len(b), packets*PacketSize)
	}
	var (
		cc          = -1
		pesStarts   int
		lastPTS     uint64
		sawPAT, pmt bool
	)
	for i := 0; i < packets; i++ {
		p := b[i*PacketSize : (i+1)*PacketSize]
		if p[0] != 0x47 {
			t.Fatalf("packet %d: sync byte %#x", i, p[0])
		}
		pid := int(binary.BigEndian.Uint16(p[1:3]) & 0x1fff)
		pusi := p[1]&0x40 != 0
		switch pid {
		case pidPAT:
			sawPAT = true
			checkSection(t, "PAT", p)
		case pidPMT:
			pmt = true
			checkSection(t, "PMT", p)
			if p[5+12] != streamTypeH264 {
				t.Errorf("PMT stream type %#x, want H.264", p[5+12])
			}
		case pidVideo:
			c := int(p[3] & 0x0f)
			if cc >= 0 && c != (cc+1)&0x0f {
				t.Fatalf("packet %d: continuity counter %d after %d", i, c, cc)
			}
			cc = c
			if pusi {
				pesStarts++
				af := int(p[4])
				pes := p[5+af:]
				if !bytes.Equal(pes[:4], []byte{0, 0, 1, 0xe0}) {
					t.Fatalf("packet %d: no PES start code", i)
				}
				pts := uint64(pes[9]>>1&0x07)<<30 | uint64(pes[10])<<22 | uint64(pes[11]>>1)<<15 | uint64(pes[12])<<7 | uint64(pes[13]>>1)
				if pts <= lastPTS {
					t.Fatalf("packet %d: PTS %d not after %d", i, pts, lastPTS)
				}
				if lastPTS == 0 && pts != ptsOffset+12*90000 {
					t.Errorf("first PTS %d, want %d (segment start 12 s)", pts, ptsOffset+12*90000)
				}
				lastPTS = pts
			}
		default:
			t.Fatalf("packet %d: unexpected PID %#x", i, pid)
		}
	}
	if !sawPAT || !pmt || pesStarts != 100 {
		t.Errorf("PAT %v PMT %v, %d frames; want both tables and 100 frames (4 s at 25 fps)", sawPAT, pmt, pesStarts)
	}
	// Deterministic: the same seed gives the same bytes, another seed others.
	var again, other bytes.Buffer
	Write(&again, packets, seg)
	seg.Seed[0]++
	Write(&other, packets, seg)
	if !bytes.Equal(b, again.Bytes()) || bytes.Equal(b, other.Bytes()) {
		t.Error("output is not a function of the seed")
	}
}

func checkSection(t *testing.T, name string, p []byte) {
	t.Helper()
	sec := p[5:]
	n := int(binary.BigEndian.Uint16(sec[1:3])&0x0fff) + 3
	if crc32MPEG2(sec[:n]) != 0 { // a section with its CRC appended has a zero remainder
		t.Errorf("%s: bad CRC", name)
	}
}

func TestWriteErrors(t *testing.T) {
	var buf bytes.Buffer
	for _, c := range []struct {
		packets int
		seg     Segment
	}{{2, Segment{Duration: 4}}, {10, Segment{Duration: 0}}, {10, Segment{Duration: 4, Start: -1}}} {
		if err := Write(&buf, c.packets, c.seg); err == nil {
			t.Errorf("Write(%d, %+v) succeeded", c.packets, c.seg)
		}
	}
	if PacketsFor(181801, true) != 968 || PacketsFor(10, false) != MinPackets {
		t.Errorf("PacketsFor: %d, %d", PacketsFor(181801, true), PacketsFor(10, false))
	}
}

func BenchmarkWrite1MB(b *testing.B) {
	b.SetBytes(int64(PacketsFor(1<<20, false) * PacketSize))
	for b.Loop() {
		Write(discard{}, PacketsFor(1<<20, false), Segment{Duration: 4})
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
