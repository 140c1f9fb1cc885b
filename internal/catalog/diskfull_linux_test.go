package catalog

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distpac/distpac/internal/disktest"
)

// TestWriteOnFullDiskNamesTheCatalog: every write of a catalog that fails
// for want of space names the catalog file, as Add's did (dist-server add
// and remove print the error as it is). RemoveAll and the serial's bump
// said "remove: database or disk is full" and no file.
func TestWriteOnFullDiskNamesTheCatalog(t *testing.T) {
	mnt := t.TempDir()
	disktest.Tmpfs(t, mnt, "1m")
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
	disktest.Fill(t, mnt, 0)

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
