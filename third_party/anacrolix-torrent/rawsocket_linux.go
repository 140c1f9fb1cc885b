package torrent

import (
	"io"
	"net"
	"os"
	"syscall"
	"unsafe"
)

// distpac patch: a TCP peer connection's reads and writes are raw system calls on its non-blocking
// socket, waiting for readiness through the runtime's poller as before (deadlines hold). Go's
// net.Conn enters every read and write as a possibly blocking system call, and entering one while
// the runtime's monitor thread (sysmon) sleeps because the process was idle wakes it and resets it
// to polling every 20 µs for the next millisecond. A peer process is idle between most messages, so
// each message woke sysmon and cost some 60 timer wake-ups: in a bench-swarm row (N=16) those were
// half of all the daemons' wake-ups. A read or write of a non-blocking socket never blocks, so the
// runtime need not know of it.
type rawSocket struct {
	rc syscall.RawConn
}

// rawSocketIO gives the raw reader and writer of a TCP connection, nc itself for anything else.
func rawSocketIO(nc net.Conn) io.ReadWriter {
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return nc
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nc
	}
	return rawSocket{rc}
}

func (s rawSocket) Read(b []byte) (n int, err error) {
	if len(b) == 0 {
		return 0, nil
	}
	var errno syscall.Errno
	err = s.rc.Read(func(fd uintptr) bool {
		for {
			r, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
			switch e {
			case syscall.EINTR:
				continue
			case syscall.EAGAIN:
				return false // wait until readable
			}
			n, errno = int(r), e
			return true
		}
	})
	switch {
	case err != nil:
		return 0, err
	case errno != 0:
		return 0, os.NewSyscallError("read", errno)
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

func (s rawSocket) Write(b []byte) (n int, err error) {
	var errno syscall.Errno
	err = s.rc.Write(func(fd uintptr) bool {
		for n < len(b) {
			// MSG_NOSIGNAL: a peer that closed gives EPIPE, never SIGPIPE.
			r, _, e := syscall.RawSyscall6(syscall.SYS_SENDTO, fd, uintptr(unsafe.Pointer(&b[n])), uintptr(len(b)-n), syscall.MSG_NOSIGNAL, 0, 0)
			switch e {
			case 0:
				n += int(r)
			case syscall.EINTR:
			case syscall.EAGAIN:
				return false // wait until writable, then write the rest
			default:
				errno = e
				return true
			}
		}
		return true
	})
	if err == nil && errno != 0 {
		err = os.NewSyscallError("write", errno)
	}
	return n, err
}
