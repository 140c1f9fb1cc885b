package nettest

import (
	"errors"
	"net"
	"syscall"
	"testing"
	"time"
)

// TestRefused: a connection to Refused's address is refused at once, and
// nobody else can listen there while the test runs (a port only free
// when picked was taken by another package's listener in make test).
func TestRefused(t *testing.T) {
	addr := Refused(t)
	start := time.Now()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err == nil {
		c.Close()
		t.Fatalf("dial %s: connected, want refused", addr)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) || time.Since(start) > time.Second {
		t.Fatalf("dial %s: %v after %v, want refused at once", addr, err, time.Since(start))
	}
	if ln, err := net.Listen("tcp", addr); err == nil {
		ln.Close()
		t.Fatalf("listen on %s: it was free, want it held", addr)
	}
}
