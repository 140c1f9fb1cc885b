//go:build linux && (race || !(amd64 || arm64 || riscv64 || loong64 || ppc64 || ppc64le || s390x || mips64 || mips64le))

package torrent

import (
	"errors"
	"syscall"

	"golang.org/x/sys/unix"
)

// Under the race detector the socket's reads and writes go through the syscall package, which
// tells the detector which bytes were read and written and orders them as net.Conn's do; the raw
// calls (rawsys_linux.go) would hide every peer buffer from it. On 32-bit architectures too (Go's
// syscall package has no SYS_SENDTO for 386). The waiting and the error handling of
// rawsocket_linux.go are the same.
func sysRead(fd uintptr, b []byte) (int, syscall.Errno) {
	n, err := syscall.Read(int(fd), b)
	return max(n, 0), errnoOf(err)
}

// The runtime ignores SIGPIPE on sockets; send(2) with MSG_NOSIGNAL is the non-race build's.
func sysSend(fd uintptr, b []byte) (int, syscall.Errno) {
	n, err := syscall.Write(int(fd), b)
	return max(n, 0), errnoOf(err)
}

func sysSendBuffers(fd uintptr, bufs [][]byte) (int, syscall.Errno) {
	n, err := unix.Writev(int(fd), bufs)
	return max(n, 0), errnoOf(err)
}

func sysSetLowWater(fd uintptr, n int) syscall.Errno {
	return errnoOf(syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVLOWAT, n))
}

func errnoOf(err error) syscall.Errno {
	var e syscall.Errno
	if err == nil || !errors.As(err, &e) {
		return 0
	}
	return e
}
