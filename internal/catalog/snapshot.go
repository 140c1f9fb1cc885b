package catalog

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
)

// Snapshot writes a consistent, self-contained copy of the catalog to path:
// VACUUM INTO a temporary file in the same directory, fsync it, rename it over
// path and fsync the directory. A reader of path sees the old file or the new
// one, never a part of either, and a crash leaves at worst a stray temporary
// file (named .NAME.tmp-*).
func (db *DB) Snapshot(ctx context.Context, path string) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	// CreateTemp picks a fresh name; VACUUM INTO accepts an existing empty file.
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("snapshot catalog: %w", err)
	}
	tmp := f.Name()
	f.Close()
	defer func() {
		if err != nil {
			os.Remove(tmp)
			os.Remove(tmp + "-journal")
		}
	}()

	if _, err := db.sql.ExecContext(ctx, `VACUUM INTO ?`, tmp); err != nil {
		return fmt.Errorf("snapshot catalog to %s: %w", path, err)
	}
	if err := syncFile(tmp); err != nil {
		return fmt.Errorf("snapshot catalog to %s: %w", path, err)
	}
	// The snapshot is served to everyone; CreateTemp made it 0600.
	if err := os.Chmod(tmp, 0o644); err != nil {
		return fmt.Errorf("snapshot catalog to %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("snapshot catalog: %w", err)
	}
	if err := syncFile(dir); err != nil {
		return fmt.Errorf("snapshot catalog: sync directory: %w", err)
	}
	return nil
}

// syncFile fsyncs a file or a directory by name.
func syncFile(name string) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
