//go:build linux

package bench

import (
	"testing"

	"golang.org/x/sys/unix"
)

// TestMonotonicIsClockMonotonic checks that monotonic, read through Go's
// clock, is CLOCK_MONOTONIC, which sleepUntil's absolute sleeps use: a
// constant offset would shift every deadline of the delay line.
func TestMonotonicIsClockMonotonic(t *testing.T) {
	for i := range 1000 {
		var ts unix.Timespec
		before := monotonic()
		unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
		after := monotonic()
		// monotonic may read ahead of the system's clock by the width of
		// its calibration, never behind.
		if sys := ts.Nano(); sys > after || sys < before-20_000 {
			t.Fatalf("read %d: CLOCK_MONOTONIC %d is not within monotonic's %d..%d (less 20 µs)", i, sys, before, after)
		}
	}
	// A sleep to an absolute deadline on monotonic's clock ends on time.
	due := monotonic() + 5_000_000
	sleepUntil(due)
	if late := monotonic() - due; late < 0 || late > 50_000_000 {
		t.Fatalf("sleepUntil woke %d ns after its deadline", late)
	}
}
