package cache

import (
	"fmt"
	"strings"
	"testing"
)

// FuzzOps reads the input as a program of cache operations and runs it against the cache and a
// model map. OnEvict keeps the model exact: a key is in the cache if and only if the model says
// so, with the value of its last admitted Set.
//
// Byte 0 picks the policy; then each operation is 3 bytes: opcode, key, size.
func FuzzOps(f *testing.F) {
	f.Add([]byte("\x00" + "\x00\x01\x10" + "\x01\x01\x00" + "\x02\x01\x00" + "\x01\x01\x00"))
	f.Add([]byte("\x01" + "\x00\x01\x10" + "\x00\x02\x20" + "\x00\x03\xff" + "\x01\x02\x00" + "\x04\x00\x00"))
	f.Fuzz(runOps)
}

// runOps runs one FuzzOps program.
func runOps(t *testing.T, prog []byte) {
	if len(prog) == 0 {
		return
	}
	const maxBytes = 32 << 10 // admits objects up to 4 KiB with EntryOverhead: 24 keys overfill it
	model := map[string]*blob{}
	c, err := New(Config[*blob]{
		MaxBytes: maxBytes,
		Policy:   policies[int(prog[0])%len(policies)],
		OnEvict: func(key string, v *blob) {
			if model[key] != v {
				t.Fatalf("OnEvict(%q, #%d), but the model holds #%v", key, v.id, model[key])
			}
			delete(model, key)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, dir := range []string{"/a/", "/b/", "/ab/", "/c"} {
		for n := range 6 {
			keys = append(keys, fmt.Sprint(dir, n))
		}
	}
	for i := 1; i+2 < len(prog); i += 3 {
		op, key := prog[i]%6, keys[int(prog[i+1])%len(keys)]
		// Sizes 0..4080 in 16-byte steps: the top 6% are over the admission limit.
		size := int64(prog[i+2]) * 16
		switch op {
		case 0, 5: // Set, twice as often as the rest so the cache fills up
			v := &blob{key: key, id: i, n: size}
			wantAdmit := size+EntryOverhead <= maxBytes/8
			if got := c.Set(key, v); got != wantAdmit {
				t.Fatalf("Set(%q, %d bytes) = %v, want %v", key, size, got, wantAdmit)
			}
			if wantAdmit {
				model[key] = v
			} else {
				delete(model, key)
			}
		case 1: // Get
			got, ok := c.Get(key)
			if want, inModel := model[key]; ok != inModel || got != want {
				t.Fatalf("Get(%q) = #%v, %v; model has #%v, %v", key, got, ok, want, inModel)
			}
		case 2: // Delete
			_, inModel := model[key]
			if got := c.Delete(key); got != inModel {
				t.Fatalf("Delete(%q) = %v, want %v", key, got, inModel)
			}
			delete(model, key)
		case 3: // DeletePrefix
			prefix := key[:int(prog[i+2])%(len(key)+1)]
			want := 0
			for k := range model {
				if strings.HasPrefix(k, prefix) {
					delete(model, k)
					want++
				}
			}
			if got := c.DeletePrefix(prefix); got != want {
				t.Fatalf("DeletePrefix(%q) = %d, want %d", prefix, got, want)
			}
		case 4: // Peek and GetBytes agree with the model too
			want, inModel := model[key]
			if got, ok := c.Peek(key); ok != inModel || got != want {
				t.Fatalf("Peek(%q) = #%v, %v; model has #%v, %v", key, got, ok, want, inModel)
			}
			if got, ok := c.GetBytes([]byte(key)); ok != inModel || got != want {
				t.Fatalf("GetBytes(%q) = #%v, %v; model has #%v, %v", key, got, ok, want, inModel)
			}
		}
		var bytes int64
		for _, v := range model {
			bytes += v.n + EntryOverhead
		}
		st := c.Stats()
		if st.Bytes > maxBytes || st.Bytes != bytes || st.Objects != int64(len(model)) {
			t.Fatalf("after op %d: Stats %+v; model has %d objects, %d bytes", i/3, st, len(model), bytes)
		}
	}
}

// String makes fuzz failures readable.
func (b *blob) String() string { return fmt.Sprintf("%d(%dB)", b.id, b.n) }
