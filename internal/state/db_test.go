package state

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestDamagedIsNotTheDisk: a SQLite error of the environment (a full disk,
// an I/O error) is not called damage, whose advice is to move the file
// aside; an error of the content is.
func TestDamagedIsNotTheDisk(t *testing.T) {
	db := &DB{path: "/x/installed.db"}
	disk := db.damaged(fmt.Errorf("read: %w", &fs.PathError{Op: "write", Path: "/x/installed.db-shm", Err: syscall.ENOSPC}))
	var ce *CorruptError
	if errors.As(disk, &ce) || !strings.Contains(disk.Error(), "not damage to the file") || !strings.Contains(disk.Error(), "/x/installed.db") {
		t.Errorf("full disk: %v", disk)
	}
	if content := db.damaged(errors.New("no such column: x")); !errors.As(content, &ce) {
		t.Errorf("content: %v, want a CorruptError", content)
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
