package publish_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/catalog/catalogtest"
	"github.com/distpac/distpac/internal/publish"
	"github.com/distpac/distpac/internal/signing"
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

// BenchmarkPublish10k publishes a catalog of 10,000 rows (catalogtest)
// unchanged: snapshot, read, sign and rename, the part of every add,
// remove, re-signing and repair that grows with the catalog.
func BenchmarkPublish10k(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	db, err := catalog.Open(ctx, filepath.Join(dir, "catalog.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	catalogtest.Fill(b, db, 10_000)
	key, err := signing.LoadOrCreate(filepath.Join(dir, "signing.key"))
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := publish.Publish(ctx, db, key, filepath.Join(dir, "public")); err != nil {
			b.Fatal(err)
		}
	}
}
