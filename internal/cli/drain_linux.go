package cli

import (
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// DrainPipe waits, up to max, until what the process wrote to f is read, when f is a pipe (a
// container's stdout: containerd reads it through a FIFO into the pod's log), and reports
// whether it was. A process that exits with its last output still in the pipe can lose it: a
// report printed at the end of a Kubernetes Job came out of `kubectl logs` cut short by 14 KB
// once in three runs. For anything else it returns true at once.
func DrainPipe(f *os.File, max time.Duration) bool {
	st, err := f.Stat()
	if err != nil || st.Mode()&os.ModeNamedPipe == 0 {
		return true
	}
	deadline := time.Now().Add(max)
	for {
		n, err := unix.IoctlGetInt(int(f.Fd()), unix.TIOCINQ) // FIONREAD: the bytes in the pipe
		if err != nil || n == 0 {
			return err == nil
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond) // the reader is another process: nothing to wait on but the count
	}
}
