package publish_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/distpac/distpac/internal/units"
)

// BenchmarkAdd publishes one package of interleaved random and text-like
// content (64 MiB, or DISTPAC_BENCH_ADD_SIZE) into a fresh server each
// time: archive, SHA-256, piece hashes, catalog and signed snapshot. MB/s
// is of package input. make bench-add compares the whole command with
// zstd and sha256sum at 1 GiB.
func BenchmarkAdd(b *testing.B) {
	size := int64(64 << 20)
	if s := os.Getenv("DISTPAC_BENCH_ADD_SIZE"); s != "" {
		v, err := units.ParseSize(s)
		if err != nil {
			b.Fatalf("DISTPAC_BENCH_ADD_SIZE: %v", err)
		}
		size = int64(v)
	}
	dir := filepath.Join(b.TempDir(), "pkg")
	writeGenPackage(b, dir, 1, []genFile{{path: "assets/data.bin", kind: genInterleaved, size: size}})
	b.SetBytes(size)
	for b.Loop() {
		p := pinnedPublisher(b)
		if _, err := p.Add(context.Background(), []string{dir}); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		os.RemoveAll(p.Paths.Dir)
		b.StartTimer()
	}
}
