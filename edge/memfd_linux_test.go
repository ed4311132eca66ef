package edge

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"edgecdn/internal/evloop"
	"edgecdn/internal/harness"
)

// TestBodyInMemfd: a body of sendfileMin bytes or more is kept in a sealed memfd and not in the
// Go heap, and every way of reading it answers its bytes: the loop's hit (sendfile), a HEAD,
// a range and several ranges (the fasthttp server, reading the memfd). Past memfdLimit a large
// body stays in the heap and is served alike. An object no one holds closes its memfd.
func TestBodyInMemfd(t *testing.T) {
	o := newFakeOrigin(t)
	big := randomBytes(sendfileMin+12345, 21)
	o.put("/vod/t/big.ts", &fakeObject{body: big, cacheControl: "max-age=60"})
	o.put("/vod/t/heap.ts", &fakeObject{body: big[:sendfileMin], cacheControl: "max-age=60"})
	s, base := startEdge(t, Config{Origins: []string{o.url()}, ProbeInterval: -1, Engine: evloop.EngineLoop})

	if r := get(t, base+"/vod/t/big.ts"); r.code != 200 || !bytes.Equal(r.body, big) {
		t.Fatalf("miss: %d, %d bytes (want %d)", r.code, len(r.body), len(big))
	}
	obj, ok := s.cache.Get("/vod/t/big.ts")
	if !ok || obj.mem == nil || obj.body != nil {
		t.Fatalf("stored: %v, in a memfd %v, in the heap %v", ok, ok && obj.mem != nil, ok && obj.body != nil)
	}
	fdPath := fmt.Sprintf("/proc/self/fd/%d", obj.mem.fd)
	if l, err := os.Readlink(fdPath); err != nil || !strings.HasPrefix(l, "/memfd:edgecdn-body") {
		t.Fatalf("%s: %q %v", fdPath, l, err)
	}
	hits := s.m.loopHits.Get()
	for range 3 {
		if r := get(t, base+"/vod/t/big.ts"); r.code != 200 || !bytes.Equal(r.body, big) || r.header.Get("Cache-Status") != "edge-test; hit" {
			t.Fatalf("hit: %d, %d bytes (want %d), equal %v, %q", r.code, len(r.body), len(big), bytes.Equal(r.body, big), r.header.Get("Cache-Status"))
		}
	}
	if n := s.m.loopHits.Get() - hits; n != 3 {
		t.Errorf("the loop answered %d of 3 hits", n)
	}
	if r := do(t, "HEAD", base+"/vod/t/big.ts"); r.code != 200 || len(r.body) != 0 || r.header.Get("Content-Length") != fmt.Sprint(len(big)) {
		t.Errorf("HEAD: %d, %d bytes, Content-Length %q", r.code, len(r.body), r.header.Get("Content-Length"))
	}
	from, to := len(big)/3, len(big)*2/3
	if r := get(t, base+"/vod/t/big.ts", "Range", fmt.Sprintf("bytes=%d-%d", from, to)); r.code != 206 || !bytes.Equal(r.body, big[from:to+1]) {
		t.Errorf("range: %d, %d bytes", r.code, len(r.body))
	}
	if r := get(t, base+"/vod/t/big.ts", "Range", "bytes=0-9,-10"); r.code != 206 || !bytes.Contains(r.body, big[:10]) || !bytes.Contains(r.body, big[len(big)-10:]) {
		t.Errorf("ranges: %d, %d bytes", r.code, len(r.body))
	}
	if n := o.count("/vod/t/big.ts"); n != 1 {
		t.Errorf("origin asked %d times", n)
	}

	// No descriptor left for bodies: the body stays in the heap.
	limit := memfdLimit
	memfdLimit = func() int64 { return 0 }
	defer func() { memfdLimit = limit }()
	if r := get(t, base+"/vod/t/heap.ts"); r.code != 200 || !bytes.Equal(r.body, big[:sendfileMin]) {
		t.Fatalf("miss past the limit: %d, %d bytes", r.code, len(r.body))
	}
	if h, ok := s.cache.Get("/vod/t/heap.ts"); !ok || h.mem != nil || len(h.body) != sendfileMin {
		t.Fatalf("past the limit: stored %v, in a memfd %v", ok, ok && h.mem != nil)
	}
	if r := get(t, base+"/vod/t/heap.ts"); r.code != 200 || !bytes.Equal(r.body, big[:sendfileMin]) || r.header.Get("Cache-Status") != "edge-test; hit" {
		t.Fatalf("hit past the limit: %d, %d bytes, %q", r.code, len(r.body), r.header.Get("Cache-Status"))
	}

	// Dropped from the cache and held by no one: the memfd closes.
	ino := fdInode(t, fdPath)
	obj = nil
	s.cache.Delete("/vod/t/big.ts")
	harness.Eventually(t, 10*time.Second, "the dropped object's memfd closed", func() bool {
		runtime.GC()
		st, err := os.Stat(fdPath)
		return err != nil || !sameInode(st, ino)
	})
}

func fdInode(t *testing.T, p string) os.FileInfo {
	t.Helper()
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func sameInode(a, b os.FileInfo) bool { return os.SameFile(a, b) }
