package catalog_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/catalog/catalogtest"
)

// benchRows is the catalog size of the benchmarks: the 10,000 packages of
// the many-packages seeder (internal/bench, many.go).
const benchRows = 10_000

// bigCatalog is a working catalog of benchRows rows.
func bigCatalog(b *testing.B) *catalog.DB {
	b.Helper()
	db, err := catalog.Open(context.Background(), filepath.Join(b.TempDir(), "catalog.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	catalogtest.Fill(b, db, benchRows)
	return db
}

// BenchmarkAddOne adds one package to a catalog of benchRows: what
// `dist-server add` of one package pays in the catalog. "sealed" is the
// catalog as the publisher leaves it (it passed CheckPublishable, and
// changed since only through Add); "unsealed" one written by something
// else since, where Add reads every row's torrent to bound the trackers.
func BenchmarkAddOne(b *testing.B) {
	ctx := context.Background()
	for _, sealed := range []bool{true, false} {
		b.Run(map[bool]string{true: "sealed", false: "unsealed"}[sealed], func(b *testing.B) {
			db := bigCatalog(b)
			if sealed {
				if err := db.CheckPublishable(ctx); err != nil {
					b.Fatal(err)
				}
			}
			i := 0
			for b.Loop() {
				i++
				if _, err := db.Add(ctx, []catalog.Package{catalogtest.Row(b, fmt.Sprintf("q%05d", i), "1.0.0")}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCheck checks a snapshot of benchRows as a client does at sync.
func BenchmarkCheck(b *testing.B) {
	ctx := context.Background()
	db := bigCatalog(b)
	snap := filepath.Join(b.TempDir(), "packages.db")
	if err := db.Snapshot(ctx, snap); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		ro, err := catalog.OpenReadOnly(ctx, snap)
		if err != nil {
			b.Fatal(err)
		}
		if err := ro.Check(ctx); err != nil {
			b.Fatal(err)
		}
		ro.Close()
	}
}
