package swarm

import (
	"os"
	"syscall"

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
