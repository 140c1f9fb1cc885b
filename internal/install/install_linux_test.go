package install

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestDiskSpaceCheck refuses a plan larger than the free space before
// anything is downloaded, naming both numbers.
func TestDiskSpaceCheck(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs")
	}
	w := newWorld(t)
	w.publish(w.pkg("big", "1.0.0", map[string]string{"assets/big": strings.Repeat("x", 3<<20)}))
	mnt := filepath.Join(w.dir, "small")
	os.MkdirAll(mnt, 0o755)
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size=2m"); err != nil {
		t.Skipf("mount: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(mnt, syscall.MNT_DETACH) })
	w.client.Config.Prefix = filepath.Join(mnt, "prefix")
	err := w.client.Install(context.Background(), []string{"big"})
	if !errors.Is(err, ErrNoSpace) || !strings.Contains(err.Error(), mnt) || !strings.Contains(err.Error(), "2.0 MiB free") || !strings.Contains(err.Error(), "this needs 7.") {
		t.Fatalf("err = %v", err)
	}
}
