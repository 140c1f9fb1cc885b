package bench

import (
	"errors"
	"fmt"
	"math/bits"
	"os"
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
// neither segments nor checksums for it: one read and one write per 64 KiB
// rather than per 1500 B.
type delayLine struct {
	name   string
	oneWay time.Duration
	f      *os.File
	queue  chan delayed
	queued atomic.Int64 // bytes waiting
	wg     sync.WaitGroup

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
	due  time.Time
	data []byte // virtio_net_hdr + IP packet
}

// Bounds of what the line holds at once. At the benchmark's rates
// (64 hosts × 2 MiB/s, 50 ms one way) about 7 MB are in flight; beyond
// the bounds packets are dropped, as a router would, and counted.
const (
	delayQueuePackets = 1 << 16
	delayQueueBytes   = 256 << 20
	// delayReadBuf holds the largest GSO packet (64 KiB) and its header.
	delayReadBuf = 80 << 10
)

// openDelayLine creates the TUN device name in this process's network
// namespace and starts forwarding with the given one-way delay. The caller
// brings the device up and routes through it.
func openDelayLine(name string, oneWay time.Duration) (*delayLine, error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
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
	d := &delayLine{name: name, oneWay: oneWay, f: os.NewFile(uintptr(fd), "/dev/net/tun"), queue: make(chan delayed, delayQueuePackets)}
	d.wg.Add(2)
	go d.read()
	go d.write()
	return d, nil
}

func (d *delayLine) read() {
	defer d.wg.Done()
	defer close(d.queue)
	buf := make([]byte, delayReadBuf)
	for {
		n, err := d.f.Read(buf)
		if err != nil {
			return // closed
		}
		if n == len(buf) { // truncated: cannot be a packet we can pass on
			d.drops.Add(1)
			continue
		}
		if d.queued.Load()+int64(n) > delayQueueBytes {
			d.drops.Add(1)
			continue
		}
		p := delayed{due: time.Now().Add(d.oneWay), data: append([]byte(nil), buf[:n]...)}
		select {
		case d.queue <- p:
			d.queued.Add(int64(n))
		default:
			d.drops.Add(1)
		}
	}
}

// write releases packets in arrival order: with one fixed delay, that is
// also the order they fall due.
func (d *delayLine) write() {
	defer d.wg.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for p := range d.queue {
		if wait := time.Until(p.due); wait > 0 {
			timer.Reset(wait)
			<-timer.C
		}
		late := int64(time.Since(p.due))
		if _, err := d.f.Write(p.data); err != nil {
			if errors.Is(err, os.ErrClosed) {
				return
			}
			d.writeErrs.Add(1)
		}
		d.queued.Add(-int64(len(p.data)))
		d.packets.Add(1)
		d.bytes.Add(int64(len(p.data)))
		d.lateSum.Add(late)
		d.lateHist[min(bits.Len64(uint64(max(late, 0))/1000), lateBuckets-1)].Add(1)
		for {
			m := d.maxLate.Load()
			if late <= m || d.maxLate.CompareAndSwap(m, late) {
				break
			}
		}
	}
}

// delayStats is what the line did, for the row's log.
type delayStats struct {
	Packets, Bytes, Drops, WriteErrs int64
	MaxLate, MeanLate, P99Late       time.Duration
}

func (d *delayLine) stats() delayStats {
	s := delayStats{Packets: d.packets.Load(), Bytes: d.bytes.Load(), Drops: d.drops.Load(), WriteErrs: d.writeErrs.Load(), MaxLate: time.Duration(d.maxLate.Load())}
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
	return fmt.Sprintf("%d packets (%.1f MiB), %d dropped, %d write errors; released late by %.2f ms on average, 99%% under %.2f ms, %.2f ms at most",
		s.Packets, float64(s.Bytes)/(1<<20), s.Drops, s.WriteErrs, ms(s.MeanLate), ms(s.P99Late), ms(s.MaxLate))
}

// close stops forwarding and removes the device.
func (d *delayLine) close() {
	d.f.Close()
	d.wg.Wait()
}
