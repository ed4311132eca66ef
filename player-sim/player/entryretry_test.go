package player

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// flakyEntry fails its first fails calls, then answers.
type flakyEntry struct {
	fails, calls int
}

func (e *flakyEntry) Bases(context.Context, string) ([]string, error) {
	e.calls++
	if e.calls <= e.fails {
		return nil, errors.New("steering: context deadline exceeded")
	}
	return []string{"http://127.0.0.1:1"}, nil
}

func (e *flakyEntry) Refresh(ctx context.Context, t string) ([]string, error) { return e.Bases(ctx, t) }

// TestEntryRetriedAtStartup: an entry that times out once or twice does not fail the player;
// one that keeps failing does, after entryAttempts tries, with every error.
func TestEntryRetriedAtStartup(t *testing.T) {
	ctx := context.Background()
	e := &flakyEntry{fails: entryAttempts - 1}
	bases, err := entryBases(ctx, e, "t")
	if err != nil || len(bases) != 1 || e.calls != entryAttempts {
		t.Fatalf("entry failing %d times: bases %v, err %v after %d calls; want an answer on the last try", e.fails, bases, err, e.calls)
	}

	e = &flakyEntry{fails: 1 << 30}
	_, err = entryBases(ctx, e, "t")
	if err == nil || e.calls != entryAttempts || !strings.Contains(err.Error(), "deadline exceeded") {
		t.Fatalf("entry that never answers: err %v after %d calls; want a failure after %d", err, e.calls, entryAttempts)
	}

	// A player stopped while it waits to retry stops at once.
	cctx, cancel := context.WithCancel(ctx)
	e = &flakyEntry{fails: 1 << 30}
	done := make(chan error, 1)
	start := time.Now()
	go func() { _, err := entryBases(cctx, e, "t"); done <- err }()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled while waiting: err %v, want context.Canceled", err)
		}
	case <-time.After(entryRetryDelay * entryAttempts * 2):
		t.Fatalf("entryBases still waiting %v after its context was cancelled", time.Since(start))
	}
}
