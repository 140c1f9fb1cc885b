//go:build linux && !race && (amd64 || arm64 || riscv64 || loong64 || ppc64 || ppc64le || s390x || mips64 || mips64le)

package swarm

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// sysPreadCached and sysPwrite are preadv2(RWF_NOWAIT) and pwrite(2) as raw
// system calls (fileio.go), on 64-bit architectures, where an offset is one
// argument (32-bit ones split it, some with padding: fileio_sys_linux.go).
// b is not empty.
func sysPreadCached(fd uintptr, b []byte, off int64) (int, syscall.Errno) {
	iov := unix.Iovec{Base: &b[0]}
	iov.SetLen(len(b))
	r, _, e := syscall.RawSyscall6(unix.SYS_PREADV2, fd, uintptr(unsafe.Pointer(&iov)), 1, uintptr(off), 0, unix.RWF_NOWAIT)
	return int(r), e
}

func sysPwrite(fd uintptr, b []byte, off int64) (int, syscall.Errno) {
	r, _, e := syscall.RawSyscall6(syscall.SYS_PWRITE64, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), uintptr(off), 0, 0)
	return int(r), e
}
