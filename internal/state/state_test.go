package state

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

const sum = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func rec(name, version string) Record {
	return Record{
		Name: name, Version: version, Archive: name + "-" + version + ".tar.zst", SHA256: sum,
		Prefix: "/opt/p", FilesKnown: true, InstalledAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
	}
}

func openTest(t testing.TB) (*DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "client", "installed.db")
	db, err := Open(context.Background(), path, "/opt/p")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, path
}

func TestCommitAndRead(t *testing.T) {
	ctx := context.Background()
	db, path := openTest(t)
	foo := rec("foo", "1.0.0")
	foo.Depends = []string{"bar ^1"}
	foo.HasUninstall = true
	bar := rec("bar", "1.2.0")
	bar.Auto = true
	files := []File{
		{Path: "bin", Type: TypeDir, Mode: 0o755, Created: true},
		{Path: "bin/foo", Type: TypeFile, Mode: 0o755, Size: 3, SHA256: sum},
		{Path: "bin/f", Type: TypeSymlink, Mode: 0o777, Target: "foo"},
	}
	err := db.Commit(ctx, Change{Put: []Package{{Record: foo, Files: files}, {Record: bar, Files: []File{{Path: "bin", Type: TypeDir, Mode: 0o755}}}}})
	if err != nil {
		t.Fatal(err)
	}
	st, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Packages) != 2 || !st.Packages["bar"].Auto || st.Packages["foo"].Depends[0] != "bar ^1" || !st.Packages["foo"].HasUninstall {
		t.Fatalf("round trip gave %+v", st.Packages)
	}
	if r, ok := st.Get("FOO"); !ok || r.Name != "foo" || !r.InstalledAt.Equal(foo.InstalledAt) {
		t.Fatalf("Get ignoring case = %+v, %v", r, ok)
	}
	got, err := db.Files(ctx, "foo")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].Path != "bin" || got[1].Path != "bin/f" || got[1].Target != "foo" || got[2].Mode != 0o755 || got[2].SHA256 != sum {
		t.Fatalf("Files = %+v", got)
	}
	owners, err := db.OwnersOf(ctx, map[string]bool{"bar": true}, []string{"/opt/p/bin/foo", "/opt/p/bin"})
	if err != nil {
		t.Fatal(err)
	}
	if o := owners["/opt/p/bin/foo"]; o.Name != "foo" || o.Version != "1.0.0" || o.Type != TypeFile {
		t.Fatalf("owner of bin/foo = %+v", o)
	}
	if o := owners["/opt/p/bin"]; o.Type != TypeDir || !o.Created {
		t.Fatalf("owner of bin = %+v", o)
	}
	// A removal takes the files with the record; a replacement rewrites them.
	if err := db.Commit(ctx, Change{Remove: []string{"foo"}, Put: []Package{{Record: rec("bar", "1.3.0")}}}); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.Files(ctx, "foo"); len(got) != 0 {
		t.Fatalf("files of a removed package: %+v", got)
	}
	if got, _ := db.Files(ctx, "bar"); len(got) != 0 {
		t.Fatalf("files of a replaced record: %+v", got)
	}
	recs, _ := db.Records(ctx)
	if len(recs) != 1 || recs[0].Version != "1.3.0" {
		t.Fatalf("records = %+v", recs)
	}
}

func TestCommitRefusesInvalid(t *testing.T) {
	db, _ := openTest(t)
	bad := rec("foo", "1.0.0")
	bad.Version = "1.0.0/../../../victim"
	if err := db.Commit(context.Background(), Change{Put: []Package{{Record: bad}}}); err == nil {
		t.Fatal("Commit accepted a version with a path in it")
	}
	if err := db.Commit(context.Background(), Change{Put: []Package{{Record: rec("foo", "1.0.0"), Files: []File{{Path: "../x", Type: TypeDir}}}}}); err == nil {
		t.Fatal("Commit accepted a file path with ..")
	}
}

// exec runs SQL straight on the file, as a user editing it by hand would.
func execRaw(t *testing.T, path, query string, args ...any) {
	t.Helper()
	d, _ := dsn(path, "_busy_timeout=1000")
	raw, err := sql.Open("sqlite", d)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(query, args...); err != nil {
		t.Fatal(err)
	}
}

// TestCommitManyFiles round-trips file lists around the INSERT batch size:
// full batches share one prepared statement, the rest has its own.
func TestCommitManyFiles(t *testing.T) {
	for _, n := range []int{0, 1, filesPerInsert - 1, filesPerInsert, filesPerInsert + 1, 2*filesPerInsert + 37} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			ctx := context.Background()
			db, path := openTest(t)
			var files []File
			for i := range n {
				files = append(files, File{Path: fmt.Sprintf("share/f%04d", i), Type: TypeFile, Mode: 0o644, Size: int64(i), SHA256: sum})
			}
			if err := db.Commit(ctx, Change{Put: []Package{{Record: rec("foo", "1.0.0"), Files: files}}}); err != nil {
				t.Fatal(err)
			}
			st, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			got, err := db.Files(ctx, "foo")
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := st.Get("foo"); !ok || len(got) != n {
				t.Fatalf("read back %d files, want %d", len(got), n)
			}
			for i, f := range got {
				if f.Path != files[i].Path || f.Size != int64(i) {
					t.Fatalf("file %d = %+v, want %+v", i, f, files[i])
				}
			}
		})
	}
}

// TestSnapshotIsOneCommit: a commit by another connection (another
// process) between a snapshot's statements is not seen by the later ones,
// so a package's record and its files come from the same commit.
func TestSnapshotIsOneCommit(t *testing.T) {
	ctx := context.Background()
	writer, path := openTest(t)
	put := func(version string) {
		t.Helper()
		f := File{Path: "share/aaa/v" + version, Type: TypeFile, Mode: 0o644, Size: 3, SHA256: sum}
		if err := writer.Commit(ctx, Change{Put: []Package{{Record: rec("aaa", version), Files: []File{f}}}}); err != nil {
			t.Fatal(err)
		}
	}
	put("1.0.0")
	reader, ok, err := OpenRead(ctx, path)
	if err != nil || !ok {
		t.Fatalf("OpenRead: %v, %v", ok, err)
	}
	defer reader.Close()
	err = reader.Read(ctx, func(s *Snapshot) error {
		st, err := s.State(ctx)
		if err != nil {
			return err
		}
		put("2.0.0") // another process's install commits now
		files, err := s.Files(ctx, "aaa")
		if err != nil {
			return err
		}
		if v := st.Packages["aaa"].Version; v != "1.0.0" || len(files) != 1 || files[0].Path != "share/aaa/v"+v {
			t.Errorf("snapshot paired record %s with files %+v", v, files)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Outside the snapshot the new commit is read.
	files, err := reader.Files(ctx, "aaa")
	if err != nil || len(files) != 1 || files[0].Path != "share/aaa/v2.0.0" {
		t.Fatalf("after the snapshot: %+v, %v", files, err)
	}
}

// BenchmarkState: every record of 1,500 packages, read and validated, as
// each command does at its start.
func BenchmarkState(b *testing.B) {
	db, _ := openTest(b)
	manyPackages(b, db, 1500)
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		if _, err := db.State(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
