package httpx

import "golang.org/x/sys/unix"

// SetNotsentLowat sets TCP_NOTSENT_LOWAT on a TCP socket: the kernel then reports it writable
// (and takes more from write, sendfile or splice) only while fewer than n bytes wait unsent in
// it. n <= 0 leaves the socket as it is.
func SetNotsentLowat(fd int, n int64) error {
	if n <= 0 {
		return nil
	}
	return unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NOTSENT_LOWAT, int(min(n, 1<<30)))
}
