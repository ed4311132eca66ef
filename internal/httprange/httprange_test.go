package httprange

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"slices"
	"strings"
	"testing"
)

// manyRanges builds "bytes=0-0,2-2,..." with n disjoint specs.
func manyRanges(n int) string {
	specs := make([]string, n)
	for i := range specs {
		specs[i] = fmt.Sprintf("%d-%d", 2*i, 2*i)
	}
	return "bytes=" + strings.Join(specs, ",")
}

func manyWant(n int) []Range {
	rs := make([]Range, n)
	for i := range rs {
		rs[i] = Range{Start: int64(2 * i), Length: 1}
	}
	return rs
}

func TestParse(t *testing.T) {
	tests := []struct {
		name   string
		header string
		size   int64
		want   []Range
		err    error
	}{
		{"empty", "", 1000, nil, nil},
		{"blank", " \t ", 1000, nil, nil},
		{"first byte", "bytes=0-0", 1000, []Range{{0, 1}}, nil},
		{"closed", "bytes=0-99", 1000, []Range{{0, 100}}, nil},
		{"open", "bytes=100-", 1000, []Range{{100, 900}}, nil},
		{"last byte open", "bytes=999-", 1000, []Range{{999, 1}}, nil},
		{"suffix", "bytes=-100", 1000, []Range{{900, 100}}, nil},
		{"suffix longer than size", "bytes=-2000", 1000, []Range{{0, 1000}}, nil},
		{"suffix zero", "bytes=-0", 1000, nil, ErrUnsatisfiable},
		{"end clamped", "bytes=0-2000", 1000, []Range{{0, 1000}}, nil},
		{"end max int64 clamped", "bytes=0-9223372036854775807", 1000, []Range{{0, 1000}}, nil},
		{"start at size", "bytes=1000-", 1000, nil, ErrUnsatisfiable},
		{"start past size", "bytes=1000-1001", 1000, nil, ErrUnsatisfiable},
		{"start max int64", "bytes=9223372036854775807-", 1000, nil, ErrUnsatisfiable},
		{"reversed", "bytes=5-2", 1000, nil, ErrInvalid},
		{"garbage", "bytes=abc", 1000, nil, ErrInvalid},
		{"other unit", "items=0-1", 1000, nil, ErrInvalid},
		{"unit case-insensitive", "BYTES=0-1", 1000, []Range{{0, 2}}, nil},
		{"unit without equals", "bytes 0-1", 1000, nil, ErrInvalid},
		{"blank before equals", "bytes =0-1", 1000, nil, ErrInvalid},
		{"unit only", "bytes", 1000, nil, ErrInvalid},
		{"no specs", "bytes=", 1000, nil, ErrInvalid},
		{"only commas", "bytes= , ,", 1000, nil, ErrInvalid},
		{"two ranges", "bytes=0-1,5-6", 1000, []Range{{0, 2}, {5, 2}}, nil},
		{"whitespace", "bytes= 0-1 , 3-4", 1000, []Range{{0, 2}, {3, 2}}, nil},
		{"outer whitespace", "\tbytes=0-1\t", 1000, []Range{{0, 2}}, nil},
		{"blanks around dash", "bytes=0 - 1", 1000, []Range{{0, 2}}, nil},
		{"empty list elements", "bytes=,0-1,,2-3,", 1000, []Range{{0, 2}, {2, 2}}, nil},
		{"overlap kept in order", "bytes=5-9,0-6", 1000, []Range{{5, 5}, {0, 7}}, nil},
		{"mixed forms", "bytes=0-0,-1,500-", 1000, []Range{{0, 1}, {999, 1}, {500, 500}}, nil},
		{"unsatisfiable dropped", "bytes=1000-,0-0", 1000, []Range{{0, 1}}, nil},
		{"unsatisfiable dropped after", "bytes=0-1,2000-3000", 1000, []Range{{0, 2}}, nil},
		{"all unsatisfiable", "bytes=2000-,-0", 1000, nil, ErrUnsatisfiable},
		{"invalid beats satisfiable", "bytes=0-1,abc", 1000, nil, ErrInvalid},
		{"invalid beats unsatisfiable", "bytes=2000-,5-2", 1000, nil, ErrInvalid},
		{"overflow start", "bytes=99999999999999999999-", 1000, nil, ErrInvalid},
		{"overflow end", "bytes=0-99999999999999999999", 1000, nil, ErrInvalid},
		{"overflow suffix", "bytes=-99999999999999999999", 1000, nil, ErrInvalid},
		{"overflow by one", "bytes=9223372036854775808-", 1000, nil, ErrInvalid},
		{"no dash", "bytes=5", 1000, nil, ErrInvalid},
		{"dash only", "bytes=-", 1000, nil, ErrInvalid},
		{"double dash", "bytes=--1", 1000, nil, ErrInvalid},
		{"three parts", "bytes=1-2-3", 1000, nil, ErrInvalid},
		{"plus sign", "bytes=+1-2", 1000, nil, ErrInvalid},
		{"hex", "bytes=0-0x10", 1000, nil, ErrInvalid},
		{"trailing junk", "bytes=0-1;x", 1000, nil, ErrInvalid},
		{"inner blank in number", "bytes=1 0-20", 1000, nil, ErrInvalid},
		{"size 0 open", "bytes=0-", 0, nil, ErrUnsatisfiable},
		{"size 0 closed", "bytes=0-0", 0, nil, ErrUnsatisfiable},
		{"size 0 suffix", "bytes=-1", 0, nil, ErrUnsatisfiable},
		{"size 0 invalid", "bytes=5-2", 0, nil, ErrInvalid},
		{"negative size", "bytes=0-", -1, nil, ErrUnsatisfiable},
		{"size 1", "bytes=0-5,-5", 1, []Range{{0, 1}, {0, 1}}, nil},
		{"max ranges", manyRanges(MaxRanges), 1000, manyWant(MaxRanges), nil},
		{"max ranges with empty elements", strings.ReplaceAll(manyRanges(MaxRanges), ",", ",,"), 1000, manyWant(MaxRanges), nil},
		{"17 ranges", manyRanges(MaxRanges + 1), 1000, nil, ErrInvalid},
		{"17 unsatisfiable ranges", "bytes=" + strings.Repeat("5000-,", MaxRanges) + "5000-", 1000, nil, ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(nil, []byte(tt.header), tt.size)
			if !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) {
				t.Fatalf("Parse(%q, %d) error = %v, want %v", tt.header, tt.size, err, tt.err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Parse(%q, %d) = %v, want %v", tt.header, tt.size, got, tt.want)
			}
		})
	}
}

func TestParseAppends(t *testing.T) {
	prev := []Range{{7, 7}}
	dst := make([]Range, 1, 4)
	copy(dst, prev)

	got, err := Parse(dst, []byte("bytes=0-1"), 100)
	if want := []Range{{7, 7}, {0, 2}}; err != nil || !slices.Equal(got, want) {
		t.Errorf("Parse appending = %v, %v; want %v, nil", got, err, want)
	}

	for _, h := range []string{"bytes=0-1,abc", "bytes=500-", ""} {
		got, _ := Parse(dst, []byte(h), 100)
		if !slices.Equal(got, prev) {
			t.Errorf("Parse(%q) with prefilled dst = %v, want dst untouched %v", h, got, prev)
		}
	}
}

func TestParseAllocs(t *testing.T) {
	tests := []struct{ name, header string }{
		{"single", "bytes=0-1023"},
		{"suffix", "bytes=-1024"},
		{"multi", "bytes=0-99, 200-299, -50"},
		{"invalid", "bytes=5-2"},
		{"unsatisfiable", "bytes=5000-"},
	}
	for _, tt := range tests {
		h := []byte(tt.header)
		allocs := testing.AllocsPerRun(100, func() {
			var buf [MaxRanges]Range
			rs, _ := Parse(buf[:0], h, 4096)
			_ = rs
		})
		if allocs != 0 {
			t.Errorf("Parse(%q) allocs = %v, want 0", tt.header, allocs)
		}
	}
}

func TestContentRange(t *testing.T) {
	tests := []struct {
		r    Range
		size int64
		want string
	}{
		{Range{0, 100}, 1000, "bytes 0-99/1000"},
		{Range{0, 1}, 1, "bytes 0-0/1"},
		{Range{900, 100}, 1000, "bytes 900-999/1000"},
		{Range{0, 1<<63 - 1}, 1<<63 - 1, "bytes 0-9223372036854775806/9223372036854775807"},
	}
	for _, tt := range tests {
		if got := tt.r.ContentRange(tt.size); got != tt.want {
			t.Errorf("%v.ContentRange(%d) = %q, want %q", tt.r, tt.size, got, tt.want)
		}
		if got := string(tt.r.AppendContentRange([]byte("X: "), tt.size)); got != "X: "+tt.want {
			t.Errorf("%v.AppendContentRange(%d) = %q, want %q", tt.r, tt.size, got, "X: "+tt.want)
		}
	}

	buf := make([]byte, 0, 64)
	allocs := testing.AllocsPerRun(100, func() {
		buf = Range{123, 456}.AppendContentRange(buf[:0], 1<<40)
	})
	if allocs != 0 {
		t.Errorf("AppendContentRange allocs = %v, want 0", allocs)
	}
}

func TestCoalesce(t *testing.T) {
	tests := []struct {
		name string
		in   []Range
		want []Range
	}{
		{"nil", nil, nil},
		{"single", []Range{{3, 4}}, []Range{{3, 4}}},
		{"single empty", []Range{{3, 0}}, []Range{}},
		{"sorts disjoint", []Range{{5, 2}, {0, 2}}, []Range{{0, 2}, {5, 2}}},
		{"overlap", []Range{{0, 5}, {3, 5}}, []Range{{0, 8}}},
		{"adjacent", []Range{{5, 5}, {0, 5}}, []Range{{0, 10}}},
		{"contained", []Range{{0, 10}, {2, 3}}, []Range{{0, 10}}},
		{"duplicate", []Range{{4, 4}, {4, 4}}, []Range{{4, 4}}},
		{"gap of one kept", []Range{{0, 5}, {6, 1}}, []Range{{0, 5}, {6, 1}}},
		{"drops empty", []Range{{0, 0}, {4, 1}, {9, 0}}, []Range{{4, 1}}},
		{"mixed", []Range{{10, 1}, {0, 1}, {1, 1}, {20, 5}, {22, 10}, {31, 1}}, []Range{{0, 2}, {10, 1}, {20, 12}}},
		{"chain", []Range{{0, 2}, {2, 2}, {4, 2}, {1, 10}}, []Range{{0, 11}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := slices.Clone(tt.in)
			if got := Coalesce(in); !slices.Equal(got, tt.want) {
				t.Errorf("Coalesce(%v) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}

	rs := make([]Range, 0, 8)
	allocs := testing.AllocsPerRun(100, func() {
		rs = append(rs[:0], Range{10, 1}, Range{0, 5}, Range{3, 4})
		rs = Coalesce(rs)
	})
	if allocs != 0 {
		t.Errorf("Coalesce allocs = %v, want 0", allocs)
	}
}

// testContent returns size bytes that differ at nearby offsets, so a part
// taken from the wrong place is noticed.
func testContent(size int) []byte {
	b := make([]byte, size)
	for i := range b {
		b[i] = byte('a' + i%26 + i/26%3)
	}
	return b
}

func TestMultipart(t *testing.T) {
	content := testContent(1000)
	size := int64(len(content))
	const ctype = "video/mp2t"

	rs, err := Parse(nil, []byte("bytes=0-9, 100-149, -25"), size)
	if err != nil {
		t.Fatalf("Parse error = %v", err)
	}
	m := NewMultipart(rs, size, ctype, `"etag-1"`)

	var body bytes.Buffer
	n, err := m.WriteTo(&body, bytes.NewReader(content))
	if err != nil {
		t.Fatalf("WriteTo error = %v", err)
	}
	if n != m.Len() || int64(body.Len()) != m.Len() {
		t.Errorf("WriteTo wrote %d (buffer has %d), Len() = %d; want all equal", n, body.Len(), m.Len())
	}

	mediaType, params, err := mime.ParseMediaType(m.ContentType())
	if err != nil {
		t.Fatalf("ParseMediaType(%q) error = %v", m.ContentType(), err)
	}
	if mediaType != "multipart/byteranges" || params["boundary"] == "" {
		t.Fatalf("ContentType() = %q, want multipart/byteranges with a boundary", m.ContentType())
	}

	mr := multipart.NewReader(bytes.NewReader(body.Bytes()), params["boundary"])
	for i, r := range rs {
		p, err := mr.NextPart()
		if err != nil {
			t.Fatalf("part %d: NextPart error = %v", i, err)
		}
		if got, want := p.Header.Get("Content-Range"), r.ContentRange(size); got != want {
			t.Errorf("part %d: Content-Range = %q, want %q", i, got, want)
		}
		if got := p.Header.Get("Content-Type"); got != ctype {
			t.Errorf("part %d: Content-Type = %q, want %q", i, got, ctype)
		}
		got, err := io.ReadAll(p)
		if err != nil {
			t.Fatalf("part %d: read error = %v", i, err)
		}
		if want := content[r.Start : r.Start+r.Length]; !bytes.Equal(got, want) {
			t.Errorf("part %d: body = %q, want %q", i, got, want)
		}
	}
	if p, err := mr.NextPart(); err != io.EOF {
		t.Errorf("after %d parts: NextPart = %v, %v; want nil, io.EOF", len(rs), p, err)
	}
}

func TestMultipartBoundary(t *testing.T) {
	rs := []Range{{0, 1}, {2, 1}}
	a := NewMultipart(rs, 3, "", `W/"x"`).ContentType()
	b := NewMultipart(rs, 3, "", `W/"x"`).ContentType()
	c := NewMultipart(rs, 3, "", `W/"y"`).ContentType()
	if a != b {
		t.Errorf("same boundary seed gave %q and %q, want equal", a, b)
	}
	if a == c {
		t.Errorf("different boundary seeds both gave %q, want different", a)
	}
	if _, params, err := mime.ParseMediaType(a); err != nil || params["boundary"] == "" {
		t.Errorf("ParseMediaType(%q) = %v, %v; want a boundary", a, params, err)
	}
}

func TestMultipartNoContentType(t *testing.T) {
	m := NewMultipart([]Range{{0, 2}, {3, 2}}, 5, "", "e")
	var body bytes.Buffer
	if _, err := m.WriteTo(&body, strings.NewReader("01234")); err != nil {
		t.Fatalf("WriteTo error = %v", err)
	}
	if bytes.Contains(body.Bytes(), []byte("Content-Type")) {
		t.Errorf("body = %q, want no Content-Type part header when contentType is empty", body.Bytes())
	}
}

func TestMultipartSanitizesContentType(t *testing.T) {
	m := NewMultipart([]Range{{0, 1}, {1, 1}}, 2, "text/plain\r\nX-Evil: 1", "e")
	var body bytes.Buffer
	n, err := m.WriteTo(&body, strings.NewReader("ab"))
	if err != nil || n != m.Len() {
		t.Fatalf("WriteTo = %d, %v; want %d, nil", n, err, m.Len())
	}
	if bytes.Contains(body.Bytes(), []byte("\nX-Evil")) {
		t.Errorf("body = %q, want CR/LF stripped from the content type", body.Bytes())
	}
}

func TestMultipartShortContent(t *testing.T) {
	m := NewMultipart([]Range{{0, 2}, {8, 2}}, 10, "text/plain", "e")
	n, err := m.WriteTo(io.Discard, strings.NewReader("012345")) // 4 bytes short
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("WriteTo of short content error = %v, want %v", err, io.ErrUnexpectedEOF)
	}
	if n >= m.Len() {
		t.Errorf("WriteTo of short content wrote %d, want less than Len() = %d", n, m.Len())
	}
}

type failWriter struct{ left int }

var errWrite = errors.New("write failed")

func (w *failWriter) Write(p []byte) (int, error) {
	if len(p) > w.left {
		n := w.left
		w.left = 0
		return n, errWrite
	}
	w.left -= len(p)
	return len(p), nil
}

func TestMultipartWriteError(t *testing.T) {
	m := NewMultipart([]Range{{0, 2}, {3, 2}}, 5, "text/plain", "e")
	for limit := 0; int64(limit) < m.Len(); limit += 7 {
		n, err := m.WriteTo(&failWriter{left: limit}, strings.NewReader("01234"))
		if !errors.Is(err, errWrite) || n != int64(limit) {
			t.Errorf("WriteTo with writer failing after %d bytes = %d, %v; want %d, %v", limit, n, err, limit, errWrite)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, h := range []string{
		"bytes=0-0", "bytes=-0", "bytes=5-2", "bytes= 0-1 , 3-4", "bytes=0-",
		"bytes=99999999999999999999-", manyRanges(MaxRanges + 1),
	} {
		f.Add([]byte(h), int64(1000))
	}
	f.Fuzz(func(t *testing.T, header []byte, size int64) {
		var buf [4]Range // small on purpose, so growth past the stack buffer is exercised
		rs, err := Parse(buf[:0], header, size)
		if err != nil {
			if err != ErrInvalid && err != ErrUnsatisfiable {
				t.Fatalf("Parse(%q, %d) error = %v, want ErrInvalid or ErrUnsatisfiable", header, size, err)
			}
			if len(rs) != 0 {
				t.Fatalf("Parse(%q, %d) = %v with error %v, want no ranges", header, size, rs, err)
			}
			return
		}
		if len(rs) > MaxRanges {
			t.Fatalf("Parse(%q, %d) returned %d ranges, want at most %d", header, size, len(rs), MaxRanges)
		}
		if len(rs) == 0 && len(bytes.Trim(header, " \t")) != 0 {
			t.Fatalf("Parse(%q, %d) = no ranges and no error for a non-empty header", header, size)
		}
		for _, r := range rs {
			if r.Start < 0 || r.Length <= 0 || r.Start >= size || r.Length > size-r.Start {
				t.Fatalf("Parse(%q, %d) returned %v, want within [0,%d) and non-empty", header, size, r, size)
			}
		}

		orig := slices.Clone(rs)
		merged := Coalesce(rs)
		for i, r := range merged {
			if r.Length <= 0 || r.Start+r.Length > size {
				t.Fatalf("Coalesce(%v) = %v: %v is empty or past size %d", orig, merged, r, size)
			}
			if i > 0 && merged[i-1].Start+merged[i-1].Length >= r.Start {
				t.Fatalf("Coalesce(%v) = %v: not sorted, or overlapping/adjacent at %d", orig, merged, i)
			}
		}
		for _, o := range orig {
			if !slices.ContainsFunc(merged, func(m Range) bool {
				return m.Start <= o.Start && o.Start+o.Length <= m.Start+m.Length
			}) {
				t.Fatalf("Coalesce(%v) = %v: %v is not covered", orig, merged, o)
			}
		}

		if size <= 1<<16 && len(merged) > 0 {
			m := NewMultipart(merged, size, "application/octet-stream", string(header))
			n, err := m.WriteTo(io.Discard, bytes.NewReader(make([]byte, size)))
			if err != nil || n != m.Len() {
				t.Fatalf("Multipart for %v: WriteTo = %d, %v; want Len() = %d, nil", merged, n, err, m.Len())
			}
		}
	})
}

func BenchmarkParse(b *testing.B) {
	for _, bb := range []struct{ name, header string }{
		{"single", "bytes=0-1023"},
		{"open", "bytes=1048576-"},
		{"suffix", "bytes=-4096"},
		{"multi", "bytes=0-99, 200-299, 1000-1999, -500"},
	} {
		h := []byte(bb.header)
		b.Run(bb.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(h)))
			var buf [MaxRanges]Range
			for b.Loop() {
				if _, err := Parse(buf[:0], h, 1<<30); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
