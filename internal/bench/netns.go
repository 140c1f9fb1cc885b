package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// inNetns runs fn on a thread moved into the network namespace of the file
// netns: sockets fn creates live there, and /proc/thread-self/net shows
// that namespace. fn runs in a goroutine of its own, locked to its thread;
// should moving back fail, the thread ends with the goroutine rather than
// run other code in the wrong namespace.
func inNetns(netns string, fn func() error) error {
	target, err := os.Open(netns)
	if err != nil {
		return err
	}
	defer target.Close()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer orig.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("setns %s: %w", netns, err)
			return
		}
		ferr := fn()
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- errors.Join(ferr, fmt.Errorf("setns back: %w", err)) // the thread stays locked and ends
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// nsHTTPClient is an HTTP client that makes its connections inside h's
// network namespace, to reach what h serves on its own loopback (the
// server's control address).
func nsHTTPClient(h host) *http.Client {
	if h.netns == "" {
		return http.DefaultClient
	}
	dial := func(ctx context.Context, network, addr string) (c net.Conn, err error) {
		err = inNetns(h.netns, func() (err error) {
			c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: dial, DisableKeepAlives: true}}
}

// linkBytes are a network device's kernel counters.
type linkBytes struct{ rx, tx int64 }

// hostLinkBytes reads the counters of h's eth0 inside h's namespace (what
// /sys/class/net/eth0/statistics/{rx,tx}_bytes show there): every byte
// the link carried, headers included.
func hostLinkBytes(h host) (linkBytes, error) {
	var b []byte
	err := inNetns(h.netns, func() (err error) {
		b, err = os.ReadFile("/proc/thread-self/net/dev")
		return err
	})
	if err != nil {
		return linkBytes{}, fmt.Errorf("%s: %w", h.name, err)
	}
	c, err := parseNetDev(b, "eth0")
	if err != nil {
		return linkBytes{}, fmt.Errorf("%s: %w", h.name, err)
	}
	return c, nil
}

// parseNetDev finds dev's received and transmitted bytes in the text of
// /proc/net/dev: two header lines, then "dev: rx_bytes rx_packets ... (8
// receive fields) tx_bytes ...".
func parseNetDev(b []byte, dev string) (linkBytes, error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || strings.TrimSpace(name) != dev {
			continue
		}
		f := strings.Fields(rest)
		if len(f) < 16 {
			return linkBytes{}, fmt.Errorf("/proc/net/dev: %s has %d fields, want 16", dev, len(f))
		}
		rx, err1 := strconv.ParseInt(f[0], 10, 64)
		tx, err2 := strconv.ParseInt(f[8], 10, 64)
		if err1 != nil || err2 != nil || rx < 0 || tx < 0 {
			return linkBytes{}, fmt.Errorf("/proc/net/dev: %s: bad byte counts %q, %q", dev, f[0], f[8])
		}
		return linkBytes{rx: rx, tx: tx}, nil
	}
	return linkBytes{}, fmt.Errorf("/proc/net/dev: no device %s", dev)
}

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

// measureRTT times a TCP connection from host a to host b, and ping-pongs
// of one byte over it (Nagle off), through the same network the row's
// programs use.
func measureRTT(ctx context.Context, a, b host) (rttSample, error) {
	var s rttSample
	var ln net.Listener
	if err := inNetns(b.netns, func() (err error) {
		ln, err = net.Listen("tcp4", net.JoinHostPort(b.addr, "0"))
		return err
	}); err != nil {
		return s, fmt.Errorf("rtt probe: listen on %s: %w", b.name, err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.Copy(c, c)
	}()
	var c net.Conn
	if err := inNetns(a.netns, func() (err error) {
		d := net.Dialer{Timeout: 10 * time.Second}
		t0 := time.Now()
		c, err = d.DialContext(ctx, "tcp4", ln.Addr().String())
		s.Connect = time.Since(t0)
		return err
	}); err != nil {
		return s, fmt.Errorf("rtt probe: %s to %s: %w", a.name, b.name, err)
	}
	defer c.Close()
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
