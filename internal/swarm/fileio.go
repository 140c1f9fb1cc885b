package swarm

import (
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// A payload file's reads and writes (a chunk received, a chunk sent, a
// piece hashed) are the engine's only system calls that enter the runtime
// as possibly blocking, since its sockets' are raw (third_party patch 12).
// Entering one while the process was idle wakes the runtime's monitor
// thread, which then polls every 20 µs until the process is idle again, and
// a daemon on a capped link is idle between most chunks. In a bench-swarm
// row (N=16) 17,900 of those wake-ups were counted (perf probe on
// runtime.entersyscallWakeSysmon): 12,700 from chunk writes, 3,900 from
// reads; the monitor and its thread switches were 7 % of the daemons'
// samples. On Linux the reads and writes below therefore go to the kernel
// directly where the kernel promises not to wait, or where a wait is short
// and seen:
//
//   - a read of a file on a local file system (localFS) asks only for what
//     the page cache holds (preadv2 with RWF_NOWAIT) and reads the rest as
//     usual;
//   - a write into the page cache of a local file system (localFS) returns
//     in microseconds unless the kernel throttles writers (dirty pages over
//     its limit, a pause of up to 200 ms a write); ext4 refuses RWF_NOWAIT
//     for buffered writes, so a write goes directly and is timed, and
//     writeStalls writes over writeStall within writeCalm send the
//     process's writes through the runtime for writeCalm, where a blocked
//     write holds no processor. One slow write is not enough: on a busy
//     machine the kernel also deschedules a thread inside a write (in an
//     N=16 row, 3 of 16 daemons had one write over 2 ms, the longest 8.7 ms;
//     none had two), while a throttled writer is slowed on write after
//     write. Files on network and FUSE file systems, whose writes wait for
//     a server, are always written through the runtime.
//
// Measured in interleaved bench-swarm rows, the row's CPU (seeder, daemons,
// installs): at N=16 9.0–11.5 → 6.8–8.7 s (10 pairs); at N=32, where both
// cores are busy and the monitor rarely sleeps, no change beyond the noise
// (16.7–20.1 against 15.5–18.4 s, 5 pairs). One fast peer (bench-fast,
// 1 GiB): the same. Under the race detector and on 32-bit architectures
// the calls are the syscall packages' (fileio_sys_linux.go), which tell the
// detector what each buffer received and split a 64-bit offset as each
// architecture wants; the fallbacks are the same. Elsewhere than Linux they
// are os.File's.
const (
	writeStall  = 2 * time.Millisecond
	writeStalls = 3
	writeCalm   = 10 * time.Second
)

// stallGuard decides whether a write may go directly to the kernel.
type stallGuard struct {
	until atomic.Int64 // unix nanoseconds before which writes go through the runtime

	mu   sync.Mutex
	slow [writeStalls]time.Time // when the last slow writes ended, a ring; guarded by mu
	next int                    // the ring's oldest entry; guarded by mu
}

func (g *stallGuard) direct(now time.Time) bool { return now.UnixNano() >= g.until.Load() }

// took records how long a direct write that ended at now took.
func (g *stallGuard) took(now time.Time, d time.Duration) {
	if d <= writeStall {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.slow[g.next] = now
	g.next = (g.next + 1) % writeStalls
	if oldest := g.slow[g.next]; !oldest.IsZero() && now.Sub(oldest) <= writeCalm {
		g.until.Store(now.Add(writeCalm).UnixNano())
		g.slow = [writeStalls]time.Time{}
	}
}

var writes stallGuard

// payloadFile is an open payload file as readFileAt and writeFileAt take
// it: its descriptor's RawConn, made once (os.File.SyscallConn allocates at
// every call, and these run for every chunk), and whether it lives on a
// local file system (localFS). Not local (or without a RawConn), they take
// os.File's path.
type payloadFile struct {
	f     *os.File
	rc    syscall.RawConn
	local bool // set only with rc
}

// ReadAt reads with readFileAt (piece hashing).
func (p payloadFile) ReadAt(b []byte, off int64) (int, error) { return readFileAt(p, b, off) }
