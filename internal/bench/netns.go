//go:build linux

package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
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
