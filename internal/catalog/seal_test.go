package catalog

import (
	"context"
	"database/sql"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
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

// A catalog.db replaced by rename (an edited copy moved into place, a
// backup restored with rsync) while a DB is open on the old file: the DB
// still reads and writes the old file, so the seal it writes must not
// speak for the new one.
func TestSealNotForFileReplacedUnderOpenDB(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "catalog.db")
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Add(ctx, []Package{makePkg(t, "a", "1.0.0", 10)}); err != nil {
		t.Fatal(err)
	}
	// The operator edits a copy and moves it into place.
	edited := filepath.Join(dir, "edited.db")
	copyFile(t, path, edited)
	other, err := sql.Open("sqlite", "file:"+edited)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Exec(`UPDATE packages SET installed_size = 0`); err != nil {
		t.Fatal(err)
	}
	other.Close()
	if err := os.Rename(edited, path); err != nil {
		t.Fatal(err)
	}
	// The DB opened before snapshots and checks the old file, which
	// passes; it wrote the seal for the new one.
	if err := db.SnapshotChecked(ctx, filepath.Join(dir, "snap.db")); err != nil {
		t.Fatal(err)
	}
	// A DB opened now sees the edited file: it must be refused.
	fresh, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	if err := fresh.CheckPublishable(ctx); !errors.Is(err, ErrUnpublishable) {
		t.Fatalf("CheckPublishable of the edited file = %v, want ErrUnpublishable", err)
	}
}
