//go:build linux && (race || !(amd64 || arm64 || riscv64 || loong64 || ppc64 || ppc64le || s390x || mips64 || mips64le))

package swarm

import (
	"errors"
	"syscall"

	"golang.org/x/sys/unix"
)

// Under the race detector, and on 32-bit architectures, the file's reads
// and writes go through the syscall packages: they tell the detector which
// bytes were read and written, which the raw calls (fileio_raw64_linux.go)
// would hide, and they pass a 64-bit offset as each architecture wants it.
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
