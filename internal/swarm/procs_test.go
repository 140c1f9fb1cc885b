package swarm

import (
	"context"
	"runtime"
	"strconv"
	"testing"
	"time"
)

func TestProcsGovernor(t *testing.T) {
	const mb = 1 << 20
	perTick := func(rate float64) int64 { return int64(rate * procsTick.Seconds()) }
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
			g := procsGovernor{most: 4, cur: 4}
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

// GovernProcs drops an idle process to one processor and gives every core
// back when its context ends; with GOMAXPROCS in the environment it leaves
// the process alone.
func TestGovernProcs(t *testing.T) {
	most := runtime.GOMAXPROCS(0)
	if most < 2 {
		t.Skip("one processor: nothing to govern")
	}
	waitFor := func(want int, within time.Duration) int {
		deadline := time.Now().Add(within)
		for {
			got := runtime.GOMAXPROCS(0)
			if got == want || time.Now().After(deadline) {
				return got
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	t.Run("idle", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		GovernProcs(ctx)
		if got := waitFor(1, procsLowTicks*procsTick+2*time.Second); got != 1 {
			cancel()
			t.Fatalf("idle for %d ticks: GOMAXPROCS %d, want 1", procsLowTicks, got)
		}
		cancel()
		if got := waitFor(most, 2*time.Second); got != most {
			t.Fatalf("after the context ended: GOMAXPROCS %d, want %d", got, most)
		}
	})

	t.Run("environment", func(t *testing.T) {
		t.Setenv("GOMAXPROCS", strconv.Itoa(most))
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		GovernProcs(ctx)
		time.Sleep(procsLowTicks*procsTick + 500*time.Millisecond)
		if got := runtime.GOMAXPROCS(0); got != most {
			t.Fatalf("GOMAXPROCS set in the environment, yet changed to %d", got)
		}
	})
}
