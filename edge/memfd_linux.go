package edge

import (
	"os"
	"runtime"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// sendfileMin is the smallest body kept in a memfd and sent by the event loop with sendfile(2)
// instead of writev(2) from the Go heap: sendfile hands the socket the memfd's pages where
// writev copies the body into socket buffers, a copy that took half the edge's CPU on 1 MB
// hits. It was 256 KiB until a 100 KB segment at 256 connections (25 MB of bodies in flight,
// past the caches) measured behind nginx's sendfile: by hand, `scripts/wrk-ab 256 3 5`
// (2026-12-03 16:30 UTC), an edge with 64 KiB 27156 / 25029 / 26270 req/s, one with 256 KiB
// 25362 / 21606 / 24405, nginx 23845 / 22300 / 25361 (at 64 connections alike, 25051-31629
// against 25706-29009). Below it the copy is cheap and a descriptor per object is not.
const sendfileMin = 64 << 10

// memfds counts the bodies in memfds in this process and their bytes (the bytes are not in the
// Go heap, so not in its memory statistics).
var memfds struct{ n, bytes atomic.Int64 }

// memfdLimit is how many descriptors bodies may hold: a quarter of RLIMIT_NOFILE (which Go
// raises to its hard limit at start), so that the sockets keep the rest. Past it, bodies stay
// in the Go heap and are written with writev.
var memfdLimit = sync.OnceValue(func() int64 {
	var rl unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &rl) != nil {
		return 0
	}
	return int64(rl.Cur / 4)
})

// newMemBody copies b into a new sealed memfd; nil if one cannot be made (the caller keeps b).
func newMemBody(b []byte) *memBody {
	if memfds.n.Add(1) > memfdLimit() {
		memfds.n.Add(-1)
		return nil
	}
	fd, err := unix.MemfdCreate("edgecdn-body", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		memfds.n.Add(-1)
		return nil
	}
	for off := 0; off < len(b); {
		n, err := unix.Pwrite(fd, b[off:], int64(off))
		if err != nil || n == 0 {
			unix.Close(fd)
			memfds.n.Add(-1)
			return nil
		}
		off += n
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_WRITE|unix.F_SEAL_SEAL); err != nil {
		unix.Close(fd)
		memfds.n.Add(-1)
		return nil
	}
	m := &memBody{f: os.NewFile(uintptr(fd), "edgecdn-body"), fd: fd, n: int64(len(b))}
	memfds.bytes.Add(m.n)
	// The file closes its descriptor when it is unreachable, and m holds the only reference.
	runtime.AddCleanup(m, func(n int64) { memfds.n.Add(-1); memfds.bytes.Add(-n) }, m.n)
	return m
}
