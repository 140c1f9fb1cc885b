package procs

import (
	"context"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// fresh forgets Serial and gives the process back the processors it had
// when the test ends. The tests of this package change GOMAXPROCS, a
// process-wide setting: none of them runs in parallel.
func fresh(t *testing.T) int {
	t.Helper()
	if os.Getenv("GOMAXPROCS") != "" {
		t.Skip("GOMAXPROCS set in the environment: procs changes nothing")
	}
	n := runtime.GOMAXPROCS(0)
	reset := func() {
		mu.Lock()
		serial, most, held, governed = false, 0, 0, false
		mu.Unlock()
		runtime.GOMAXPROCS(n)
	}
	reset()
	t.Cleanup(reset)
	return n
}

func TestGovernor(t *testing.T) {
	const mb = 1 << 20
	perTick := func(rate float64) int64 { return int64(rate * governTick.Seconds()) }
	for _, c := range []struct {
		name  string
		rates []float64 // bytes per second in each tick
		want  []int     // processors after each tick
	}{
		{"idle drops to one after the low ticks", []float64{0, 0, 0, 0, 0}, []int{4, 4, 4, 1, 1}},
		{"a busy tick takes every core at once", []float64{0, 0, 0, 0, 64 * mb, 0}, []int{4, 4, 4, 1, 4, 4}},
		{"between the marks nothing changes", []float64{20 * mb, 20 * mb, 20 * mb, 20 * mb, 20 * mb}, []int{4, 4, 4, 4, 4}},
		{"the middle resets the count", []float64{0, 0, 0, 20 * mb, 0, 0, 0, 0}, []int{4, 4, 4, 4, 4, 4, 4, 1}},
		{"capped swarm traffic", []float64{4 * mb, 4 * mb, 4 * mb, 4 * mb, 40 * mb}, []int{4, 4, 4, 1, 4}},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := governor{most: 4, cur: 4}
			var moved int64
			for i, r := range c.rates {
				moved += perTick(r)
				g.cur = g.next(moved)
				if g.cur != c.want[i] {
					t.Fatalf("tick %d: %d processors, want %d", i, g.cur, c.want[i])
				}
			}
		})
	}
}

// waitProcs waits up to within for GOMAXPROCS to become want and returns
// what it is.
func waitProcs(want int, within time.Duration) int {
	deadline := time.Now().Add(within)
	for {
		got := runtime.GOMAXPROCS(0)
		if got == want || time.Now().After(deadline) {
			return got
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Govern drops an idle process to one processor, takes every core when
// the bytes move fast, and gives every core back when its context ends;
// with GOMAXPROCS in the environment it leaves the process alone.
func TestGovern(t *testing.T) {
	most := fresh(t)
	if most < 2 {
		t.Skip("one processor: nothing to govern")
	}
	t.Run("idle, then busy", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var moved atomic.Int64
		Govern(ctx, moved.Load)
		if got := waitProcs(1, governLowTicks*governTick+2*time.Second); got != 1 {
			t.Fatalf("idle for %d ticks: GOMAXPROCS %d, want 1", governLowTicks, got)
		}
		// Far more than governHighRate in the next tick, whenever it comes.
		moved.Add(1 << 30)
		if got := waitProcs(most, 2*time.Second); got != most {
			t.Fatalf("after a busy tick: GOMAXPROCS %d, want %d", got, most)
		}
		if got := waitProcs(1, governLowTicks*governTick+2*time.Second); got != 1 {
			t.Fatalf("idle again: GOMAXPROCS %d, want 1", got)
		}
		cancel()
		if got := waitProcs(most, 2*time.Second); got != most {
			t.Fatalf("after the context ended: GOMAXPROCS %d, want %d", got, most)
		}
	})
	t.Run("environment", func(t *testing.T) {
		t.Setenv("GOMAXPROCS", strconv.Itoa(most))
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		Govern(ctx, func() int64 { return 0 })
		time.Sleep(governLowTicks*governTick + 500*time.Millisecond)
		if got := runtime.GOMAXPROCS(0); got != most {
			t.Fatalf("GOMAXPROCS set in the environment, yet changed to %d", got)
		}
	})
}

// A daemon of a dist-client started on one processor (Start) is governed
// from there: every core when busy (the governor knew only the one it
// started on before, and never changed it), one when idle, every core at
// the end; Serial and Parallel then leave it alone.
func TestStartThenGovern(t *testing.T) {
	most := fresh(t)
	if most < 2 {
		t.Skip("one processor: nothing to govern")
	}
	Start()
	if got := runtime.GOMAXPROCS(0); got != 1 {
		t.Fatalf("after Start: GOMAXPROCS %d, want 1", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var moved atomic.Int64
	Govern(ctx, moved.Load)
	moved.Add(1 << 30)
	if got := waitProcs(most, 2*time.Second); got != most {
		t.Fatalf("after a busy tick: GOMAXPROCS %d, want %d", got, most)
	}
	Serial()
	if got := runtime.GOMAXPROCS(0); got != most {
		t.Fatalf("Serial of a governed process: GOMAXPROCS %d, want %d", got, most)
	}
	if got := waitProcs(1, governLowTicks*governTick+2*time.Second); got != 1 {
		t.Fatalf("idle: GOMAXPROCS %d, want 1", got)
	}
	release := Parallel()
	if got := runtime.GOMAXPROCS(0); got != 1 {
		t.Fatalf("Parallel of a governed process: GOMAXPROCS %d, want 1", got)
	}
	release()
	cancel()
	if got := waitProcs(most, 2*time.Second); got != most {
		t.Fatalf("after the context ended: GOMAXPROCS %d, want %d", got, most)
	}
}

// Serial leaves one processor; Parallel gives every one back while held,
// nested, each release counting once.
func TestSerialParallel(t *testing.T) {
	most := fresh(t)
	if most < 2 {
		t.Skip("one processor: nothing to change")
	}
	var outer, inner, undo func()
	for _, s := range []struct {
		name string
		do   func()
		want int // GOMAXPROCS after it
	}{
		{"Serial", func() { undo = Serial() }, 1},
		{"Serial again changes nothing", func() { Serial() }, 1},
		{"Parallel", func() { outer = Parallel() }, most},
		{"a nested Parallel", func() { inner = Parallel() }, most},
		{"the outer released first", func() { outer() }, most},
		{"released twice counts once", func() { outer() }, most},
		{"the last released", func() { inner() }, 1},
		{"Parallel held at undo", func() { outer = Parallel(); undo() }, most},
		{"released after undo", func() { outer() }, most},
	} {
		s.do()
		if got := runtime.GOMAXPROCS(0); got != s.want {
			t.Fatalf("after %s: GOMAXPROCS %d, want %d", s.name, got, s.want)
		}
	}
}

// Without Serial, or with GOMAXPROCS in the environment, neither call
// changes the processors.
func TestParallelAloneChangesNothing(t *testing.T) {
	most := fresh(t)
	release := Parallel()
	if got := runtime.GOMAXPROCS(0); got != most {
		t.Fatalf("Parallel without Serial: GOMAXPROCS %d, want %d", got, most)
	}
	release()
	if got := runtime.GOMAXPROCS(0); got != most {
		t.Fatalf("released without Serial: GOMAXPROCS %d, want %d", got, most)
	}
	t.Setenv("GOMAXPROCS", strconv.Itoa(most))
	Serial()
	if got := runtime.GOMAXPROCS(0); got != most {
		t.Fatalf("Serial with GOMAXPROCS set: GOMAXPROCS %d, want %d", got, most)
	}
}
