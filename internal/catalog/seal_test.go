package catalog

import (
	"context"
	"database/sql"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// copyFile copies src to dst, a new file.
func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// openWithRow opens a new catalog.db in a temporary directory with one row.
func openWithRow(t *testing.T) (db *DB, dir, path string) {
	t.Helper()
	dir = t.TempDir()
	path = filepath.Join(dir, "catalog.db")
	db, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Add(context.Background(), []Package{makePkg(t, "a", "1.0.0", 10)}); err != nil {
		t.Fatal(err)
	}
	return db, dir, path
}

// editedCopy copies src to dst and runs stmt on the copy, as an operator's
// sqlite3 would: a connection of its own.
func editedCopy(t *testing.T, src, dst, stmt string) {
	t.Helper()
	copyFile(t, src, dst)
	other, err := sql.Open("sqlite", "file:"+dst)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.Exec(stmt); err != nil {
		t.Fatal(err)
	}
}

// A catalog.db replaced by rename (an edited copy moved into place, a
// backup restored with rsync) while a DB is open on the old file: the DB
// still reads and writes the old file, so the seal it writes must not
// speak for the new one.
func TestSealNotForFileReplacedUnderOpenDB(t *testing.T) {
	ctx := context.Background()
	db, dir, path := openWithRow(t)
	// The operator edits a copy and moves it into place.
	edited := filepath.Join(dir, "edited.db")
	editedCopy(t, path, edited, `UPDATE packages SET installed_size = 0`)
	if err := os.Rename(edited, path); err != nil {
		t.Fatal(err)
	}
	// The DB opened before snapshots and checks the old file, which
	// passes; it wrote the seal for the new one.
	if err := db.SnapshotChecked(ctx, filepath.Join(dir, "snap.db")); err != nil {
		t.Fatal(err)
	}
	// A DB opened now sees the edited file: it must be refused.
	refusedWhenOpened(t, path)
}

// refusedWhenOpened: a DB opened on path now finds it unpublishable.
func refusedWhenOpened(t *testing.T, path string) {
	t.Helper()
	ctx := context.Background()
	fresh, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	if err := fresh.CheckPublishable(ctx); !errors.Is(err, ErrUnpublishable) {
		t.Fatalf("CheckPublishable of the file moved into place = %v, want ErrUnpublishable", err)
	}
}

// A copy moved into place with the sealed file's change counter, size and
// modification time (cp -p and rsync keep the times; a hand-edited copy's
// counter set back) is another file: the seal does not speak for it, so a
// catalog clients would refuse is not passed unchecked.
func TestSealNotForACopyWithTheSameStamp(t *testing.T) {
	ctx := context.Background()
	db, dir, path := openWithRow(t)
	if err := db.SnapshotChecked(ctx, filepath.Join(dir, "snap.db")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + ".checked"); err != nil {
		t.Fatalf("no seal after a passing check: %v", err)
	}
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}

	edited := filepath.Join(dir, "edited.db")
	editedCopy(t, path, edited, `UPDATE packages SET installed_size = 0`)
	data, err := os.ReadFile(edited)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) != len(orig) {
		t.Fatalf("the edit changed the size (%d, was %d): the stamps would differ anyway", len(data), len(orig))
	}
	copy(data[24:28], orig[24:28]) // the change counter set back
	if err := os.WriteFile(edited, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(edited, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(edited, path); err != nil {
		t.Fatal(err)
	}
	refusedWhenOpened(t, path)
}

// Replaced tells the file the DB opened from one moved into place since.
func TestReplaced(t *testing.T) {
	db, dir, path := openWithRow(t)
	replaced := func() bool {
		fi, _ := os.Stat(path)
		return db.Replaced(fi)
	}
	if replaced() {
		t.Fatal("Replaced after a write through the DB")
	}
	copyFile(t, path, filepath.Join(dir, "copy.db"))
	if err := os.Rename(filepath.Join(dir, "copy.db"), path); err != nil {
		t.Fatal(err)
	}
	if !replaced() {
		t.Fatal("not Replaced after a copy was moved into place")
	}
	// An empty file is not a catalog to open instead; nothing at all
	// neither.
	if err := os.WriteFile(filepath.Join(dir, "empty"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "empty"), path); err != nil {
		t.Fatal(err)
	}
	if replaced() {
		t.Fatal("Replaced by an empty file")
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if replaced() {
		t.Fatal("Replaced by nothing")
	}
}

// A backup written back over catalog.db in place (cp -a backup/. home/:
// the same inode, the backup's bytes, mtime and seal put back) is not the
// file sealed, though its counter, size, mtime and inode are the seal's:
// a start took the backup's published pair for its own and served its
// old serial, below the one clients held, until the next publication.
// Only its ctime differs. The same file left alone, and written through
// the DB since, stays sealed.
func TestSealedAfterRestore(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		restore func(t *testing.T, path string, backup []byte, seal []byte, mtime time.Time)
		sealed  bool
	}{
		{"nothing restored", func(*testing.T, string, []byte, []byte, time.Time) {}, true},
		{"written over in place, its times and seal put back", func(t *testing.T, path string, backup, seal []byte, mtime time.Time) {
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.Write(backup); err != nil {
				t.Fatal(err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path+".checked", seal, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Chtimes(path, mtime, mtime); err != nil {
				t.Fatal(err)
			}
		}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db, dir, path := openWithRow(t)
			if err := db.SnapshotChecked(ctx, filepath.Join(dir, "snap.db")); err != nil {
				t.Fatal(err)
			}
			if !db.Sealed() {
				t.Fatal("not sealed after a passing check")
			}
			backup, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			seal, err := os.ReadFile(path + ".checked")
			if err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			// A publication after the backup, through the DB: the seal
			// moves on with it, in the same file.
			if _, err := db.Add(ctx, []Package{makePkg(t, "b", "1.0.0", 10)}); err != nil {
				t.Fatal(err)
			}
			if !db.Sealed() {
				t.Fatal("not sealed after an Add through the DB")
			}
			db.Close()
			tc.restore(t, path, backup, seal, fi.ModTime())
			reopened, err := Open(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			defer reopened.Close()
			if got := reopened.Sealed(); got != tc.sealed {
				t.Errorf("Sealed() = %v, want %v", got, tc.sealed)
			}
		})
	}
}
