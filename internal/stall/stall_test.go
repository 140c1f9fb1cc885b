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

// TestFloor: with a floor, only a count that grew by it since the limit
// was last pushed back is progress; a count that goes down is where the
// floor counts from next. A byte a second pushed the limit back forever.
func TestFloor(t *testing.T) {
	for _, tc := range []struct {
		name   string
		floor  int64
		counts []int64
		want   []bool // Progress's answers
	}{
		{"no floor: any change", 0, []int64{0, 1, 1, 2, 1}, []bool{true, true, false, true, true}},
		{"the first count is the base", 100, []int64{50, 149, 150, 200, 250}, []bool{false, false, true, false, true}},
		{"a byte at a time never", 100, []int64{0, 1, 2, 3, 99}, []bool{false, false, false, false, false}},
		{"a lower count is the new base", 100, []int64{500, 10, 109, 110}, []bool{false, false, false, true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := New(context.Background(), time.Hour, errors.New("stalled"))
			defer w.Stop()
			w.Floor(tc.floor)
			for i, n := range tc.counts {
				if got := w.Progress(n); got != tc.want[i] {
					t.Errorf("Progress(%d) after %v = %v, want %v", n, tc.counts[:i], got, tc.want[i])
				}
			}
		})
	}

	// A count moving under the floor does not keep the context alive.
	errStalled := errors.New("stalled")
	drip := New(context.Background(), 300*time.Millisecond, errStalled)
	defer drip.Stop()
	drip.Floor(1 << 10)
	deadline := time.After(3 * time.Second)
	for n := int64(0); drip.Context().Err() == nil; n++ {
		drip.Progress(n)
		select {
		case <-deadline:
			t.Fatal("a count growing a byte every 20 ms under a 1 KiB floor kept its context for 3 s")
		case <-time.After(20 * time.Millisecond):
		}
	}
	if err := drip.Explain(context.Canceled); !errors.Is(err, errStalled) {
		t.Fatalf("explain = %v, want the stall", err)
	}
}
