// Package nettest holds network fixtures for tests of failover: a port
// where nothing listens and a server that accepts connections and never
// answers, the two ways a server is down. It is never linked into the
// binaries.
package nettest

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// Refused returns a loopback host:port where nothing listens: a
// connection there is refused at once.
func Refused(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
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
