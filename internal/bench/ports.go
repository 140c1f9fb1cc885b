//go:build linux

package bench

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"sync"
)

// Ports handed to the programs a row starts (their peer, RPC and tracker
// ports) come from outside the kernel's ephemeral range
// (net.ipv4.ip_local_port_range). The kernel gives ports of that range to
// every outgoing connection and to every bind to port 0, so a port found
// free there and closed could become the source port of another peer's
// connection before the program binds it, and the program fail. That is the
// likely cause, not a shown one, of the aria2c leecher that now and then
// exited with status 1 in rows of 32, each leecher opening tens of
// connections (8 rows in a row passed; the row now prints aria2c's own
// reason). HashiCorp's freeport takes its ports outside that range for the
// same reason.
var ports struct {
	sync.Mutex
	lo, hi int // the range handed out, [lo, hi); lo == hi: the kernel's choice
	next   int
	set    bool
}

// freePort returns a TCP port free on every address now, distinct from the
// ports it returned before until its range wraps, and outside the
// ephemeral range where this system leaves room for one.
func freePort() (int, error) {
	ports.Lock()
	defer ports.Unlock()
	if !ports.set {
		b, _ := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
		ports.lo, ports.hi = portRange(string(b))
		if ports.hi > ports.lo {
			ports.next = ports.lo + rand.IntN(ports.hi-ports.lo)
		}
		ports.set = true
	}
	if ports.hi == ports.lo {
		return kernelPort()
	}
	for range ports.hi - ports.lo {
		p := ports.next
		if ports.next++; ports.next == ports.hi {
			ports.next = ports.lo
		}
		ln, err := net.Listen("tcp", ":"+strconv.Itoa(p))
		if err != nil {
			continue // taken
		}
		ln.Close()
		return p, nil
	}
	return 0, fmt.Errorf("no free TCP port in %d-%d", ports.lo, ports.hi-1)
}

// kernelPort asks the kernel for a free port on 127.0.0.1.
func kernelPort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// minPorts is the least room outside the ephemeral range worth using.
const minPorts = 1000

// portRange is the range [lo, hi) freePort hands out, given the contents
// of ip_local_port_range ("32768\t60999\n" by default; Linux's default when
// unreadable): below the ephemeral range from 10000, or else above it.
// lo == hi when neither leaves minPorts ports.
func portRange(ephemeral string) (lo, hi int) {
	eLo, eHi := 32768, 60999
	var a, b int
	if n, err := fmt.Sscan(ephemeral, &a, &b); n == 2 && err == nil && 0 < a && a <= b && b <= 65535 {
		eLo, eHi = a, b
	}
	switch {
	case eLo-10000 >= minPorts:
		return 10000, eLo
	case 65535-eHi >= minPorts:
		return eHi + 1, 65536
	}
	return 0, 0
}
