package cache_test

import (
	"fmt"

	"edgecdn/edge/cache"
)

// segment is a cached response body.
type segment []byte

func (s segment) Size() int64 { return int64(len(s)) }

func Example() {
	c, err := cache.New(cache.Config[segment]{
		MaxBytes: 64 << 20, // admits objects up to 8 MiB
		OnEvict:  func(key string, _ segment) { fmt.Println("evicted", key) },
	})
	if err != nil {
		panic(err)
	}

	c.Set("/vod/title/720p/seg1.ts", make(segment, 1_400_000))
	c.Set("/vod/title/720p/seg2.ts", make(segment, 1_400_000))
	if seg, ok := c.Get("/vod/title/720p/seg1.ts"); ok {
		fmt.Println("hit", len(seg), "bytes")
	}
	if _, ok := c.Get("/vod/title/1080p/seg1.ts"); !ok {
		fmt.Println("miss: fill from the origin, then Set")
	}
	fmt.Println("admitted 10 MB:", c.Set("/vod/title/huge.mp4", make(segment, 10_000_000)))
	fmt.Println("purged", c.DeletePrefix("/vod/title/720p/"))

	st := c.Stats()
	fmt.Printf("hits %d, misses %d, sets %d, rejected %d, objects %d\n", st.Hits, st.Misses, st.Sets, st.Rejected, st.Objects)
	// Output:
	// hit 1400000 bytes
	// miss: fill from the origin, then Set
	// admitted 10 MB: false
	// purged 2
	// hits 1, misses 1, sets 2, rejected 1, objects 0
}
