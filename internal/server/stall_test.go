package server

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestStallLimit: a mirror's download ends when its progress stops moving
// for the limit, with the stall as the reason, and lives on while it moves.
func TestStallLimit(t *testing.T) {
	moving := newStallLimit(context.Background(), time.Second)
	defer moving.stop()
	for i := range 15 { // 1.5 s, progress every 100 ms
		moving.progress(int64(i))
		time.Sleep(100 * time.Millisecond)
	}
	if err := moving.ctx.Err(); err != nil {
		t.Fatalf("a moving download's context ended: %v", err)
	}
	if err := moving.explain(errors.New("other")); errors.Is(err, errStalled) {
		t.Fatal("explain blamed a stall that did not happen")
	}

	stuck := newStallLimit(context.Background(), 100*time.Millisecond)
	defer stuck.stop()
	stuck.progress(7)
	stuck.progress(7) // no change: not progress
	select {
	case <-stuck.ctx.Done():
	case <-time.After(2 * time.Second):
		t.Fatal("a stalled download's context did not end")
	}
	if err := stuck.explain(context.Canceled); !errors.Is(err, errStalled) {
		t.Fatalf("explain = %v, want the stall", err)
	}
}
