package torrent

import (
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
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
	lw *lowWater
}

// lowWater makes the reader of a large message wake once, when all of it is in, rather than at
// every packet (distpac patch). Before the decoder reads a message it tells the socket how many of
// its bytes are not yet buffered (Decoder.Want); a read that must wait for more sets the socket's
// SO_RCVLOWAT to that many, so that the kernel signals the socket readable only once they have
// arrived, and back to 1 when it waits for the next message. Over links of 1 MiB/s a 16 KiB chunk
// arrives in 6-12 packets, and each woke the read loop: about six reads and three wake-ups a chunk.
// The peer owes every byte of a message it started, so the wait is for bytes the protocol says are
// coming; a peer that stops mid-message is caught by the read deadline as before, and the end of
// the stream (FIN, RST) wakes the reader whatever the low-water mark. The kernel must also wake
// it when its receive memory is short or the window nearly closed, or a mark could wait for bytes
// the sender may not send: Linux does since 5.11 (the SO_RCVLOWAT fixes for memory pressure, 5.7,
// and for fat skbs, 5.11), and older kernels get no mark (lowWaterKernel). Only the read loop's
// goroutine uses it.
type lowWater struct {
	want int // bytes still owed of the message being read; <= 0: none
	set  int // SO_RCVLOWAT now on the socket
}

// minLowWater is the least SO_RCVLOWAT set: fewer bytes than about two packets are not worth the
// two system calls.
const minLowWater = 4 << 10

// lowWaterKernel reports whether the running kernel wakes a reader waiting below its SO_RCVLOWAT
// when memory or the window runs short (Linux 5.11 and later).
var lowWaterKernel = sync.OnceValue(func() bool {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return false
	}
	return kernelAtLeast(unix.ByteSliceToString(u.Release[:]), 5, 11)
})

// kernelAtLeast reports whether a kernel release string ("6.18.44-generic") is major.minor or
// later; one it cannot read is not.
func kernelAtLeast(release string, major, minor int) bool {
	var maj, mnr int
	if n, _ := fmt.Sscanf(release, "%d.%d", &maj, &mnr); n != 2 {
		return false
	}
	return maj > major || maj == major && mnr >= minor
}

// wantMore is Decoder.Want: n bytes of the message about to be read are still to come.
func (lw *lowWater) wantMore(n int) { lw.want = n }

// arm sets SO_RCVLOWAT before a read waits for the socket: the bytes still owed of the message,
// at most room (what the read can take), or 1.
func (lw *lowWater) arm(fd uintptr, room int) syscall.Errno {
	target := 1
	if w := min(lw.want, room); w >= minLowWater {
		target = w
	}
	if target == lw.set {
		return 0
	}
	if e := sysSetLowWater(fd, target); e != 0 {
		if target > lw.set {
			return 0 // the lower mark stays: only more wake-ups
		}
		return e // a higher mark could wait for bytes not owed: end the connection
	}
	lw.set = target
	return 0
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
	return rawSocket{tc, rc, &lowWater{set: 1}}
}

// readWantOf is the Decoder.Want of rw when it is a raw socket on a kernel that wakes its reader
// safely (lowWaterKernel), else nil.
func readWantOf(rw io.ReadWriter) func(int) {
	if s, ok := rw.(rawSocket); ok && lowWaterKernel() {
		return s.lw.wantMore
	}
	return nil
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
				if e := s.lw.arm(fd, len(b)); e != 0 {
					errno = e
					return true
				}
				return false // wait until readable (SO_RCVLOWAT bytes are in)
			}
			n, errno = r, e
			if r > 0 {
				s.lw.want -= r
			}
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

// WriteBuffers writes bufs in order as one stream, up to maxSendBuffers of them a system call
// (sendmsg(2)), and waits for the socket as Write does (distpac patch 36). The message writer
// sends a piece message's header and the chunk's data from their own buffers this way, and no
// longer copies each chunk into its write buffer first. bufs is consumed: its slices are moved
// past what is written.
func (s rawSocket) WriteBuffers(bufs [][]byte) (n int64, err error) {
	var errno syscall.Errno
	err = s.rc.Write(func(fd uintptr) bool {
		for {
			for len(bufs) > 0 && len(bufs[0]) == 0 {
				bufs = bufs[1:]
			}
			if len(bufs) == 0 {
				return true
			}
			r, e := sysSendBuffers(fd, bufs[:min(len(bufs), maxSendBuffers)])
			switch e {
			case 0:
				n += int64(r)
				for r > 0 {
					k := min(r, len(bufs[0]))
					bufs[0] = bufs[0][k:]
					r -= k
					if len(bufs[0]) == 0 {
						bufs = bufs[1:]
					}
				}
			case syscall.EINTR:
			case syscall.EAGAIN:
				return false // wait until writable, then write the rest
			default:
				errno = e
				return true
			}
		}
	})
	if err == nil && errno != 0 {
		err = s.opError("write", errno)
	}
	return n, err
}

// maxSendBuffers is the most buffers one sendmsg(2) of WriteBuffers takes; a write buffer rarely
// holds more than a few.
const maxSendBuffers = 16

// opError names the connection's addresses in a system call's error, as net.Conn's errors do.
func (s rawSocket) opError(op string, errno syscall.Errno) error {
	return &net.OpError{Op: op, Net: "tcp", Source: s.tc.LocalAddr(), Addr: s.tc.RemoteAddr(), Err: os.NewSyscallError(op, errno)}
}
