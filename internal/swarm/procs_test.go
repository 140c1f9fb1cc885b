package swarm

import "testing"

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
