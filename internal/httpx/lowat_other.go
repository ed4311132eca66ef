//go:build !linux

package httpx

// SetNotsentLowat does nothing here: TCP_NOTSENT_LOWAT is Linux's (and macOS's, whose value
// differs; the event loops that gain from it are Linux's alone).
func SetNotsentLowat(fd int, n int64) error { return nil }
