// Package catalog describes the titles an origin serves: the catalog.json that the packager
// writes beside the content and that edges and players read to check every segment's bytes.
package catalog

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
)

// FileName is the catalog's name at the root of a content folder and its URL path on an origin.
const FileName = "catalog.json"

// Version is the catalog format version this package writes.
const Version = 1

// Catalog lists the titles of a content folder.
type Catalog struct {
	Version   int     `json:"version"`
	Generator string  `json:"generator"`
	Titles    []Title `json:"titles"`
}

// Title is one video: DIR/<Name>/master.m3u8 plus one folder per rendition, and with CMAF
// segments also DIR/<Name>/manifest.mpd (DASH) over the same files.
type Title struct {
	Name           string      `json:"name"`
	Kind           string      `json:"kind"`             // "synthetic" or "ffmpeg"
	Format         string      `json:"format,omitempty"` // FormatCMAF or FormatTS; "" is an older catalog's TS
	Ladder         string      `json:"ladder"`           // the named ladder it was packaged with
	SegmentSeconds float64     `json:"segment_seconds"`
	DurationS      float64     `json:"duration_s"`
	Renditions     []Rendition `json:"renditions"`
}

// Rendition is one rung of a title's ladder: DIR/<title>/<Name>/index.m3u8 and its segments.
type Rendition struct {
	Name             string    `json:"name"`
	Bandwidth        int64     `json:"bandwidth"`         // peak bits/s, as in BANDWIDTH
	AverageBandwidth int64     `json:"average_bandwidth"` // bits/s, as in AVERAGE-BANDWIDTH
	NominalKbps      int       `json:"nominal_kbps"`      // the ladder's advertised bitrate
	Width            int       `json:"width"`
	Height           int       `json:"height"`
	Codecs           string    `json:"codecs"`
	SegmentCount     int       `json:"segment_count"`
	Init             *Segment  `json:"init,omitempty"` // CMAF: the init segment every media segment needs (its Duration is 0)
	Segments         []Segment `json:"segments"`
}

// Segment formats of a title.
const (
	FormatCMAF = "cmaf" // fragmented MP4: an init segment and .m4s media segments, for HLS and DASH
	FormatTS   = "ts"   // MPEG-TS: self-contained .ts segments, HLS only
)

// Segment is one media file of a rendition.
type Segment struct {
	Name     string  `json:"name"`
	Duration float64 `json:"duration"`
	Size     int64   `json:"size"`
	SHA256   string  `json:"sha256"` // hex of the file's SHA-256; the origin's ETag is derived from it
	// NominalSize is the size the ladder asks for when it differs from Size (in MPEG-TS the
	// Envivio sizes are rounded up to whole 188-byte packets; CMAF segments have them exactly).
	NominalSize int64 `json:"nominal_size,omitempty"`
}

// Title returns the title called name, or nil.
func (c *Catalog) Title(name string) *Title {
	for i := range c.Titles {
		if c.Titles[i].Name == name {
			return &c.Titles[i]
		}
	}
	return nil
}

// Rendition returns the rendition called name, or nil.
func (t *Title) Rendition(name string) *Rendition {
	for i := range t.Renditions {
		if t.Renditions[i].Name == name {
			return &t.Renditions[i]
		}
	}
	return nil
}

// SegmentPaths maps each segment's URL path below /vod (title/rendition/segment) to its entry,
// init segments included.
func (c *Catalog) SegmentPaths() map[string]Segment {
	m := map[string]Segment{}
	for _, t := range c.Titles {
		for _, r := range t.Renditions {
			if r.Init != nil {
				m[t.Name+"/"+r.Name+"/"+r.Init.Name] = *r.Init
			}
			for _, s := range r.Segments {
				m[t.Name+"/"+r.Name+"/"+s.Name] = s
			}
		}
	}
	return m
}

// validName is what titles, renditions and segments may be called: one path element that needs
// no escaping in a URL or a playlist.
var validName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// ValidName reports whether s may name a title, rendition or segment.
func ValidName(s string) bool { return validName.MatchString(s) && s != "." && s != ".." }

var hexSHA256 = regexp.MustCompile(`^[0-9a-f]{64}$`)

// Validate checks the catalog's shape: names, counts, sizes and hashes.
func (c *Catalog) Validate() error {
	if c.Version != Version {
		return fmt.Errorf("catalog: version %d, want %d", c.Version, Version)
	}
	seen := map[string]bool{}
	for _, t := range c.Titles {
		if !ValidName(t.Name) {
			return fmt.Errorf("catalog: bad title name %q", t.Name)
		}
		if seen[t.Name] {
			return fmt.Errorf("catalog: title %q listed twice", t.Name)
		}
		seen[t.Name] = true
		if len(t.Renditions) == 0 {
			return fmt.Errorf("catalog: title %q has no renditions", t.Name)
		}
		if t.Format != "" && t.Format != FormatCMAF && t.Format != FormatTS {
			return fmt.Errorf("catalog: title %q: format %q, want %s or %s", t.Name, t.Format, FormatCMAF, FormatTS)
		}
		for _, r := range t.Renditions {
			if !ValidName(r.Name) {
				return fmt.Errorf("catalog: title %q: bad rendition name %q", t.Name, r.Name)
			}
			if r.SegmentCount != len(r.Segments) {
				return fmt.Errorf("catalog: %s/%s: segment_count %d but %d segments", t.Name, r.Name, r.SegmentCount, len(r.Segments))
			}
			for _, s := range r.Segments {
				if !ValidName(s.Name) || s.Size < 0 || !hexSHA256.MatchString(s.SHA256) || !(s.Duration > 0) {
					return fmt.Errorf("catalog: %s/%s: bad segment %+v", t.Name, r.Name, s)
				}
			}
			if in := r.Init; in != nil && (!ValidName(in.Name) || in.Size <= 0 || !hexSHA256.MatchString(in.SHA256) || in.Duration != 0) {
				return fmt.Errorf("catalog: %s/%s: bad init segment %+v", t.Name, r.Name, *in)
			}
			if (t.Format == FormatCMAF) != (r.Init != nil) {
				return fmt.Errorf("catalog: %s/%s: a %s title's rendition with init segment %v", t.Name, r.Name, t.Format, r.Init != nil)
			}
		}
	}
	return nil
}

// MaxBytes bounds the catalog.json a reader accepts.
const MaxBytes = 64 << 20

// Decode reads and validates a catalog.
func Decode(r io.Reader) (*Catalog, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	if len(b) > MaxBytes {
		return nil, errors.New("catalog: larger than 64 MiB")
	}
	var c Catalog
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// Load reads DIR/catalog.json.
func Load(dir string) (*Catalog, error) {
	f, err := os.Open(filepath.Join(dir, FileName))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Decode(f)
}

// Write writes c as DIR/catalog.json, atomically (a reader never sees half a catalog).
func Write(dir string, c *Catalog) error {
	b, err := json.MarshalIndent(c, "", " ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".catalog-*.json")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), filepath.Join(dir, FileName))
}
