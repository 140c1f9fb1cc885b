package state

import (
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/distpac/distpac/internal/sqltest"
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

// allOwners is the reference OwnersOf answers as: every record's files,
// the first package by name first, through AddOwner (what dist-client read
// for each transaction before the index: 14.7 ms for 1,500 packages of
// three paths, against 1.7 ms for OwnersOf's three paths).
func allOwners(tb testing.TB, db *DB, skip map[string]bool) map[string]Owner {
	tb.Helper()
	ctx := context.Background()
	recs, err := db.Records(ctx) // by name
	if err != nil {
		tb.Fatal(err)
	}
	out := map[string]Owner{}
	for _, r := range recs {
		if skip[r.Name] {
			continue
		}
		files, err := db.Files(ctx, r.Name)
		if err != nil {
			tb.Fatal(err)
		}
		for _, f := range files {
			AddOwner(out, Owner{Name: r.Name, Version: r.Version}, r.Prefix, f)
		}
	}
	return out
}

// TestAddOwner: every path of the packages not skipped maps to its owner;
// a directory shared by several to one of them, Created when any made it.
func TestAddOwner(t *testing.T) {
	db, _ := openTest(t)
	manyPackages(t, db, 3)
	owners := allOwners(t, db, map[string]bool{"p0001": true})
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

// TestOwnersOf: the paths asked map as allOwners maps them, whatever their
// number (chunks), under each prefix; paths no package records, paths
// outside every prefix and a skipped package's paths are absent.
func TestOwnersOf(t *testing.T) {
	ctx := context.Background()
	db, _ := openTest(t)
	manyPackages(t, db, 1200)
	odd := rec("odd", "1.0.0")
	if err := db.Commit(ctx, Change{Put: []Package{{Record: odd, Files: []File{
		{Path: "a&b <c>", Type: TypeFile, Mode: 0o644, SHA256: sum},
		{Path: "\ufffd", Type: TypeFile, Mode: 0o644, SHA256: sum},
	}}}}); err != nil {
		t.Fatal(err)
	}
	other := rec("elsewhere", "2.0.0")
	other.Prefix = "/srv/q"
	if err := db.Commit(ctx, Change{Put: []Package{{Record: other, Files: []File{
		{Path: "bin", Type: TypeDir, Mode: 0o755, Created: true},
		{Path: "bin/p0002", Type: TypeFile, Mode: 0o755, SHA256: sum},
	}}}}); err != nil {
		t.Fatal(err)
	}
	all := allOwners(t, db, map[string]bool{"p0001": true})
	var asked []string
	for abs := range all {
		asked = append(asked, abs)
	}
	asked = append(asked, "/opt/p/bin/p0001", "/opt/p/nothing", "/opt/p", "/opt", "/srv/q/bin/none", "/elsewhere/bin/p0002", "/opt/p/../p/bin/p0003")
	got, err := db.OwnersOf(ctx, map[string]bool{"p0001": true}, asked)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, all) {
		t.Fatalf("OwnersOf of every path and some others: %d owners, allOwners: %d", len(got), len(all))
	}
	for _, tt := range []struct {
		abs  string
		want Owner
		ok   bool
	}{
		{"/opt/p/bin/p0002", Owner{Name: "p0002", Version: "1.0.0", Type: TypeFile}, true},
		{"/srv/q/bin/p0002", Owner{Name: "elsewhere", Version: "2.0.0", Type: TypeFile}, true},
		{"/opt/p/bin", Owner{Name: "p0000", Version: "1.0.0", Type: TypeDir, Created: true}, true},
		{"/opt/p/a&b <c>", Owner{Name: "odd", Version: "1.0.0", Type: TypeFile}, true},
		{"/opt/p/\ufffd", Owner{Name: "odd", Version: "1.0.0", Type: TypeFile}, true},
		{"/opt/p/\xff", Owner{}, false}, // not UTF-8: never recorded, and not the one above
		{"/opt/p/bin/p0001", Owner{}, false},
		{"/opt/p/bin/none", Owner{}, false},
		{"/opt/p", Owner{}, false},
	} {
		got, err := db.OwnersOf(ctx, map[string]bool{"p0001": true}, []string{tt.abs})
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]Owner{}
		if tt.ok {
			want[tt.abs] = tt.want
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("OwnersOf(%q) = %v, want %v", tt.abs, got, want)
		}
	}
}

// TestOwnersOfUsesTheIndex: each query of OwnersOf finds the files
// through files_path, and the directories' from the index alone: it reads
// the rows of the paths asked, not every file under the prefix.
func TestOwnersOfUsesTheIndex(t *testing.T) {
	db, _ := openTest(t)
	manyPackages(t, db, 50)
	for _, tt := range []struct {
		name, query, want string
	}{
		{"directories", dirOwnersQuery, "SEARCH f USING COVERING INDEX files_path (path=? AND type=?)"},
		{"files", fileOwnersQuery, "SEARCH f USING INDEX files_path (path=?"},
	} {
		plan := sqltest.Plan(t, db.sql, tt.query, "/opt/p", `["bin", "bin/p0001"]`, `["p0002"]`)
		found := false
		for _, step := range plan {
			if strings.HasPrefix(step, "SCAN f") {
				t.Errorf("%s: the plan scans the files: %q", tt.name, plan)
			}
			found = found || strings.HasPrefix(step, tt.want)
		}
		if !found {
			t.Errorf("%s: plan %q, want a step %q", tt.name, plan, tt.want)
		}
	}
}

// BenchmarkOwnersOf: the owners of one package's three paths among 1,500
// installed (what an install of a small package checks).
func BenchmarkOwnersOf(b *testing.B) {
	db, _ := openTest(b)
	manyPackages(b, db, 1500)
	ctx := context.Background()
	asked := []string{"/opt/p/bin", "/opt/p/bin/new", "/opt/p/share/new"}
	b.ResetTimer()
	for b.Loop() {
		if _, err := db.OwnersOf(ctx, nil, asked); err != nil {
			b.Fatal(err)
		}
	}
}

// TestMigrateVersion2: a database of schema version 2 (no files_path) is
// read as it is without the lock, and Open adds the index and says version
// 3, keeping every record; a version 2 file with the index already, or
// another extra table, is refused.
func TestMigrateVersion2(t *testing.T) {
	ctx := context.Background()
	asV2 := func(t *testing.T) string {
		db, path := openTest(t)
		manyPackages(t, db, 3)
		db.Close()
		execRaw(t, path, `DROP TABLE scripts`)
		execRaw(t, path, `DROP INDEX files_path`)
		execRaw(t, path, `UPDATE meta SET schema_version = 2`)
		return path
	}
	t.Run("read and migrated", func(t *testing.T) {
		path := asV2(t)
		r, ok, err := OpenRead(ctx, path)
		if err != nil || !ok {
			t.Fatalf("OpenRead of version 2: %v", err)
		}
		got, err := r.OwnersOf(ctx, nil, []string{"/opt/p/bin/p0001", "/opt/p/bin"})
		r.Close()
		if err != nil || got["/opt/p/bin/p0001"].Name != "p0001" || !got["/opt/p/bin"].Created {
			t.Fatalf("OwnersOf on version 2: %v, %v", got, err)
		}
		db, err := Open(ctx, path, "/opt/p")
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var v int64
		var index string
		if err := db.sql.QueryRow(`SELECT schema_version FROM meta`).Scan(&v); err != nil || v != SchemaVersion {
			t.Fatalf("schema version %d after Open (%v), want %d", v, err, SchemaVersion)
		}
		if err := db.sql.QueryRow(`SELECT sql FROM sqlite_schema WHERE name = 'files_path'`).Scan(&index); err != nil || index != filesPathIndex {
			t.Fatalf("index after Open: %q, %v", index, err)
		}
		recs, err := db.Records(ctx)
		if err != nil || len(recs) != 3 {
			t.Fatalf("records after the migration: %d, %v", len(recs), err)
		}
		db.Close()
		if db, err = Open(ctx, path, "/opt/p"); err != nil { // and again: nothing to do
			t.Fatal(err)
		}
	})
	for name, edit := range map[string]string{
		"version 2 with the index":  `CREATE INDEX files_path ON files (path, type, created)`,
		"version 2 with an extra":   `CREATE TABLE extra (x INTEGER)`,
		"version 2 with a narrower": `CREATE INDEX files_path ON files (path)`,
	} {
		t.Run(name, func(t *testing.T) {
			path := asV2(t)
			execRaw(t, path, edit)
			if _, err := Open(ctx, path, "/opt/p"); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "unexpected tables") {
				t.Fatalf("Open = %v, want the schema refused", err)
			}
		})
	}
}

// TestOwnersOfNestedPrefixes: a path that packages under nested prefixes
// both record (the prefix was changed between installs) has the owner
// allOwners gives it: a file over a directory, else the first by name;
// Created when either made it. Skipping the first by name gives the next.
func TestOwnersOfNestedPrefixes(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		name           string
		outer, inner   string   // package names, under /opt and /opt/p
		outerT, innerT FileType // what each records at /opt/p/bin
		skip           string
	}{
		{"directories, inner first by name", "zz", "aa", TypeDir, TypeDir, ""},
		{"directories, outer first by name", "aa", "zz", TypeDir, TypeDir, ""},
		{"a file over the inner's directory", "zz", "aa", TypeFile, TypeDir, ""},
		{"a file over the outer's directory", "aa", "zz", TypeDir, TypeFile, ""},
		{"the first skipped", "zz", "aa", TypeDir, TypeDir, "aa"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			db, _ := openTest(t)
			outer, inner := rec(tt.outer, "1.0.0"), rec(tt.inner, "2.0.0") // inner: /opt/p
			outer.Prefix = "/opt"
			file := func(path string, typ FileType, created bool) File {
				if typ == TypeDir {
					return File{Path: path, Type: TypeDir, Mode: 0o755, Created: created}
				}
				return File{Path: path, Type: typ, Mode: 0o644, SHA256: sum}
			}
			if err := db.Commit(ctx, Change{Put: []Package{
				{Record: outer, Files: []File{file("p", TypeDir, false), file("p/bin", tt.outerT, true)}},
				{Record: inner, Files: []File{file("bin", tt.innerT, false)}},
			}}); err != nil {
				t.Fatal(err)
			}
			skip := map[string]bool{tt.skip: tt.skip != ""}
			all := allOwners(t, db, skip)
			got, err := db.OwnersOf(ctx, skip, []string{"/opt/p/bin"})
			if err != nil || len(got) != 1 || got["/opt/p/bin"] != all["/opt/p/bin"] {
				t.Fatalf("OwnersOf = %+v (%v), allOwners = %+v", got, err, all["/opt/p/bin"])
			}
		})
	}
	t.Run("the first of a shared directory skipped", func(t *testing.T) {
		db, _ := openTest(t)
		manyPackages(t, db, 3) // p0000 made bin
		got, err := db.OwnersOf(ctx, map[string]bool{"p0000": true}, []string{"/opt/p/bin"})
		if want := (Owner{Name: "p0001", Version: "1.0.0", Type: TypeDir}); err != nil || got["/opt/p/bin"] != want {
			t.Fatalf("OwnersOf = %+v (%v), want %+v", got, err, want)
		}
	})
}

// TestMigrateWhileReading: readers without the lock never see a file that
// another process's Open is migrating as damaged (the tables of version 2
// with the version of 3).
func TestMigrateWhileReading(t *testing.T) {
	ctx := context.Background()
	db, path := openTest(t)
	manyPackages(t, db, 300)
	db.Close()
	var gate sync.RWMutex // readers wait while the test takes the file back to version 2
	var stop atomic.Bool
	var bad atomic.Value
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				gate.RLock()
				r, _, err := OpenRead(ctx, path)
				gate.RUnlock()
				if err != nil {
					bad.CompareAndSwap(nil, err)
				} else {
					r.Close()
				}
			}
		}()
	}
	for i := 0; i < 60 && bad.Load() == nil; i++ {
		gate.Lock()
		execRaw(t, path, `DROP TABLE scripts`)
		execRaw(t, path, `DROP INDEX files_path`)
		execRaw(t, path, `UPDATE meta SET schema_version = 2`)
		gate.Unlock()
		d, err := Open(ctx, path, "/opt/p")
		if err != nil {
			t.Fatal(err)
		}
		d.Close()
	}
	stop.Store(true)
	wg.Wait()
	if err := bad.Load(); err != nil {
		t.Fatalf("OpenRead during a migration: %v", err)
	}
}

// TestMigrateDamaged: a damaged version 2 file is refused as damaged, with
// the way out, not as a failed migration.
func TestMigrateDamaged(t *testing.T) {
	db, path := openTest(t)
	manyPackages(t, db, 3000)
	db.Close()
	execRaw(t, path, `DROP TABLE scripts`)
	execRaw(t, path, `DROP INDEX files_path`)
	execRaw(t, path, `UPDATE meta SET schema_version = 2`)
	execRaw(t, path, `PRAGMA wal_checkpoint(TRUNCATE)`)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	mid := len(b) / 4096 / 2 * 4096
	for i := mid + 8; i < mid+3*4096; i++ {
		b[i] = 0xA5
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(context.Background(), path, "/opt/p"); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "mv "+path) {
		t.Fatalf("Open = %v, want ErrCorrupt with the way out", err)
	}
}

// TestOwnersNamed: the recorded paths whose last element is one of the
// names asked, each with its owner, for several names in one call and
// leaving out the packages skipped; nothing for a name that is only a
// suffix, a path, empty, or a LIKE pattern.
func TestOwnersNamed(t *testing.T) {
	ctx := context.Background()
	db, _ := openTest(t)
	manyPackages(t, db, 3)
	dir := Owner{Name: "p0000", Version: "1.0.0", Type: TypeDir, Created: true}
	file := func(name string) Owner { return Owner{Name: name, Version: "1.0.0", Type: TypeFile} }
	for _, tt := range []struct {
		bases []string
		skip  map[string]bool
		want  map[string]Owner
	}{
		{[]string{"p0002"}, nil, map[string]Owner{"/opt/p/bin/p0002": file("p0002"), "/opt/p/share/p0002": file("p0002")}},
		{[]string{"bin"}, nil, map[string]Owner{"/opt/p/bin": dir}},
		{[]string{"p0001", "p0002", "nosuch"}, nil, map[string]Owner{
			"/opt/p/bin/p0001": file("p0001"), "/opt/p/share/p0001": file("p0001"),
			"/opt/p/bin/p0002": file("p0002"), "/opt/p/share/p0002": file("p0002")}},
		{[]string{"p0001", "p0002"}, map[string]bool{"p0002": true}, map[string]Owner{"/opt/p/bin/p0001": file("p0001"), "/opt/p/share/p0001": file("p0001")}},
		{[]string{"bin"}, map[string]bool{"p0000": true}, map[string]Owner{"/opt/p/bin": {Name: "p0001", Version: "1.0.0", Type: TypeDir}}},
		{[]string{"0002"}, nil, map[string]Owner{}},
		{[]string{"bin/p0002"}, nil, map[string]Owner{}},
		{[]string{""}, nil, map[string]Owner{}},
		{nil, nil, map[string]Owner{}},
		{[]string{"%"}, nil, map[string]Owner{}},
		{[]string{"p000_"}, nil, map[string]Owner{}},
	} {
		got, err := db.OwnersNamed(ctx, tt.skip, tt.bases)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("OwnersNamed(%v, %q) = %v, %v; want %v", tt.skip, tt.bases, got, err, tt.want)
		}
	}
}

// TestDirOwners: a directory several packages record is owned by each of
// them, by name, across nested prefixes too (dist-client owner named only
// the first); a file, or a path none records, has no directory owners.
func TestDirOwners(t *testing.T) {
	ctx := context.Background()
	db, _ := openTest(t)
	dir := func(p string, created bool) File { return File{Path: p, Type: TypeDir, Mode: 0o755, Created: created} }
	file := func(p string) File { return File{Path: p, Type: TypeFile, Mode: 0o644, SHA256: sum} }
	outer, elsewhere := rec("aa", "3.0.0"), rec("c", "1.0.0")
	outer.Prefix, elsewhere.Prefix = "/opt", "/srv/q"
	if err := db.Commit(ctx, Change{Put: []Package{
		{Record: rec("b", "2.0.0"), Files: []File{dir("share", true), dir("share/doc", true), file("share/doc/b")}},
		{Record: rec("a", "1.0.0"), Files: []File{dir("share", false), dir("share/doc", false), file("share/doc/a")}},
		{Record: outer, Files: []File{dir("p", false), dir("p/share", false), dir("p/share/doc", false)}},
		{Record: elsewhere, Files: []File{dir("share", true), dir("share/doc", true)}},
	}}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		abs  string
		want []string // name version, in order
	}{
		{"/opt/p/share/doc", []string{"a 1.0.0", "aa 3.0.0", "b 2.0.0"}},
		{"/opt/p/share", []string{"a 1.0.0", "aa 3.0.0", "b 2.0.0"}},
		{"/opt/p", []string{"aa 3.0.0"}},
		{"/srv/q/share/doc", []string{"c 1.0.0"}},
		{"/opt/p/share/doc/a", nil}, // a file
		{"/opt/p/nothing", nil},
		{"/opt/p/\xff", nil},
	} {
		got, err := db.DirOwners(ctx, tt.abs)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, o := range got {
			if o.Type != TypeDir {
				t.Errorf("DirOwners(%q): %+v is not a directory", tt.abs, o)
			}
			names = append(names, o.Name+" "+o.Version)
		}
		if !reflect.DeepEqual(names, tt.want) {
			t.Errorf("DirOwners(%q) = %q, want %q", tt.abs, names, tt.want)
		}
	}
}
