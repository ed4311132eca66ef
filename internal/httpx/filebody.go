package httpx

import (
	"bufio"
	"io"
	"os"
)

// FileBody streams a section of an open file as a fasthttp response body and closes the file
// when fasthttp is done with it. fasthttp calls WriteTo with its bufio.Writer; flushing it first
// lets bufio hand the copy to the TCP connection's ReadFrom, which the kernel serves with
// sendfile(2) from an io.LimitedReader over the file: no copy through user space.
type FileBody struct {
	f      *os.File
	off, n int64
	read   int64
}

// NewFileBody returns a body of n bytes of f from off. It takes ownership of f.
func NewFileBody(f *os.File, off, n int64) *FileBody { return &FileBody{f: f, off: off, n: n} }

// Read implements io.Reader, for callers that do not use WriteTo.
func (b *FileBody) Read(p []byte) (int, error) {
	if b.read >= b.n {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), b.n-b.read)]
	n, err := b.f.ReadAt(p, b.off+b.read)
	b.read += int64(n)
	if err == io.EOF && b.read == b.n {
		err = nil
	}
	return n, err
}

// WriteTo implements io.WriterTo with sendfile where the destination allows it.
func (b *FileBody) WriteTo(w io.Writer) (int64, error) {
	if bw, ok := w.(*bufio.Writer); ok {
		if err := bw.Flush(); err != nil {
			return 0, err
		}
	}
	if _, err := b.f.Seek(b.off+b.read, io.SeekStart); err != nil {
		return 0, err
	}
	n, err := io.Copy(w, &io.LimitedReader{R: b.f, N: b.n - b.read})
	b.read += n
	if err == nil && b.read < b.n {
		err = io.ErrUnexpectedEOF // the file shrank under us: never pass a short body off as whole
	}
	return n, err
}

// SupportsBodyWriteTo tells fasthttp to use WriteTo.
func (b *FileBody) SupportsBodyWriteTo() bool { return true }

// Close closes the file.
func (b *FileBody) Close() error { return b.f.Close() }
