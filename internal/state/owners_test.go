package state

import (
	"context"
	"fmt"
	"testing"
)

// manyPackages commits n packages of a directory and two files each, all
// sharing the directory bin.
func manyPackages(tb testing.TB, db *DB, n int) {
	tb.Helper()
	var put []Package
	for i := range n {
		name := fmt.Sprintf("p%04d", i)
		put = append(put, Package{Record: rec(name, "1.0.0"), Files: []File{
			{Path: "bin", Type: TypeDir, Mode: 0o755, Created: i == 0},
			{Path: "bin/" + name, Type: TypeFile, Mode: 0o755, SHA256: sum},
			{Path: "share/" + name, Type: TypeFile, Mode: 0o644, SHA256: sum},
		}})
	}
	if err := db.Commit(context.Background(), Change{Put: put}); err != nil {
		tb.Fatal(err)
	}
}

// TestOwners: every path of the packages not skipped maps to its owner; a
// directory shared by several to one of them, Created when any made it.
func TestOwners(t *testing.T) {
	db, _ := openTest(t)
	manyPackages(t, db, 3)
	owners, err := db.Owners(context.Background(), map[string]bool{"p0001": true})
	if err != nil {
		t.Fatal(err)
	}
	if len(owners) != 5 {
		t.Fatalf("%d owners, want 5: %v", len(owners), owners)
	}
	if o := owners["/opt/p/bin/p0002"]; o.Name != "p0002" || o.Type != TypeFile {
		t.Fatalf("bin/p0002: %+v", o)
	}
	if _, ok := owners["/opt/p/bin/p0001"]; ok {
		t.Fatal("a skipped package's file has an owner")
	}
	if o := owners["/opt/p/bin"]; o.Type != TypeDir || !o.Created {
		t.Fatalf("bin: %+v, want a directory one package made", o)
	}
}

// BenchmarkOwners: the owners of every package but one, among 1,500 (what
// each step of an uninstall of many reads).
func BenchmarkOwners(b *testing.B) {
	db, _ := openTest(b)
	manyPackages(b, db, 1500)
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		if _, err := db.Owners(ctx, map[string]bool{"p0007": true}); err != nil {
			b.Fatal(err)
		}
	}
}
