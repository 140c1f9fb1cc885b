package daemon

import (
	"net"
	"os"
	"testing"
)

// TestHoldsListener: a listener of this process is this process's; one
// handed to another program is not, though the port is still taken; a
// port nobody listens on cannot be told.
func TestHoldsListener(t *testing.T) {
	listen := func() (net.Listener, int) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		return ln, ln.Addr().(*net.TCPAddr).Port
	}
	_, mine := listen()
	other, theirs := listen()
	handToOther(t, other)
	free, freePort := listen()
	free.Close()
	for _, c := range []struct {
		name         string
		port         int
		holds, known bool
	}{
		{"this process's listener", mine, true, true},
		{"another program's", theirs, false, true},
		{"nobody's", freePort, false, false},
	} {
		if holds, known := holdsListener(os.Getpid(), c.port); holds != c.holds || known != c.known {
			t.Errorf("%s: holdsListener = %v, %v; want %v, %v", c.name, holds, known, c.holds, c.known)
		}
	}
}
