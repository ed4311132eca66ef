package edge

import (
	"bytes"
	"io"
	"os"
	"strconv"
	"time"
)

// object is one cached response: an immutable body and the headers an edge serves it with.
// An object is never modified after it is stored; a revalidation stores a new one sharing the
// body. A body of sendfileMin bytes or more lives in a memfd (mem) and not in the Go heap, so
// the event loop sends it with sendfile(2); a smaller one, or one no memfd could be made for,
// is in body.
type object struct {
	key          string
	body         []byte   // nil when mem holds the body
	mem          *memBody // the body in a sealed memfd, or nil
	etag         []byte   // the origin's strong ETag, with quotes
	lastModified []byte
	modTime      time.Time
	contentType  []byte
	cacheControl []byte
	kind         kind
	stored       time.Time // fetched or last revalidated: Age counts from here
	expires      time.Time // fresh until
	sha256       [32]byte  // of body, checked on fill and on every disk read
}

// objectOverhead approximates the bytes an object costs beyond its body and key: headers,
// the struct, and the cache's own entry.
const objectOverhead = 512

// Size implements cache.Sized.
func (o *object) Size() int64 { return o.size() + int64(len(o.key)) + objectOverhead }

// size is the body's length.
func (o *object) size() int64 {
	if o.mem != nil {
		return o.mem.n
	}
	return int64(len(o.body))
}

// setBody makes b the object's body: in a memfd when it is large and one can be made (b is
// then not kept), else b itself.
func (o *object) setBody(b []byte) {
	if len(b) >= sendfileMin {
		if m := newMemBody(b); m != nil {
			o.body, o.mem = nil, m
			return
		}
	}
	o.body, o.mem = b, nil
}

// reader reads the body's bytes [off, off+n).
func (o *object) reader(off, n int64) *io.SectionReader {
	if o.mem != nil {
		return io.NewSectionReader(o.mem.f, off, n)
	}
	return io.NewSectionReader(bytes.NewReader(o.body), off, n)
}

// memBody is an object's body in a sealed memfd. The *os.File closes the descriptor when no
// one holds it any more (its finalizer), so whoever sends from fd holds the memBody for as
// long as it does; pages the kernel still references after that live on in the kernel.
type memBody struct {
	f  *os.File
	fd int
	n  int64
}

func (o *object) fresh(now time.Time) bool { return now.Before(o.expires) }

type kind int

const (
	kindSegment kind = iota
	kindPlaylist
	kindOther
	numKinds
)

var kindNames = [numKinds]string{"segment", "playlist", "other"}

func kindOf(key []byte) kind {
	if i := bytes.IndexByte(key, '?'); i >= 0 {
		key = key[:i]
	}
	switch {
	case bytes.HasSuffix(key, []byte(".m3u8")), bytes.HasSuffix(key, []byte(".mpd")):
		return kindPlaylist
	case bytes.HasSuffix(key, []byte(".ts")), bytes.HasSuffix(key, []byte(".m4s")), bytes.HasSuffix(key, []byte(".mp4")),
		bytes.HasSuffix(key, []byte(".aac")), bytes.HasSuffix(key, []byte(".m4a")):
		return kindSegment
	}
	return kindOther
}

// cachePolicy is what an origin's Cache-Control allows.
type cachePolicy struct {
	store bool          // false for no-store and private
	ttl   time.Duration // freshness lifetime; 0 means revalidate every time (no-cache, max-age=0)
}

// parseCacheControl reads the directives a shared cache obeys: no-store, private, no-cache,
// s-maxage (over max-age) and max-age. Without any lifetime it uses def.
func parseCacheControl(v []byte, def time.Duration) cachePolicy {
	p := cachePolicy{store: true, ttl: def}
	maxAge, sMaxAge := -1, -1
	for len(v) > 0 {
		var d []byte
		if i := bytes.IndexByte(v, ','); i >= 0 {
			d, v = v[:i], v[i+1:]
		} else {
			d, v = v, nil
		}
		d = bytes.TrimSpace(d)
		name, val := d, []byte(nil)
		if i := bytes.IndexByte(d, '='); i >= 0 {
			name, val = bytes.TrimSpace(d[:i]), bytes.Trim(bytes.TrimSpace(d[i+1:]), `"`)
		}
		switch {
		case bytes.EqualFold(name, []byte("no-store")), bytes.EqualFold(name, []byte("private")):
			p.store = false
		case bytes.EqualFold(name, []byte("no-cache")):
			maxAge, sMaxAge = 0, 0
		case bytes.EqualFold(name, []byte("s-maxage")):
			if n, err := strconv.Atoi(string(val)); err == nil && n >= 0 && sMaxAge != 0 {
				sMaxAge = n
			}
		case bytes.EqualFold(name, []byte("max-age")):
			if n, err := strconv.Atoi(string(val)); err == nil && n >= 0 && maxAge != 0 {
				maxAge = n
			}
		}
	}
	switch {
	case sMaxAge >= 0:
		p.ttl = time.Duration(sMaxAge) * time.Second
	case maxAge >= 0:
		p.ttl = time.Duration(maxAge) * time.Second
	}
	return p
}
