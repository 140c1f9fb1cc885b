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
	err := loopMeasured(b, func() error { _, err := Resolve(cat, req); return err })
	if !errors.Is(err, ErrTooComplex) {
		b.Fatalf("err = %v, want ErrTooComplex", err)
	}
	b.Logf("%v", err)
}
