package catalog

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestWriteOnFullDiskNamesTheCatalog: every write of a catalog that fails
// for want of space names the catalog file, as Add's did (dist-server add
// and remove print the error as it is). RemoveAll and the serial's bump
// said "remove: database or disk is full" and no file.
func TestWriteOnFullDiskNamesTheCatalog(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs")
	}
	mnt := t.TempDir()
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size=1m"); err != nil {
		t.Skipf("mount: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(mnt, syscall.MNT_DETACH) })
	ctx := context.Background()
	path := filepath.Join(mnt, "catalog.db")
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var pkgs []Package
	for _, v := range []string{"1.0.0", "1.1.0", "1.2.0", "1.3.0"} {
		pkgs = append(pkgs, makePkg(t, "foo", v, 10))
	}
	if _, err := db.Add(ctx, pkgs); err != nil {
		t.Fatal(err)
	}
	fill(t, filepath.Join(mnt, "fill"))

	for _, tc := range []struct {
		op    string
		write func() error
	}{
		{"remove", func() error { _, err := db.Remove(ctx, "foo", "1.0.0"); return err }},
		{"bump serial", func() error { _, err := db.BumpSerial(ctx); return err }},
		{"add", func() error { _, err := db.Add(ctx, []Package{makePkg(t, "bar", "1.0.0", 10)}); return err }},
	} {
		err := tc.write()
		if err == nil {
			t.Errorf("%s on a full disk: no error", tc.op)
			continue
		}
		if !strings.Contains(err.Error(), path) {
			t.Errorf("%s on a full disk: %q does not name %s", tc.op, err, path)
		}
	}
}

// fill writes path until the file system is full.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			return
		}
	}
}
