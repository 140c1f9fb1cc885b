package stall

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestWatch: a transfer's context ends when its progress stops moving for
// the limit, with the stall as the reason, and lives on while it moves.
func TestWatch(t *testing.T) {
	errStalled := errors.New("stalled")
	moving := New(context.Background(), time.Second, errStalled)
	defer moving.Stop()
	for i := range 15 { // 1.5 s, progress every 100 ms
		moving.Progress(int64(i))
		time.Sleep(100 * time.Millisecond)
	}
	if err := moving.Context().Err(); err != nil {
		t.Fatalf("a moving download's context ended: %v", err)
	}
	if err := moving.Explain(errors.New("other")); errors.Is(err, errStalled) {
		t.Fatal("explain blamed a stall that did not happen")
	}

	stuck := New(context.Background(), 100*time.Millisecond, errStalled)
	defer stuck.Stop()
	stuck.Progress(7)
	stuck.Progress(7) // no change: not progress
	select {
	case <-stuck.Context().Done():
	case <-time.After(2 * time.Second):
		t.Fatal("a stalled download's context did not end")
	}
	if err := stuck.Explain(context.Canceled); !errors.Is(err, errStalled) {
		t.Fatalf("explain = %v, want the stall", err)
	}
}
