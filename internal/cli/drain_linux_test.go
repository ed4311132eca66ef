package cli

import (
	"io"
	"os"
	"testing"
	"time"
)

// TestDrainPipe: DrainPipe returns once the reader has taken what was written, reports false
// when nobody reads before its deadline, and true at once for a file that is not a pipe.
func TestDrainPipe(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if _, err := w.Write(make([]byte, 10_000)); err != nil {
		t.Fatal(err)
	}
	if DrainPipe(w, 50*time.Millisecond) {
		t.Fatal("DrainPipe reported 10000 unread bytes as read")
	}
	read := make(chan int)
	go func() {
		n, _ := io.ReadFull(r, make([]byte, 10_000))
		read <- n
	}()
	if !DrainPipe(w, 10*time.Second) {
		t.Fatal("DrainPipe timed out while the reader read")
	}
	if n := <-read; n != 10_000 {
		t.Errorf("the reader got %d bytes, want 10000", n)
	}
	f, err := os.CreateTemp(t.TempDir(), "x")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.WriteString("not a pipe")
	if !DrainPipe(f, time.Nanosecond) {
		t.Error("DrainPipe on a regular file reported false")
	}
}
