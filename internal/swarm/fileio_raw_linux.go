//go:build linux && !race

package swarm

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// sysPreadCached and sysPwrite are preadv2(RWF_NOWAIT) and pwrite(2) as raw
// system calls (fileio.go). b is not empty.
func sysPreadCached(fd uintptr, b []byte, off int64) (int, syscall.Errno) {
	iov := unix.Iovec{Base: &b[0]}
	iov.SetLen(len(b))
	r, _, e := syscall.RawSyscall6(unix.SYS_PREADV2, fd, uintptr(unsafe.Pointer(&iov)), 1, uintptr(off), uintptr(off>>32), unix.RWF_NOWAIT)
	return int(r), e
}

func sysPwrite(fd uintptr, b []byte, off int64) (int, syscall.Errno) {
	r, _, e := syscall.RawSyscall6(syscall.SYS_PWRITE64, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), uintptr(off), 0, 0)
	return int(r), e
}
