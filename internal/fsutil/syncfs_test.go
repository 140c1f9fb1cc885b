package fsutil

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSyncFS: a directory's filesystem is synced; a path that is missing
// is an error that names it.
func TestSyncFS(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing")
	for _, tc := range []struct {
		dir  string
		fail bool
	}{{dir, false}, {missing, true}} {
		err := SyncFS(tc.dir)
		if tc.fail != (err != nil) {
			t.Errorf("SyncFS(%s) = %v, want failing %v", tc.dir, err, tc.fail)
		}
		if err != nil && !strings.Contains(err.Error(), tc.dir) {
			t.Errorf("SyncFS(%s): %v does not name the path", tc.dir, err)
		}
	}
}
