//go:build linux && !race && (amd64 || arm64 || riscv64 || loong64 || ppc64 || ppc64le || s390x || mips64 || mips64le)

package torrent

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// sysRead and sysSend are read(2) and send(2) of a non-blocking socket as raw system calls
// (rawsocket_linux.go). b is not empty.
func sysRead(fd uintptr, b []byte) (int, syscall.Errno) {
	r, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	return int(r), e
}

// MSG_NOSIGNAL: a peer that closed gives EPIPE, never SIGPIPE.
func sysSend(fd uintptr, b []byte) (int, syscall.Errno) {
	r, _, e := syscall.RawSyscall6(syscall.SYS_SENDTO, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), syscall.MSG_NOSIGNAL, 0, 0)
	return int(r), e
}

// sysSendBuffers is sendmsg(2) of bufs (at most maxSendBuffers, the first not empty) with
// MSG_NOSIGNAL (rawSocket.WriteBuffers).
func sysSendBuffers(fd uintptr, bufs [][]byte) (int, syscall.Errno) {
	var iov [maxSendBuffers]unix.Iovec
	k := 0
	for _, b := range bufs {
		if len(b) != 0 {
			iov[k].Base = &b[0]
			iov[k].SetLen(len(b))
			k++
		}
	}
	var msg unix.Msghdr
	msg.Iov = &iov[0]
	msg.SetIovlen(k)
	r, _, e := syscall.RawSyscall(syscall.SYS_SENDMSG, fd, uintptr(unsafe.Pointer(&msg)), syscall.MSG_NOSIGNAL)
	return int(r), e
}

// sysSetLowWater sets the socket's SO_RCVLOWAT (rawsocket_linux.go's lowWater).
func sysSetLowWater(fd uintptr, n int) syscall.Errno {
	v := int32(n)
	_, _, e := syscall.RawSyscall6(syscall.SYS_SETSOCKOPT, fd, syscall.SOL_SOCKET, syscall.SO_RCVLOWAT, uintptr(unsafe.Pointer(&v)), 4, 0)
	return e
}
