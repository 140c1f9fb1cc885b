//go:build linux

package bench

import (
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Threads at real-time priority for the delay line and the round-trip
// probe: whatever else two busy cores run, these wake within microseconds,
// so the round trip they make and measure is the one they claim. They make
// raw system calls, which keep their Go P, so that they never wait for
// Go's scheduler, whose threads run at normal priority (see delayLine for
// the measurements). A raw call that blocks would also hold up every
// stop-the-world of this process (the garbage collector's, GOMAXPROCS)
// until it returns, so none blocks longer than rtSlice: they poll and
// sleep in slices.

// rtPriority is their SCHED_FIFO priority: above every normal process,
// low among real-time ones.
const rtPriority = 10

// rtSlice bounds a raw blocking system call, in nanoseconds.
const rtSlice = 2_000_000

// rtThread runs loop on a thread of its own at real-time priority, or at
// normal priority if the kernel refuses (then ok is set to false). The
// thread ends with the goroutine (it stays locked), so its priority never
// passes to other goroutines, and children it forks start at normal
// priority.
func rtThread(ok *atomic.Bool, loop func()) {
	// The thread keeps its P: give Go one more for as long as it lives, or
	// two of them would leave this process's other goroutines none on a
	// two-core machine.
	addP(1)
	defer addP(-1)
	runtime.LockOSThread()
	attr := unix.SchedAttr{Policy: unix.SCHED_FIFO, Priority: rtPriority, Flags: unix.SCHED_FLAG_RESET_ON_FORK}
	if err := unix.SchedSetAttr(0, &attr, 0); err != nil {
		ok.Store(false)
	}
	loop()
}

var pMu sync.Mutex

func addP(n int) {
	pMu.Lock()
	defer pMu.Unlock()
	runtime.GOMAXPROCS(runtime.GOMAXPROCS(0) + n)
}

// monotonic is CLOCK_MONOTONIC in nanoseconds, the clock sleepUntil's
// clock_nanosleep sleeps on. It is read through Go's monotonic clock, which
// is the same clock read in the vDSO: x/sys's ClockGettime is a system call
// (not even a raw one), and the delay line read the clock twice a packet:
// 60,000 calls a second at N=32.
func monotonic() int64 {
	return monoBase + int64(time.Since(monoStart))
}

// monoStart and monoBase are one instant on Go's clock and as
// CLOCK_MONOTONIC nanoseconds. The system call's reading is paired with the
// Go reading taken before it, so monotonic never reads behind
// CLOCK_MONOTONIC (sleepUntil would then spin on its real-time thread until
// the clocks agreed) and reads ahead by at most the time the pair took: the
// shortest of 16 tries, a microsecond or so unless every try was preempted.
var monoStart, monoBase = func() (time.Time, int64) {
	var start time.Time
	var base int64
	best := time.Duration(math.MaxInt64)
	for range 16 {
		var ts unix.Timespec
		t0 := time.Now()
		unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
		if w := time.Since(t0); w < best {
			best, start, base = w, t0, ts.Nano()
		}
	}
	return start, base
}()

// rtReadable waits up to rtSlice for fd to have something to read.
func rtReadable(fd int) bool {
	fds := [1]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	ts := unix.NsecToTimespec(rtSlice)
	// ppoll, not poll: arm64 has only the former.
	n, _, e := unix.RawSyscall6(unix.SYS_PPOLL, uintptr(unsafe.Pointer(&fds[0])), 1, uintptr(unsafe.Pointer(&ts)), 0, 0, 0)
	if e != 0 {
		pause(e)
		return false
	}
	return n > 0
}

// sleepUntil sleeps until the monotonic clock reads due, in slices.
func sleepUntil(due int64) {
	for {
		now := monotonic()
		if now >= due {
			return
		}
		ts := unix.NsecToTimespec(min(due, now+rtSlice))
		unix.RawSyscall6(unix.SYS_CLOCK_NANOSLEEP, unix.CLOCK_MONOTONIC, unix.TIMER_ABSTIME, uintptr(unsafe.Pointer(&ts)), 0, 0, 0)
	}
}

// pause sleeps a millisecond after a failed system call other than an
// interrupted one: a thread at real-time priority must never spin.
func pause(err error) {
	if err == nil || err == unix.EINTR || err == unix.EAGAIN {
		return
	}
	sleepUntil(monotonic() + 1_000_000)
}

func rawRead(fd int, b []byte) (int, error) {
	r, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	if e != 0 {
		return int(r), e
	}
	return int(r), nil
}

func rawWrite(fd int, b []byte) (int, error) {
	r, _, e := unix.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	if e != 0 {
		return int(r), e
	}
	return int(r), nil
}
