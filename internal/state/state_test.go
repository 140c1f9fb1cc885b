package state

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
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

func TestValidateRecord(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Record)
		want   string // "" = valid
	}{
		{"valid", func(*Record) {}, ""},
		{"traversal in version", func(r *Record) {
			r.Version = "1.0.0/../../../victim"
			r.Archive = r.Name + "-" + r.Version + ".tar.zst"
		}, "version"},
		{"loose version", func(r *Record) { r.Version = "1.0"; r.Archive = "foo-1.0.tar.zst" }, "version"},
		{"slash in name", func(r *Record) { r.Name = "../foo"; r.Archive = "../foo-1.0.0.tar.zst" }, "name"},
		{"archive mismatch", func(r *Record) { r.Archive = "../../x.tar.zst" }, "archive"},
		{"bad sha", func(r *Record) { r.SHA256 = "zz" }, "sha256"},
		{"relative prefix", func(r *Record) { r.Prefix = "opt/p" }, "prefix"},
		{"unclean prefix", func(r *Record) { r.Prefix = "/opt/p/../q" }, "prefix"},
		{"root prefix", func(r *Record) { r.Prefix = "/" }, "prefix"},
		{"bad dependency", func(r *Record) { r.Depends = []string{"x >=>="} }, "depends"},
		{"untracked escapes", func(r *Record) { r.Untracked = []string{"../etc/passwd"} }, "untracked"},
		{"negative size", func(r *Record) { r.Size = -1 }, "size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rec("foo", "1.0.0")
			tt.change(&r)
			err := ValidateRecord(r)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one about %s", err, tt.want)
			}
		})
	}
}

func TestValidateFile(t *testing.T) {
	tests := []struct {
		f  File
		ok bool
	}{
		{File{Path: "bin/x", Type: TypeFile, Mode: 0o644, SHA256: sum}, true},
		{File{Path: "bin", Type: TypeDir, Mode: 0o755}, true},
		{File{Path: "lib/l", Type: TypeSymlink, Mode: 0o777, Target: "/usr/lib/x"}, true},
		{File{Path: "/etc/x", Type: TypeFile, SHA256: sum}, false},
		{File{Path: "a/../b", Type: TypeDir}, false},
		{File{Path: "a//b", Type: TypeDir}, false},
		{File{Path: "a/./b", Type: TypeDir}, false},
		{File{Path: "a\x00b", Type: TypeDir}, false},
		{File{Path: "x", Type: TypeFile}, false},                        // no hash
		{File{Path: "x", Type: TypeSymlink}, false},                     // no target
		{File{Path: "x", Type: "fifo"}, false},                          // type
		{File{Path: "x", Type: TypeDir, Mode: 0o755 | 1<<30}, false},    // mode bits
		{File{Path: "x", Type: TypeDir, Size: 4096}, false},             // dir size
		{File{Path: "x", Type: TypeFile, SHA256: sum, Size: -1}, false}, // size
	}
	for _, tt := range tests {
		if err := ValidateFile(tt.f); (err == nil) != tt.ok {
			t.Errorf("ValidateFile(%+v) = %v, want ok=%v", tt.f, err, tt.ok)
		}
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

// TestHandEditedVersionRefused is issue 9's attack: a version with a path
// in it is refused on load, with an error naming the file and the way out.
func TestHandEditedVersionRefused(t *testing.T) {
	ctx := context.Background()
	db, path := openTest(t)
	if err := db.Commit(ctx, Change{Put: []Package{{Record: rec("foo", "1.0.0")}}}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	execRaw(t, path, `UPDATE packages SET version = '1.0.0/../../../victim', archive = 'foo-1.0.0/../../../victim.tar.zst'`)
	_, err := Load(path)
	var ce *CorruptError
	if !errors.As(err, &ce) || !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Load = %v, want a CorruptError", err)
	}
	for _, want := range []string{path, `package "foo"`, "version", "not a SemVer", "mv " + path} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	db2, err := Open(ctx, path, "/opt/p")
	if err != nil {
		t.Fatal(err) // the file itself is sound; the record is what is refused
	}
	defer db2.Close()
	if _, err := db2.Records(ctx); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Records = %v", err)
	}
	execRaw(t, path, `UPDATE packages SET version = '1.0.0', archive = 'foo-1.0.0.tar.zst'`)
	execRaw(t, path, `INSERT INTO files VALUES ('foo', '../../etc/passwd', 'file', 420, 1, ?, '', 0)`, sum)
	if _, err := db2.Files(ctx, "foo"); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "../../etc/passwd") {
		t.Fatalf("Files = %v", err)
	}
}

func TestDamagedFile(t *testing.T) {
	db, path := openTest(t)
	if err := db.Commit(context.Background(), Change{Put: []Package{{Record: rec("foo", "1.0.0")}}}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string][]byte{
		"empty":     {},
		"text":      []byte(`{"version": 1, "packages": []}`),
		"header":    good[:50],
		"truncated": good[:len(good)/2],
		"zeroed":    append(append([]byte{}, good[:100]...), make([]byte, len(good)-100)...),
	}
	for name, content := range tests {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "installed.db")
			if err := os.WriteFile(p, content, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Load(p)
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), p) {
				t.Fatalf("Load = %v, want ErrCorrupt naming the file", err)
			}
			if strings.Contains(err.Error(), "json:") || strings.Contains(err.Error(), "unexpected end of JSON") {
				t.Errorf("bare JSON error: %v", err)
			}
		})
	}
}

func TestMigrateLegacy(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	legacy := filepath.Join(dir, LegacyFile)
	v1 := `{
  "version": 1,
  "packages": [
    {"name": "hello", "version": "1.0.0", "depends": ["libgreet ^1.0"], "archive": "hello-1.0.0.tar.zst",
     "sha256": "` + sum + `", "size": 604, "installed_at": "2026-01-02T03:04:05Z"},
    {"name": "libgreet", "version": "1.0.0", "auto": true, "archive": "libgreet-1.0.0.tar.zst",
     "sha256": "` + sum + `", "size": 46, "installed_at": "2026-01-02T03:04:05Z"}
  ]
}`
	if err := os.WriteFile(legacy, []byte(v1), 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "installed.db")
	// Readers see the old file before anything migrates it.
	st, err := Load(path)
	if err != nil || len(st.Packages) != 2 || !st.Packages["libgreet"].Auto {
		t.Fatalf("Load before migration = %+v, %v", st, err)
	}
	db, err := Open(ctx, path, "/home/u/.local")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	recs, err := db.Records(ctx)
	if err != nil || len(recs) != 2 {
		t.Fatalf("Records = %+v, %v", recs, err)
	}
	if h := recs[0]; h.Name != "hello" || h.Prefix != "/home/u/.local" || h.FilesKnown || h.Depends[0] != "libgreet ^1.0" {
		t.Fatalf("migrated record = %+v", h)
	}
	if _, err := os.Stat(legacy); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("installed.json still in place after migration")
	}
	if _, err := os.Stat(legacy + ".v1-migrated"); err != nil {
		t.Fatal(err)
	}
}

// TestLoadDuringMigration: a reader that found no database while another
// process migrated installed.json (database renamed into place, then
// installed.json set aside) reads the database, not an empty state.
func TestLoadDuringMigration(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	v1 := `{"version": 1, "packages": [{"name": "hello", "version": "1.0.0", "archive": "hello-1.0.0.tar.zst",
  "sha256": "` + sum + `", "size": 604, "installed_at": "2026-01-02T03:04:05Z"}]}`
	if err := os.WriteFile(filepath.Join(dir, LegacyFile), []byte(v1), 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "installed.db")
	afterNoDatabase = func() {
		afterNoDatabase = nil
		db, err := Open(ctx, path, "/home/u/.local") // the other process's whole migration
		if err != nil {
			t.Error(err)
			return
		}
		db.Close()
	}
	defer func() { afterNoDatabase = nil }()
	st, err := Load(path)
	if err != nil || len(st.Packages) != 1 || st.Packages["hello"].Prefix != "/home/u/.local" {
		t.Fatalf("Load during the migration = %+v, %v; want hello from the database", st, err)
	}
}

// TestHeaderCheckDuringCheckpoint: another process's last connection
// checkpoints its WAL into the file and removes the WAL while a reader
// checks the header; the reader must not call the file truncated, whether
// the checkpoint grows the file (an install) or shrinks it (Reclaim's
// VACUUM).
func TestHeaderCheckDuringCheckpoint(t *testing.T) {
	files := func(pkg string, n int) []File {
		var out []File
		for i := range n {
			out = append(out, File{Path: fmt.Sprintf("share/%s/a-long-enough-file-name-%05d", pkg, i), Type: TypeFile, Mode: 0o644, Size: 3, SHA256: sum})
		}
		return out
	}
	tests := []struct {
		name string
		// prepare leaves pages in db's WAL, not yet in the file.
		prepare func(t *testing.T, db *DB)
		// hook is where the checkpoint happens: before the header is read,
		// or after it and before the look for the WAL.
		hook   *func()
		shrink bool
	}{
		{"grow", func(t *testing.T, db *DB) {
			var put []Package
			for i := range 300 {
				put = append(put, Package{Record: rec(fmt.Sprintf("pkg%03d", i), "1.0.0"), Files: files(fmt.Sprint(i), 1)})
			}
			if err := db.Commit(context.Background(), Change{Put: put}); err != nil {
				t.Fatal(err)
			}
		}, &afterHeaderOpen, false},
		{"shrink", func(t *testing.T, db *DB) {
			ctx := context.Background()
			if err := db.Commit(ctx, Change{Put: []Package{{Record: rec("big", "1.0.0"), Files: files("big", 3000)}}}); err != nil {
				t.Fatal(err)
			}
			if _, err := db.sql.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
				t.Fatal(err)
			}
			if err := db.Commit(ctx, Change{Remove: []string{"big"}}); err != nil {
				t.Fatal(err)
			}
			if _, err := db.sql.ExecContext(ctx, `VACUUM`); err != nil {
				t.Fatal(err)
			}
		}, &afterHeaderRead, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "installed.db")
			db, err := Open(context.Background(), path, "/opt/p")
			if err != nil {
				t.Fatal(err)
			}
			tt.prepare(t, db)
			before, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			*tt.hook = func() {
				*tt.hook = nil
				db.Close() // checkpoints and removes the WAL
			}
			defer func() { *tt.hook = nil }()
			if err := checkHeader(path); err != nil {
				t.Fatalf("checkHeader while the WAL was checkpointed: %v", err)
			}
			after, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(path + "-wal"); err == nil || (after.Size() < before.Size()) != tt.shrink || after.Size() == before.Size() {
				t.Fatalf("the checkpoint did not happen as the test needs: %d -> %d bytes, WAL: %v", before.Size(), after.Size(), err)
			}
		})
	}
}

func TestMigrateRefusesBadLegacy(t *testing.T) {
	for name, text := range map[string]string{
		"truncated": `{"version": 1, "packages": [{"name": "foo"`,
		"traversal": `{"version": 1, "packages": [{"name": "foo", "version": "1.0.0/../../../victim", "archive": "foo-1.0.0/../../../victim.tar.zst", "sha256": "` + sum + `"}]}`,
		"types":     `{"version": 1, "packages": {"name": "foo"}}`,
		"version":   `{"version": 7, "packages": []}`,
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			legacy := filepath.Join(dir, LegacyFile)
			if err := os.WriteFile(legacy, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Open(context.Background(), filepath.Join(dir, "installed.db"), "/opt/p")
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), legacy) {
				t.Fatalf("Open = %v, want ErrCorrupt naming %s", err, legacy)
			}
			if strings.Contains(err.Error(), "json: cannot") || strings.Contains(err.Error(), "invalid character") || strings.Contains(err.Error(), "state.Record") {
				t.Errorf("bare JSON error: %v", err)
			}
			if _, err := os.Stat(filepath.Join(dir, "installed.db")); !errors.Is(err, os.ErrNotExist) {
				t.Error("a database was created from a refused file")
			}
		})
	}
}

func TestJournal(t *testing.T) {
	ctx := context.Background()
	db, path := openTest(t)
	work := filepath.Join(filepath.Dir(path), "staging", "txn-1")
	j := Journal{Work: work, Ops: []Op{
		{Kind: OpAway, Src: "/opt/p/bin/x", Dst: "/opt/p/bin/.distpac-1-0"},
		{Kind: OpAway, Src: "/opt/p/etc/c", Dst: "/opt/p/etc/c.distpac-save.2"},
		{Kind: OpPlace, Src: work + "/0/bin/x", Dst: "/opt/p/bin/x"},
		{Kind: OpRmdir, Src: "/opt/p/share/old"},
	}}
	b := Bounds{Staging: filepath.Dir(work), Prefixes: []string{"/opt/p"}}
	if got, err := db.OpenJournal(ctx, b); err != nil || got != nil {
		t.Fatalf("OpenJournal before any = %+v, %v", got, err)
	}
	if err := db.BeginJournal(ctx, j, b); err != nil {
		t.Fatal(err)
	}
	if err := db.BeginJournal(ctx, j, b); err == nil {
		t.Fatal("a second journal was accepted")
	}
	got, err := db.OpenJournal(ctx, b)
	if err != nil || got == nil || got.Committed || len(got.Ops) != 4 || got.Ops[2] != j.Ops[2] {
		t.Fatalf("OpenJournal = %+v, %v", got, err)
	}
	if err := db.Commit(ctx, Change{Put: []Package{{Record: rec("x", "1.0.0")}}}); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.OpenJournal(ctx, b); got == nil || !got.Committed {
		t.Fatalf("journal after commit = %+v", got)
	}
	if err := db.EndJournal(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.OpenJournal(ctx, b); got != nil {
		t.Fatalf("journal after end = %+v", got)
	}
}

func TestValidateJournal(t *testing.T) {
	work := "/d/client/staging/txn-9"
	b := Bounds{Staging: "/d/client/staging", Prefixes: []string{"/opt/p"}}
	bad := []struct {
		j    Journal
		want string
	}{
		{Journal{Work: "/home/u", Ops: nil}, "not a distpac staging directory"},
		{Journal{Work: "/home/u/staging/txn-1"}, "not a distpac staging directory"},
		{Journal{Work: "/srv/q/" + StagingDirName + "/txn-1"}, "not a distpac staging directory"},
		{Journal{Work: work, Ops: []Op{{Kind: OpPlace, Src: "/etc/passwd", Dst: "/opt/p/x"}}}, "not from the work directory"},
		{Journal{Work: work, Ops: []Op{{Kind: OpPlace, Src: work + "/x", Dst: work + "/y"}}}, "not from the work directory"},
		{Journal{Work: work, Ops: []Op{{Kind: OpAway, Src: "/opt/p/x", Dst: "/tmp/.distpac-1"}}}, "not a backup"},
		{Journal{Work: work, Ops: []Op{{Kind: OpAway, Src: "/opt/p/x", Dst: "/opt/p/x.distpac-save/y"}}}, "not a backup"},
		{Journal{Work: work, Ops: []Op{{Kind: OpAway, Src: "/opt/p/x", Dst: "/opt/p/y"}}}, "not a backup"},
		{Journal{Work: work, Ops: []Op{{Kind: "delete", Src: "/opt/p/x"}}}, "empty"},
		{Journal{Work: work, Ops: []Op{{Kind: OpPlace, Src: work + "/../../x", Dst: "/opt/p/x"}}}, "not an absolute, clean path"},
		// Confinement: the prefix, and nothing else, whatever the step.
		{Journal{Work: work, Ops: []Op{{Kind: OpPlace, Src: work + "/a", Dst: "/etc/shadow", Ino: 1}}},
			`step 1: place "/d/client/staging/txn-9/a" -> "/etc/shadow": "/etc/shadow" is outside the prefix (the prefix is /opt/p)`},
		{Journal{Work: work, Ops: []Op{{Kind: OpPlace, Src: work + "/a", Dst: "/tmp/atk/victim-secret/precious", Ino: 1}}}, "outside the prefix"},
		{Journal{Work: work, Ops: []Op{{Kind: OpPlace, Src: work + "/a", Dst: "/opt/p", Ino: 1}}}, "outside the prefix"},
		{Journal{Work: work, Ops: []Op{{Kind: OpPlace, Src: work + "/a", Dst: "/opt/pp/x", Ino: 1}}}, "outside the prefix"},
		{Journal{Work: work, Ops: []Op{{Kind: OpAway, Src: "/etc/shadow", Dst: "/etc/.distpac-1-0", Ino: 1}}}, `step 1: away "/etc/shadow"`},
		{Journal{Work: work, Ops: []Op{{Kind: OpAway, Src: "/etc/shadow", Dst: "/etc/shadow.distpac-save"}}}, `"/etc/shadow" is outside the prefix`},
		{Journal{Work: work, Ops: []Op{{Kind: OpAway, Src: "/opt/p/x", Dst: "/opt/p/.distpac-1"}, {Kind: OpRmdir, Src: "/etc"}}}, `step 2: rmdir "/etc"`},
	}
	for _, tt := range bad {
		err := ValidateJournal(tt.j, b)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ValidateJournal(%+v) = %v, want %q", tt.j, err, tt.want)
		}
	}
	good := []Journal{
		{Work: "/opt/p/" + StagingDirName + "/txn-3", Ops: []Op{{Kind: OpAway, Src: "/opt/p/x", Dst: "/opt/p/x.distpac-save"}}},
		{Work: work, Ops: []Op{
			{Kind: OpAway, Src: "/opt/p/bin/x", Dst: "/opt/p/bin/.distpac-1-0"},
			{Kind: OpPlace, Src: work + "/0/bin/x", Dst: "/opt/p/bin/x"},
			{Kind: OpRmdir, Src: "/opt/p/share/old"},
		}},
	}
	for _, j := range good {
		if err := ValidateJournal(j, b); err != nil {
			t.Error(err)
		}
	}
}

// TestOpenJournalConfined: a journal written into installed.db by hand (an
// attacker who could write the file) that moves a file outside the prefix
// is refused when read back, before recovery undoes anything, and the
// refusal names the step and the path; the prefixes of installed records
// count as the installation's.
func TestOpenJournalConfined(t *testing.T) {
	ctx := context.Background()
	db, path := openTest(t)
	staging := filepath.Join(filepath.Dir(path), "staging")
	work := filepath.Join(staging, "txn-1")
	wide := Bounds{Staging: staging, Prefixes: []string{"/opt/p", "/tmp/atk"}}
	evil := Journal{Work: work, Ops: []Op{{Kind: OpPlace, Src: work + "/a", Dst: "/tmp/atk/victim-secret/precious", Ino: 7}}}
	if err := db.BeginJournal(ctx, evil, wide); err != nil {
		t.Fatal(err)
	}
	b := Bounds{Staging: staging, Prefixes: []string{"/opt/p"}}
	j, err := db.OpenJournal(ctx, b)
	var ce *CorruptError
	if j != nil || !errors.As(err, &ce) || !strings.Contains(err.Error(), `step 1: place "`+work+`/a" -> "/tmp/atk/victim-secret/precious": "/tmp/atk/victim-secret/precious" is outside the prefix`) ||
		!strings.Contains(err.Error(), "nothing was touched") {
		t.Fatalf("OpenJournal of a journal outside the prefix = %+v, %v", j, err)
	}
	// A package recorded under /tmp/atk makes it the installation's.
	r := rec("x", "1.0.0")
	r.Prefix = "/tmp/atk"
	if err := db.Commit(ctx, Change{Put: []Package{{Record: r}}}); err != nil {
		t.Fatal(err)
	}
	if j, err := db.OpenJournal(ctx, b); err != nil || j == nil {
		t.Fatalf("OpenJournal with the prefix recorded = %+v, %v", j, err)
	}
}

func TestHistory(t *testing.T) {
	ctx := context.Background()
	db, _ := openTest(t)
	id1, err := db.StartHistory(ctx, "install hello")
	if err != nil {
		t.Fatal(err)
	}
	changes := []HistoryChange{{Name: "hello", To: "1.0.0"}}
	if err := db.Commit(ctx, Change{Put: []Package{{Record: rec("hello", "1.0.0")}}, History: HistoryEnd{ID: id1, Changes: changes, Downloaded: 100, Installed: 42}}); err != nil {
		t.Fatal(err)
	}
	id2, _ := db.StartHistory(ctx, "install broken")
	if err := db.FinishHistory(ctx, HistoryEnd{ID: id2, Result: ResultFailed, Error: "install.sh exited with status 3"}); err != nil {
		t.Fatal(err)
	}
	db.StartHistory(ctx, "uninstall hello") // the process "dies" here
	if err := db.MarkInterrupted(ctx); err != nil {
		t.Fatal(err)
	}
	h, err := db.History(ctx, HistoryQuery{Transfer: true})
	if err != nil || len(h) != 3 {
		t.Fatalf("History = %+v, %v", h, err)
	}
	if h[0].Result != ResultOK || h[0].Changes[0] != changes[0] || h[0].Downloaded != 100 || h[0].Installed != 42 || h[0].Finished.IsZero() {
		t.Errorf("entry 1 = %+v", h[0])
	}
	if h[1].Result != ResultFailed || !strings.Contains(h[1].Error, "status 3") {
		t.Errorf("entry 2 = %+v", h[1])
	}
	if h[2].Result != ResultInterrupted || h[2].Command != "uninstall hello" {
		t.Errorf("entry 3 = %+v", h[2])
	}
}

// History reads the last N entries oldest first when asked, and each
// entry's transfer report only when asked: a table of a long history read
// every report, up to a megabyte each.
func TestHistoryQuery(t *testing.T) {
	ctx := context.Background()
	db, _ := openTest(t)
	for i := range 5 {
		id, err := db.StartHistory(ctx, fmt.Sprintf("install p%d", i))
		if err != nil {
			t.Fatal(err)
		}
		report := fmt.Sprintf(`{"archives": %d}`, i)
		if err := db.FinishHistory(ctx, HistoryEnd{ID: id, Result: ResultOK, Downloaded: int64(i), Transfer: []byte(report)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct {
		q        HistoryQuery
		commands []string
	}{
		{HistoryQuery{}, []string{"install p0", "install p1", "install p2", "install p3", "install p4"}},
		{HistoryQuery{Last: 2, Transfer: true}, []string{"install p3", "install p4"}},
		{HistoryQuery{Last: 1}, []string{"install p4"}},
		{HistoryQuery{Last: 9}, []string{"install p0", "install p1", "install p2", "install p3", "install p4"}},
	} {
		h, err := db.History(ctx, tt.q)
		if err != nil {
			t.Fatal(err)
		}
		var commands []string
		for _, e := range h {
			commands = append(commands, e.Command)
			want := ""
			if tt.q.Transfer {
				want = fmt.Sprintf(`{"archives": %d}`, e.Downloaded)
			}
			if string(e.Transfer) != want {
				t.Errorf("%+v: entry %q has transfer %q, want %q", tt.q, e.Command, e.Transfer, want)
			}
		}
		if !slices.Equal(commands, tt.commands) {
			t.Errorf("%+v: %q, want %q", tt.q, commands, tt.commands)
		}
	}
}

// RecentDownloads (a dry run's rate): the last n successful entries that
// downloaded at least min bytes, newest first; failed, running and small
// ones are left out.
func TestRecentDownloads(t *testing.T) {
	ctx := context.Background()
	db, _ := openTest(t)
	entries := []struct {
		result     string
		downloaded int64
	}{
		{ResultOK, 5 << 20}, {ResultOK, 2 << 20}, {ResultFailed, 9 << 20}, {ResultOK, 100},
		{ResultOK, 3 << 20}, {ResultInterrupted, 7 << 20}, {ResultOK, 1 << 20}, {ResultRunning, 8 << 20},
	}
	for _, e := range entries {
		id, err := db.StartHistory(ctx, "install x")
		if err != nil {
			t.Fatal(err)
		}
		if e.result != ResultRunning {
			if err := db.FinishHistory(ctx, HistoryEnd{ID: id, Result: e.result, Downloaded: e.downloaded}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, tt := range []struct {
		n    int
		min  int64
		want []int64 // Downloaded of the entries returned
	}{
		{n: 10, min: 1 << 20, want: []int64{1 << 20, 3 << 20, 2 << 20, 5 << 20}},
		{n: 2, min: 1 << 20, want: []int64{1 << 20, 3 << 20}},
		{n: 10, min: 3 << 20, want: []int64{3 << 20, 5 << 20}},
		{n: 10, min: 0, want: []int64{1 << 20, 3 << 20, 100, 2 << 20, 5 << 20}},
		{n: 10, min: 6 << 20, want: nil},
	} {
		got, err := db.RecentDownloads(ctx, tt.n, tt.min)
		if err != nil {
			t.Fatal(err)
		}
		var sizes []int64
		for _, e := range got {
			sizes = append(sizes, e.Downloaded)
		}
		if !slices.Equal(sizes, tt.want) {
			t.Errorf("RecentDownloads(%d, %d) = %v; want %v", tt.n, tt.min, sizes, tt.want)
		}
	}
}

func TestLockWaits(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lock")
	first, err := Acquire(context.Background(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	waited := make(chan int, 1)
	got := make(chan error, 1)
	go func() {
		l, err := Acquire(context.Background(), path, func(pid int) { waited <- pid })
		if err == nil {
			l.Release()
		}
		got <- err
	}()
	select {
	case pid := <-waited:
		if pid != os.Getpid() {
			t.Fatalf("waiting message names pid %d, want %d", pid, os.Getpid())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("second Acquire did not report waiting")
	}
	first.Release()
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("second Acquire never got the lock")
	}

	held, _ := Acquire(context.Background(), path, nil)
	defer held.Release()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := Acquire(ctx, path, nil); err == nil {
		t.Fatal("Acquire succeeded while the lock was held")
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

func TestIsSHA256(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want bool
	}{
		{sum, true},
		{strings.Repeat("f", 64), true},
		{"", false},
		{sum[:63], false},
		{sum + "0", false},
		{strings.ToUpper(sum), false},
		{strings.Repeat("g", 64), false},
		{sum[:63] + "/", false},
		{sum[:63] + ":", false},
		{sum[:63] + "`", false},
	} {
		if got := isSHA256(tt.in); got != tt.want {
			t.Errorf("isSHA256(%q) = %v, want %v", tt.in, got, tt.want)
		}
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

// NoteDownloaded keeps a running entry's downloaded bytes, so that a
// process that dies mid-download leaves them (history said 0 B); it never
// lowers them, and leaves an entry that ended alone.
func TestNoteDownloaded(t *testing.T) {
	ctx := context.Background()
	db, _ := openTest(t)
	killed, _ := db.StartHistory(ctx, "install big")
	for _, n := range []int64{1 << 20, 3 << 20, 2 << 20} {
		if err := db.NoteDownloaded(ctx, killed, n); err != nil {
			t.Fatal(err)
		}
	}
	ended, _ := db.StartHistory(ctx, "install small")
	if err := db.FinishHistory(ctx, HistoryEnd{ID: ended, Result: ResultFailed, Error: "no source", Downloaded: 500}); err != nil {
		t.Fatal(err)
	}
	if err := db.NoteDownloaded(ctx, ended, 9000); err != nil {
		t.Fatal(err)
	}
	if err := db.MarkInterrupted(ctx); err != nil { // the next command, after the kill
		t.Fatal(err)
	}
	h, err := db.History(ctx, HistoryQuery{})
	if err != nil || len(h) != 2 {
		t.Fatalf("History = %+v, %v", h, err)
	}
	if h[0].Result != ResultInterrupted || h[0].Downloaded != 3<<20 {
		t.Errorf("killed entry: %s, %d bytes; want interrupted, %d", h[0].Result, h[0].Downloaded, 3<<20)
	}
	if h[1].Downloaded != 500 {
		t.Errorf("ended entry: %d bytes, want its end's 500", h[1].Downloaded)
	}
}

// TestSaveName: a kept file's name is cut to fit NAME_MAX with its suffix,
// and its path PATH_MAX, at a character's boundary, and the journal's
// check (isSaveName) takes exactly the names SaveName gives.
func TestSaveName(t *testing.T) {
	long := strings.Repeat("c", 250)
	wide := strings.Repeat("é", 124) + "x" // 249 bytes; é is 2
	deep := "/" + strings.Repeat(strings.Repeat("d", 200)+"/", 20)
	deep += strings.Repeat("d", maxPathLen-len(deep)-41) + "/" // a name of 30 bytes in it ends at 4085
	name30 := strings.Repeat("s", 25) + ".conf"
	tests := []struct {
		src  string
		n    int
		want string
	}{
		{"/p/etc/app.conf", 0, "/p/etc/app.conf.distpac-save"},
		{"/p/etc/app.conf", 3, "/p/etc/app.conf.distpac-save.3"},
		{"/p/" + long, 0, "/p/" + long[:242] + ".distpac-save"},
		{"/p/" + long, 12, "/p/" + long[:239] + ".distpac-save.12"},
		{"/p/" + wide, 0, "/p/" + strings.Repeat("é", 121) + ".distpac-save"}, // 242 bytes would split an é
		{deep + name30, 0, deep + name30[:27] + ".distpac-save"},              // 4098 bytes
		{deep + name30, 12, deep + name30[:24] + ".distpac-save.12"},
	}
	for _, tt := range tests {
		got := SaveName(tt.src, tt.n)
		if got != tt.want {
			t.Errorf("SaveName(%.20q…, %d) = %q\nwant %q", tt.src, tt.n, got, tt.want)
		}
		if b := filepath.Base(got); len(b) > nameMax || len(got) > maxPathLen || !utf8.ValidString(b) {
			t.Errorf("SaveName(%.20q…, %d): name of %d bytes, valid UTF-8 %v", tt.src, tt.n, len(b), utf8.ValidString(b))
		}
		if !isSaveName(tt.src, got) {
			t.Errorf("isSaveName refuses SaveName(%.20q…, %d)", tt.src, tt.n)
		}
	}
	for _, bad := range []struct{ src, dst string }{
		{"/p/etc/app.conf", "/p/etc/app.conf.distpac-save.0"},
		{"/p/etc/app.conf", "/p/etc/app.conf.distpac-save.01"},
		{"/p/etc/app.conf", "/p/etc/app.conf.distpac-save.x"},
		{"/p/etc/app.conf", "/p/etc/app.con.distpac-save"},    // cut with no need
		{"/p/etc/app.conf", "/p/other/app.conf.distpac-save"}, // another directory
		{"/p/" + long, "/p/" + long[:241] + ".distpac-save"},  // cut more than needed
		{deep + name30, deep + name30[:26] + ".distpac-save"}, // cut more than needed
	} {
		if isSaveName(bad.src, bad.dst) {
			t.Errorf("isSaveName(%.20q…, %.30q…) = true", bad.src, bad.dst)
		}
	}
}
