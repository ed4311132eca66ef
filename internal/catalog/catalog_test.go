package catalog

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func validCatalog() *Catalog {
	return &Catalog{Version: 1, Titles: []Title{{
		Name: "t", Renditions: []Rendition{{Name: "300k", SegmentCount: 1, Segments: []Segment{
			{Name: "seg00000.ts", Duration: 4, Size: 188, SHA256: strings.Repeat("a", 64)},
		}}},
	}}}
}

func TestRoundTripAndWrite(t *testing.T) {
	dir := t.TempDir()
	c := validCatalog()
	if err := Write(dir, c); err != nil {
		t.Fatal(err)
	}
	got, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got.Title("t").Rendition("300k").Segments[0].Size != 188 || got.Title("x") != nil {
		t.Errorf("loaded %+v", got)
	}
	if m := got.SegmentPaths(); len(m) != 1 || m["t/300k/seg00000.ts"].Size != 188 {
		t.Errorf("SegmentPaths = %v", m)
	}
}

func TestInitSegment(t *testing.T) {
	c := validCatalog()
	c.Titles[0].Format = FormatCMAF
	c.Titles[0].Renditions[0].Init = &Segment{Name: "init.mp4", Size: 700, SHA256: strings.Repeat("b", 64)}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if m := c.SegmentPaths(); m["t/300k/init.mp4"].Size != 700 || len(m) != 2 {
		t.Errorf("SegmentPaths = %v", m)
	}
	for _, mutate := range []func(c *Catalog){
		func(c *Catalog) { c.Titles[0].Format = "mkv" },
		func(c *Catalog) { c.Titles[0].Format = FormatTS },
		func(c *Catalog) { c.Titles[0].Renditions[0].Init.Duration = 1 },
		func(c *Catalog) { c.Titles[0].Renditions[0].Init.SHA256 = "x" },
		func(c *Catalog) { c.Titles[0].Renditions[0].Init = nil },
	} {
		c := validCatalog()
		c.Titles[0].Format = FormatCMAF
		c.Titles[0].Renditions[0].Init = &Segment{Name: "init.mp4", Size: 700, SHA256: strings.Repeat("b", 64)}
		mutate(c)
		if err := c.Validate(); err == nil {
			t.Errorf("valid: %+v", c.Titles[0])
		}
	}
}

func TestValidate(t *testing.T) {
	bad := []func(c *Catalog){
		func(c *Catalog) { c.Version = 2 },
		func(c *Catalog) { c.Titles[0].Name = "../x" },
		func(c *Catalog) { c.Titles[0].Name = "" },
		func(c *Catalog) { c.Titles = append(c.Titles, c.Titles[0]) },
		func(c *Catalog) { c.Titles[0].Renditions = nil },
		func(c *Catalog) { c.Titles[0].Renditions[0].Name = "a/b" },
		func(c *Catalog) { c.Titles[0].Renditions[0].SegmentCount = 2 },
		func(c *Catalog) { c.Titles[0].Renditions[0].Segments[0].SHA256 = "xyz" },
		func(c *Catalog) { c.Titles[0].Renditions[0].Segments[0].Size = -1 },
		func(c *Catalog) { c.Titles[0].Renditions[0].Segments[0].Duration = 0 },
		func(c *Catalog) { c.Titles[0].Renditions[0].Segments[0].Name = ".." },
	}
	for i, mutate := range bad {
		c := validCatalog()
		mutate(c)
		if err := c.Validate(); err == nil {
			t.Errorf("case %d: Validate accepted %+v", i, c)
		}
	}
	if err := validCatalog().Validate(); err != nil {
		t.Errorf("valid catalog: %v", err)
	}
}

func FuzzDecode(f *testing.F) {
	b, _ := json.Marshal(validCatalog())
	f.Add(b)
	f.Add([]byte(`{"version":1,"titles":[]}`))
	f.Add([]byte(`{"version":1,"titles":[{"name":"..","renditions":[]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Decode(bytes.NewReader(data))
		if err != nil {
			return
		}
		// Whatever decodes is valid and names nothing that could leave the content folder.
		if err := c.Validate(); err != nil {
			t.Fatalf("Decode returned an invalid catalog: %v", err)
		}
		for path := range c.SegmentPaths() {
			for _, elem := range strings.Split(path, "/") {
				if elem == "" || elem == "." || elem == ".." || strings.ContainsAny(elem, "\\\x00") {
					t.Fatalf("segment path %q has an unsafe element %q", path, elem)
				}
			}
		}
	})
}
