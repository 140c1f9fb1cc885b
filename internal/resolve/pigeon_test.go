package resolve

import (
	"errors"
	"flag"
	"testing"
)

// pigeonSteps is the step bound BenchmarkResolvePigeon gives the search:
// lower than DefaultMaxSteps by default so that a run of every benchmark
// stays short; -pigeonsteps=1000000 runs what a user meets.
var pigeonSteps = flag.Int("pigeonsteps", 100_000, "step bound of BenchmarkResolvePigeon")

// BenchmarkResolvePigeon prints time, CPU, allocation and peak heap for
// the pigeonhole catalog, which has no plan and which no resolution-based
// search proves so in fewer than exponentially many steps: what matters
// is the cost of each step until the bound ends it.
func BenchmarkResolvePigeon(b *testing.B) {
	cat := pigeonCatalog()
	req := reqOf("hroot")
	req.MaxSteps = *pigeonSteps
	b.ReportAllocs()
	var peak uint64
	var err error
	start := cpuTime()
	n := 0
	for b.Loop() {
		p, _ := peakHeap(func() { _, err = Resolve(cat, req) })
		peak = max(peak, p)
		n++
	}
	if cpu := cpuTime() - start; cpu > 0 && n > 0 {
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(n), "cpu-ns/op")
	}
	b.ReportMetric(float64(peak), "peak-heap-B")
	if !errors.Is(err, ErrTooComplex) {
		b.Fatalf("err = %v, want ErrTooComplex", err)
	}
	b.Logf("%v", err)
}
