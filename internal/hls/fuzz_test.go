package hls

import (
	"bytes"
	"reflect"
	"testing"
)

// FuzzParse checks that Parse never panics and that whatever it accepts is a
// fixpoint: it encodes without error and parses back to an equal value.
// Seeds live in testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	f.Add([]byte(rfcSimpleMedia))
	f.Add([]byte(ffmpegMedia))
	f.Add([]byte(steeringMultivariant))
	f.Fuzz(func(t *testing.T, data []byte) {
		mv, m, err := Parse(bytes.NewReader(data))
		if err != nil {
			if mv != nil || m != nil {
				t.Fatalf("Parse returned a playlist and error %v", err)
			}
			return
		}
		var enc []byte
		switch {
		case mv != nil && m == nil:
			var buf bytes.Buffer
			if err := mv.Encode(&buf); err != nil {
				t.Fatalf("Encode of parsed multivariant: %v\ninput: %q", err, data)
			}
			enc = buf.Bytes()
		case m != nil && mv == nil:
			var buf bytes.Buffer
			if err := m.Encode(&buf); err != nil {
				t.Fatalf("Encode of parsed media: %v\ninput: %q", err, data)
			}
			enc = buf.Bytes()
		default:
			t.Fatalf("Parse returned multivariant %v and media %v", mv, m)
		}
		mv2, m2, err := Parse(bytes.NewReader(enc))
		if err != nil {
			t.Fatalf("Parse of encoded playlist: %v\ninput: %q\nencoded: %q", err, data, enc)
		}
		if !reflect.DeepEqual(mv, mv2) || !reflect.DeepEqual(m, m2) {
			t.Fatalf("not a fixpoint\nfirst:  %+v %+v\nsecond: %+v %+v\nencoded: %q", mv, m, mv2, m2, enc)
		}
	})
}
