package stage

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/distpac/distpac/internal/disktest"
	"github.com/distpac/distpac/internal/script"
)

// TestExtractNoSpace extracts onto a real full filesystem: the error is the
// OS's, names the staging, and nothing is left. Needs root for the mount.
func TestExtractNoSpace(t *testing.T) {
	many := map[string]string{"manifest.yaml": "version: 1.0.0\n"}
	for i := range 400 { // small files go to the parallel writers
		many[fmt.Sprintf("assets/d%d/f%03d", i%4, i)] = strings.Repeat("y", 2000)
	}
	for _, tt := range []struct {
		name  string
		files map[string]string
	}{
		{"one big file", map[string]string{"manifest.yaml": "version: 1.0.0\n", "assets/big": strings.Repeat("x", 1<<20)}},
		{"many small files", many},
	} {
		t.Run(tt.name, func(t *testing.T) {
			mnt := t.TempDir()
			disktest.Tmpfs(t, mnt, "256k")
			path, size, sum := archiveOf(t, pkg(t, tt.files))
			dir := filepath.Join(mnt, "stage")
			_, err := Extract(context.Background(), Archive{Path: path, Size: size, SHA256: sum, MaxInstalled: 2 << 20}, dir)
			if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), dir) {
				t.Fatalf("err = %v, want ENOSPC naming %s", err, dir)
			}
			if ents, _ := os.ReadDir(mnt); len(ents) != 0 {
				t.Fatalf("left on the full disk: %v", ents)
			}
		})
	}
}

// TestBuildScriptNotStarted: an install.sh whose process could not mark
// its start (the disk full: /dev/full stands for it) never ran, and its
// tree says so (not Scripted): the rollback runs no uninstall.sh for it,
// as the recovery after a kill runs none for a note without its mark.
func TestBuildScriptNotStarted(t *testing.T) {
	full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Skip(err)
	}
	defer full.Close()
	dir := pkg(t, map[string]string{"manifest.yaml": "version: 1.0.0\n", "scripts/install.sh": "exit 125", "scripts/uninstall.sh": "true"})
	tree, err := Build(context.Background(), dir, t.TempDir(), Options{
		Name: "app", Version: "1.0.0", Prefix: "/opt/p", Mark: full,
		Started: func(script.Group) (string, error) { return "started 1", nil },
	})
	if !errors.Is(err, script.ErrNotStarted) {
		t.Fatalf("Build = %v, want the script not started", err)
	}
	if tree == nil || tree.Scripted {
		t.Fatalf("Build's tree = %+v, want one install.sh did not make", tree)
	}
}
