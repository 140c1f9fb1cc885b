// Package nettest holds network fixtures for tests of failover: a port
// where nothing listens and a server that accepts connections and never
// answers, the two ways a server is down, a server that answers every
// request with one status (Answering), and a web seed that sends slowly
// (SlowSeed). It is never linked into the binaries.
package nettest

import (
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
)

// Refused returns a loopback host:port where nothing listens: a
// connection there is refused at once. The port is held, bound and not
// listening, until the test ends: a port free when picked is free to
// anyone, and in make test's run of the packages side by side another
// one's listener took it, so a "dead" tracker answered with bytes of a
// peer's (TestTrackerHealth, once).
func Refused(t testing.TB) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatalf("refused address: %v", err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatalf("refused address: bind: %v", err)
	}
	sa, err := syscall.Getsockname(fd)
	in, ok := sa.(*syscall.SockaddrInet4)
	if err != nil || !ok {
		t.Fatalf("refused address: getsockname: %v", err)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(in.Port))
}

// given holds the ports FreeAddr gave out in this test binary.
var given struct {
	sync.Mutex
	ports map[int]bool
}

// FreeAddr returns a loopback host:port nothing listens on now, and one
// it has not returned before in this test binary: a port is free when
// picked, not when used, and the kernel gave the same ephemeral port to
// two picks in a row (a server's database_addr and peer_addr, refused as
// the same address: TestSeedRetryWhileRefused, once in a hundred runs).
// It is below the kernel's ephemeral range, as e2e's ports are: a port of
// that range, free between its pick and its use, was taken meanwhile by
// another test's listener on port 0 or outgoing connection (a seeder
// started again 700 ms after its pick found it taken under make test's
// load: TestRefusedSeederBackWithinGrace, once in a clean clone).
func FreeAddr(t testing.TB) string {
	t.Helper()
	given.Lock()
	defer given.Unlock()
	if given.ports == nil {
		given.ports = map[int]bool{}
	}
	const low = 10000
	span := EphemeralLow() - low
	start := rand.IntN(span)
	for i := range span {
		port := low + (start+i)%span
		if given.ports[port] {
			continue
		}
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			continue // taken
		}
		ln.Close()
		given.ports[port] = true
		return ln.Addr().String()
	}
	t.Fatal("no loopback port below the ephemeral range is free")
	return ""
}

// EphemeralLow is the lowest port the kernel hands out for port 0 and
// outgoing connections (32768 when it cannot be read): test ports picked
// below it are not taken meanwhile by those.
func EphemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 32768
	}
	lo, err := strconv.Atoi(f[0])
	if err != nil || lo <= 11000 || lo > 65535 {
		return 32768
	}
	return lo
}

// Hanging returns the loopback host:port of a server that accepts every
// connection and then neither reads nor writes, until the test ends, and
// a count of the connections it accepted.
func Hanging(t testing.TB) (addr string, accepted *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted = &atomic.Int64{}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String(), accepted
}

// Answering returns the loopback host:port of an HTTP server that answers
// every request with code (and its text), until the test ends: a server
// that refuses (401, 403) or fails (500).
func Answering(t testing.TB, code int) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { http.Error(w, http.StatusText(code), code) }))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}
