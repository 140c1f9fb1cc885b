//go:build linux

package bench

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// delayLine gives the benchmark network its round-trip time. This kernel
// has no netem (`tc qdisc add ... netem` answers "Specified qdisc kind is
// unknown"), so the router namespace sends every packet between hosts
// through a TUN device, and this forwarder writes each one back after a
// fixed one-way delay. A TUN forwarder rather than a delaying TCP relay
// because the delay must be in the path of the packets: a relay ends each
// TCP connection in the middle, so the hosts' kernels would see a round
// trip of microseconds (TCP_INFO, congestion control, the client's queue
// depth all read it) while the application saw another, and the relay's
// buffers would stand between the link's rate limit and the sender.
//
// The device takes whole GSO packets (IFF_VNET_HDR with TSO offloads) and
// the forwarder passes the virtio header back unchanged, so the kernel
// neither segments nor checksums for it.
//
// The reader and the writer are each a thread of their own at real-time
// priority (rt.go), which share the packets through a lock-free ring and
// make only raw system calls, in slices of at most 2 ms: they never wait
// for Go's scheduler, whose threads run at normal priority. Measured at
// N=8, 100 ms, on two cores with a load of 3-4 from other work (117-122k
// packets a row): goroutines on Go timers released packets late by 1.6-4.7
// ms on average, the slowest 1 % by 16-33 ms; real-time threads with a
// mutex-guarded queue and ordinary system calls, 0.7-1.1 ms and 4-65 ms (a
// goroutine that blocks on a mutex or comes back from a system call to
// find no free P waits for a normal-priority thread); as now, 0.04-0.12 ms
// and 0.1-1.0 ms. At N=32, 20 ms (450k packets in 24 s), 1.0 ms and 16 ms,
// where raw calls that blocked up to 100 ms (holding up the process's
// garbage collector meanwhile) gave 7-8 ms and 65 ms. Every packet's
// forwarding, and the receiving host's work on it, runs in the writer's
// write: about 11 µs a packet.
type delayLine struct {
	name   string
	oneWay int64 // nanoseconds
	tun    int   // the device, blocking
	wake   int   // eventfd: the reader tells a waiting writer there is work
	stop   atomic.Bool
	wg     sync.WaitGroup
	// realtime is false when the threads could not get SCHED_FIFO (they
	// run at normal priority then, and the log says so).
	realtime atomic.Bool

	// The packets waiting, in arrival order (with one fixed delay also
	// the order they fall due): a ring of packet records over a ring of
	// bytes, one producer (read) and one consumer (write) and no lock, so
	// neither thread ever waits for Go's scheduler or allocates (a
	// goroutine that allocates may be made to help the garbage collector).
	ring     [delayQueuePackets]delayed
	arena    []byte
	produced atomic.Int64 // records written; ring index = count % len(ring)
	consumed atomic.Int64 // records released
	used     atomic.Int64 // arena bytes held, padding included

	packets, bytes, drops atomic.Int64
	maxLate               atomic.Int64 // nanoseconds a packet left after its due time, at most
	lateSum               atomic.Int64 // nanoseconds, summed over packets
	// lateHist counts packets by lateness: bucket b holds those under 2^b µs.
	lateHist  [lateBuckets]atomic.Int64
	writeErrs atomic.Int64
}

// lateBuckets covers lateness up to 2^22 µs (4 s); later falls in the last.
const lateBuckets = 23

type delayed struct {
	due       int64 // CLOCK_MONOTONIC nanoseconds
	off, n    int   // virtio_net_hdr + IP packet in the arena
	pad, held int   // arena bytes skipped before it; pad + n
}

// Bounds of what the line holds at once. At the benchmark's rates
// (64 hosts × 2 MiB/s, 50 ms one way) about 7 MB are in flight; beyond
// the bounds packets are dropped, as a router would, and counted.
const (
	delayQueuePackets = 1 << 16
	delayQueueBytes   = 64 << 20
	// delayReadBuf holds the largest GSO packet (64 KiB) and its header.
	delayReadBuf = 80 << 10
)

// openDelayLine creates the TUN device name in this process's network
// namespace and starts forwarding with the given one-way delay. The caller
// brings the device up and routes through it.
func openDelayLine(name string, oneWay time.Duration) (*delayLine, error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("delay line: open /dev/net/tun: %w", err)
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("delay line: %w", err)
	}
	ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI | unix.IFF_VNET_HDR)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("delay line: TUNSETIFF %s: %w", name, err)
	}
	if err := unix.IoctlSetInt(fd, unix.TUNSETOFFLOAD, unix.TUN_F_CSUM|unix.TUN_F_TSO4|unix.TUN_F_TSO6); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("delay line: TUNSETOFFLOAD %s: %w", name, err)
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("delay line: eventfd: %w", err)
	}
	d := &delayLine{name: name, oneWay: int64(oneWay), tun: fd, wake: wake, arena: make([]byte, delayQueueBytes)}
	d.realtime.Store(true)
	d.wg.Add(2)
	for _, loop := range []func(){d.read, d.write} {
		go func() {
			defer d.wg.Done()
			rtThread(&d.realtime, loop)
		}()
	}
	return d, nil
}

func (d *delayLine) read() {
	buf := make([]byte, delayReadBuf)
	next := 0 // arena offset of the next packet
	for !d.stop.Load() {
		if !rtReadable(d.tun) {
			continue
		}
		n, err := rawRead(d.tun, buf)
		if err != nil || n <= 0 {
			pause(err)
			continue
		}
		now := monotonic()
		if n == len(buf) { // truncated: cannot be a packet we can pass on
			d.drops.Add(1)
			continue
		}
		pad := 0
		if next+n > len(d.arena) { // no room before the end: start over at 0
			pad = len(d.arena) - next
		}
		p := d.produced.Load()
		if p-d.consumed.Load() >= int64(len(d.ring)) || d.used.Load()+int64(pad+n) > int64(len(d.arena)) {
			d.drops.Add(1)
			continue
		}
		off := (next + pad) % len(d.arena)
		copy(d.arena[off:], buf[:n])
		d.ring[p%int64(len(d.ring))] = delayed{due: now + d.oneWay, off: off, n: n, pad: pad, held: pad + n}
		d.used.Add(int64(pad + n))
		next = off + n
		d.produced.Store(p + 1) // publishes the record and its bytes
		if p == d.consumed.Load() {
			d.signal() // the writer may be waiting on an empty ring
		}
	}
}

// signal wakes the writer (an eventfd counts, so no wake-up is lost).
func (d *delayLine) signal() {
	var one [8]byte
	binary.NativeEndian.PutUint64(one[:], 1)
	unix.Write(d.wake, one[:])
}

func (d *delayLine) write() {
	var counter [8]byte
	for !d.stop.Load() {
		c := d.consumed.Load()
		if c == d.produced.Load() {
			if rtReadable(d.wake) {
				rawRead(d.wake, counter[:])
			}
			continue
		}
		p := d.ring[c%int64(len(d.ring))]
		sleepUntil(p.due)
		late := monotonic() - p.due
		if _, err := rawWrite(d.tun, d.arena[p.off:p.off+p.n]); err != nil {
			d.writeErrs.Add(1)
		}
		d.used.Add(-int64(p.held))
		d.consumed.Store(c + 1)
		d.packets.Add(1)
		d.bytes.Add(int64(p.n))
		d.lateSum.Add(late)
		d.lateHist[min(bits.Len64(uint64(max(late, 0))/1000), lateBuckets-1)].Add(1)
		if late > d.maxLate.Load() {
			d.maxLate.Store(late) // only this thread writes it
		}
	}
}

// resetStats starts the counts afresh (at the start of a row). A packet
// the writer counts meanwhile may land on either side.
func (d *delayLine) resetStats() {
	for _, c := range []*atomic.Int64{&d.packets, &d.bytes, &d.drops, &d.writeErrs, &d.maxLate, &d.lateSum} {
		c.Store(0)
	}
	for i := range d.lateHist {
		d.lateHist[i].Store(0)
	}
}

// delayStats is what the line did, for the row's log.
type delayStats struct {
	Packets, Bytes, Drops, WriteErrs int64
	MaxLate, MeanLate, P99Late       time.Duration
	Realtime                         bool
}

func (d *delayLine) stats() delayStats {
	s := delayStats{Packets: d.packets.Load(), Bytes: d.bytes.Load(), Drops: d.drops.Load(), WriteErrs: d.writeErrs.Load(),
		MaxLate: time.Duration(d.maxLate.Load()), Realtime: d.realtime.Load()}
	if s.Packets > 0 {
		s.MeanLate = time.Duration(d.lateSum.Load() / s.Packets)
	}
	var seen int64
	for b := range d.lateHist {
		seen += d.lateHist[b].Load()
		if seen*100 >= s.Packets*99 {
			s.P99Late = time.Duration(1<<b) * time.Microsecond
			break
		}
	}
	return s
}

func (s delayStats) String() string {
	prio := ""
	if !s.Realtime {
		prio = " (at normal priority: SCHED_FIFO was refused)"
	}
	return fmt.Sprintf("%d packets (%.1f MiB), %d dropped, %d write errors; released late by %.2f ms on average, 99%% under %.2f ms, %.2f ms at most%s",
		s.Packets, float64(s.Bytes)/(1<<20), s.Drops, s.WriteErrs, ms(s.MeanLate), ms(s.P99Late), ms(s.MaxLate), prio)
}

// close stops forwarding and removes the device.
func (d *delayLine) close() error {
	d.stop.Store(true)
	d.signal()
	d.wg.Wait()
	return errors.Join(unix.Close(d.tun), unix.Close(d.wake))
}
