//go:build linux && race

package swarm

import (
	"errors"
	"syscall"

	"golang.org/x/sys/unix"
)

// Under the race detector the file's reads and writes go through the
// syscall packages, which tell the detector which bytes were read and
// written; the raw calls (fileio_raw_linux.go) would hide them.
func sysPreadCached(fd uintptr, b []byte, off int64) (int, syscall.Errno) {
	n, err := unix.Preadv2(int(fd), [][]byte{b}, off, unix.RWF_NOWAIT)
	return max(n, 0), errnoOf(err)
}

func sysPwrite(fd uintptr, b []byte, off int64) (int, syscall.Errno) {
	n, err := syscall.Pwrite(int(fd), b, off)
	return max(n, 0), errnoOf(err)
}

func errnoOf(err error) syscall.Errno {
	var e syscall.Errno
	if err == nil || !errors.As(err, &e) {
		return 0
	}
	return e
}
