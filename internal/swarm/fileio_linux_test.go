package swarm

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// dropCached writes f's dirty pages out and drops its pages from the page
// cache, then checks a cached-only read now finds nothing.
func dropCached(f *os.File) error {
	if err := f.Sync(); err != nil {
		return err
	}
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		return err
	}
	b := make([]byte, 4096)
	if _, e := sysPreadCached(f.Fd(), b, 0); e != syscall.EAGAIN {
		return e
	}
	return nil
}

// A file on procfs is not on a local file system for writes; one in the
// test's temporary directory is where that is ext4, xfs, btrfs, tmpfs,
// f2fs or overlayfs.
func TestLocalFS(t *testing.T) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Skip(err)
	}
	defer f.Close()
	if newPayloadFile(f).local {
		t.Error("procfs counted as a local file system for direct writes")
	}
	g, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	var st unix.Statfs_t
	if err := unix.Fstatfs(int(g.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	switch uint32(st.Type) {
	case unix.EXT4_SUPER_MAGIC, unix.XFS_SUPER_MAGIC, unix.BTRFS_SUPER_MAGIC, unix.TMPFS_MAGIC, unix.F2FS_SUPER_MAGIC, unix.OVERLAYFS_SUPER_MAGIC:
		if !newPayloadFile(g).local {
			t.Errorf("file system type %#x not counted as local", st.Type)
		}
	default:
		t.Logf("temporary directory on file system type %#x, not one known to be local", st.Type)
	}
}
