package torrent

import (
	"io"
	"net"
	"os"
	"syscall"
)

// distpac patch: a TCP peer connection's reads and writes are raw system calls on its non-blocking
// socket, waiting for readiness through the runtime's poller as before (deadlines hold). Go's
// net.Conn enters every read and write as a possibly blocking system call, and entering one while
// the runtime's monitor thread (sysmon) sleeps because the process was idle wakes it, and it then
// polls every 20 µs until the process is idle again. A peer process is idle between most messages,
// so nearly every message woke sysmon: in a bench-swarm row (N=16) its wake-ups and timer sleeps
// were half of all the daemons' wake-ups. A read or write of a non-blocking socket never blocks, so the
// runtime need not know of it. Under the race detector the calls are the syscall package's, which
// tell it what was read and written (rawsys_race_linux.go).
type rawSocket struct {
	tc *net.TCPConn
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
	return rawSocket{tc, rc}
}

func (s rawSocket) Read(b []byte) (n int, err error) {
	if len(b) == 0 {
		return 0, nil
	}
	var errno syscall.Errno
	err = s.rc.Read(func(fd uintptr) bool {
		for {
			r, e := sysRead(fd, b)
			switch e {
			case syscall.EINTR:
				continue
			case syscall.EAGAIN:
				return false // wait until readable
			}
			n, errno = r, e
			return true
		}
	})
	switch {
	case err != nil:
		return 0, err
	case errno != 0:
		return 0, s.opError("read", errno)
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

func (s rawSocket) Write(b []byte) (n int, err error) {
	var errno syscall.Errno
	err = s.rc.Write(func(fd uintptr) bool {
		for n < len(b) {
			r, e := sysSend(fd, b[n:])
			switch e {
			case 0:
				n += r
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
		err = s.opError("write", errno)
	}
	return n, err
}

// opError names the connection's addresses in a system call's error, as net.Conn's errors do.
func (s rawSocket) opError(op string, errno syscall.Errno) error {
	return &net.OpError{Op: op, Net: "tcp", Source: s.tc.LocalAddr(), Addr: s.tc.RemoteAddr(), Err: os.NewSyscallError(op, errno)}
}
