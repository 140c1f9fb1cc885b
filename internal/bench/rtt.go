//go:build linux

package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Measuring the round trip the lab claims: before the rows, from a client
// to the publisher (measureRTT); during each row, between two hosts that
// take no part in it (rowProbe).

// rttSample is a measured round trip between two hosts.
type rttSample struct {
	Connect time.Duration // TCP connect: SYN to SYN-ACK
	Median  time.Duration // of the ping-pongs
	Max     time.Duration
	MinRTT  time.Duration // the kernel's estimate on the connection (TCP_INFO min_rtt)
}

func (s rttSample) String() string {
	return fmt.Sprintf("connect %.2f ms, ping-pong median %.2f ms (max %.2f), TCP_INFO min_rtt %.2f ms",
		ms(s.Connect), ms(s.Median), ms(s.Max), ms(s.MinRTT))
}

func ms(d time.Duration) float64 { return d.Seconds() * 1000 }

// rttPings is how many one-byte ping-pongs measureRTT times.
const rttPings = 10

// dialPair connects host a to host b over TCP and returns both ends, and
// how long the connection took to set up (one round trip).
func dialPair(ctx context.Context, a, b host) (ca, cb net.Conn, connect time.Duration, err error) {
	var ln net.Listener
	if err := inNetns(b.netns, func() (err error) {
		ln, err = net.Listen("tcp4", net.JoinHostPort(b.addr, "0"))
		return err
	}); err != nil {
		return nil, nil, 0, fmt.Errorf("rtt probe: listen on %s: %w", b.name, err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	if err := inNetns(a.netns, func() (err error) {
		d := net.Dialer{Timeout: 10 * time.Second}
		t0 := time.Now()
		ca, err = d.DialContext(ctx, "tcp4", ln.Addr().String())
		connect = time.Since(t0)
		return err
	}); err != nil {
		return nil, nil, 0, fmt.Errorf("rtt probe: %s to %s: %w", a.name, b.name, err)
	}
	select {
	case cb = <-accepted:
	case <-time.After(10 * time.Second):
	}
	if cb == nil {
		ca.Close()
		return nil, nil, 0, fmt.Errorf("rtt probe: %s did not accept %s", b.name, a.name)
	}
	return ca, cb, connect, nil
}

// measureRTT times a TCP connection from host a to host b, and ping-pongs
// of one byte over it (Go sets TCP_NODELAY), through the network the row's
// programs use.
func measureRTT(ctx context.Context, a, b host) (rttSample, error) {
	var s rttSample
	c, echo, connect, err := dialPair(ctx, a, b)
	if err != nil {
		return s, err
	}
	defer c.Close()
	defer echo.Close()
	go io.Copy(echo, echo)
	s.Connect = connect
	c.SetDeadline(time.Now().Add(30 * time.Second))
	times := make([]time.Duration, 0, rttPings)
	buf := []byte{0}
	for range rttPings {
		t0 := time.Now()
		if _, err := c.Write(buf); err != nil {
			return s, fmt.Errorf("rtt probe: %w", err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			return s, fmt.Errorf("rtt probe: %w", err)
		}
		times = append(times, time.Since(t0))
	}
	slices.Sort(times)
	s.Median, s.Max = times[len(times)/2], times[len(times)-1]
	if info, err := tcpInfo(c); err == nil {
		s.MinRTT = time.Duration(info.Min_rtt) * time.Microsecond
	}
	return s, nil
}

func tcpInfo(c net.Conn) (*unix.TCPInfo, error) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil, errors.New("not a socket")
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil, err
	}
	var info *unix.TCPInfo
	var serr error
	if err := raw.Control(func(fd uintptr) { info, serr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO) }); err != nil {
		return nil, err
	}
	return info, serr
}

// rowProbe measures the lab's round trip while a row runs: every
// probeEvery a one-byte ping-pong between two hosts that take no part in
// the row, so their links' queues are empty, from threads at real-time
// priority, so that this process's own wake-ups on busy cores do not
// count: what is left is the network, the router, the delay line and the
// kernel's work for them.
type rowProbe struct {
	a, b     *os.File // blocking sockets: a pings, b echoes
	rtts     []int64  // nanoseconds, written by the pinger; read after it ended
	n        atomic.Int64
	stop     atomic.Bool
	realtime atomic.Bool
	wg       sync.WaitGroup
}

// probeEvery is the probes' interval; probeMax bounds how many one row
// takes (an hour's worth).
const (
	probeEvery = 250 * time.Millisecond
	probeMax   = int(time.Hour / probeEvery)
)

func startRowProbe(ctx context.Context, a, b host) (*rowProbe, error) {
	ca, cb, _, err := dialPair(ctx, a, b)
	if err != nil {
		return nil, err
	}
	defer ca.Close()
	defer cb.Close()
	p := &rowProbe{rtts: make([]int64, probeMax)}
	// Duplicates of the sockets, in blocking mode (Fd sets it), for raw
	// system calls on their own threads.
	if p.a, err = ca.(*net.TCPConn).File(); err != nil {
		return nil, err
	}
	if p.b, err = cb.(*net.TCPConn).File(); err != nil {
		p.a.Close()
		return nil, err
	}
	fa, fb := int(p.a.Fd()), int(p.b.Fd())
	p.realtime.Store(true)
	p.wg.Add(2)
	go func() { defer p.wg.Done(); rtThread(&p.realtime, func() { p.echo(fb) }) }()
	go func() { defer p.wg.Done(); rtThread(&p.realtime, func() { p.ping(fa) }) }()
	return p, nil
}

func (p *rowProbe) echo(fd int) {
	var b [1]byte
	for !p.stop.Load() {
		if !rtReadable(fd) {
			continue
		}
		if n, _ := rawRead(fd, b[:]); n != 1 {
			return // the pinger shut the connection down
		}
		if _, err := rawWrite(fd, b[:]); err != nil {
			return
		}
	}
}

// probeTimeout gives up on an echo that does not come back.
const probeTimeout = 10 * time.Second

func (p *rowProbe) ping(fd int) {
	var b [1]byte
	next := monotonic()
	for i := range p.rtts {
		next += int64(probeEvery)
		for !p.stop.Load() && monotonic() < next {
			sleepUntil(min(next, monotonic()+int64(10*time.Millisecond)))
		}
		if p.stop.Load() {
			return
		}
		t0 := monotonic()
		if _, err := rawWrite(fd, b[:]); err != nil {
			return
		}
		for !rtReadable(fd) {
			if p.stop.Load() || monotonic()-t0 > int64(probeTimeout) {
				return
			}
		}
		if n, _ := rawRead(fd, b[:]); n != 1 {
			return
		}
		p.rtts[i] = monotonic() - t0
		p.n.Store(int64(i + 1))
	}
}

// finish stops the probe and returns the median and the 90th percentile
// of the round trips it measured, and how many (0: none; the row was
// shorter than probeEvery).
func (p *rowProbe) finish() (median, p90 time.Duration, n int) {
	p.stop.Store(true)
	p.wg.Wait()
	p.a.Close()
	p.b.Close()
	rtts := slices.Clone(p.rtts[:p.n.Load()])
	if len(rtts) == 0 {
		return 0, 0, 0
	}
	slices.Sort(rtts)
	return time.Duration(rtts[len(rtts)/2]), time.Duration(rtts[len(rtts)*9/10]), len(rtts)
}
