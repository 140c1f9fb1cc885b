package swarm

import (
	"errors"
	"math"
	"net"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// minRTT is the least round-trip time the kernel has measured on a TCP
// connection: the path's delay without the queueing a busy link adds.
func minRTT(c net.Conn) (time.Duration, error) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return 0, errors.New("not a socket")
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return 0, err
	}
	var info *unix.TCPInfo
	var ierr error
	if err := raw.Control(func(fd uintptr) { info, ierr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO) }); err != nil {
		return 0, err
	}
	if ierr != nil {
		return 0, ierr
	}
	// The kernel keeps ~0 until the first sample.
	if info.Min_rtt == math.MaxUint32 {
		return 0, errors.New("no round-trip sample yet")
	}
	return time.Duration(info.Min_rtt) * time.Microsecond, nil
}
