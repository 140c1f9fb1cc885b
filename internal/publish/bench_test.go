package publish_test

import (
	"context"
	"database/sql"
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
// remove, re-signing and repair that grows with the catalog. "sealed" is
// the catalog as the publisher leaves it; "changed outside" was written
// by another connection before each publication (handEdit), so the
// snapshot is checked as clients check it.
func BenchmarkPublish10k(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	path := filepath.Join(dir, "catalog.db")
	db, err := catalog.Open(ctx, path)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	catalogtest.Fill(b, db, 10_000)
	// Checked once, as the publisher's first publication of it does.
	if err := db.CheckPublishable(ctx); err != nil {
		b.Fatal(err)
	}
	key, err := signing.LoadOrCreate(filepath.Join(dir, "signing.key"))
	if err != nil {
		b.Fatal(err)
	}
	for _, outside := range []bool{false, true} {
		b.Run(map[bool]string{false: "sealed", true: "changed outside"}[outside], func(b *testing.B) {
			for b.Loop() {
				if outside {
					b.StopTimer()
					other, err := sql.Open("sqlite", "file:"+path)
					if err != nil {
						b.Fatal(err)
					}
					if _, err := other.Exec(`UPDATE packages SET description = description || '.' WHERE name = 'p00001'`); err != nil {
						b.Fatal(err)
					}
					other.Close()
					b.StartTimer()
				}
				if err := publish.Publish(ctx, db, key, filepath.Join(dir, "public")); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
