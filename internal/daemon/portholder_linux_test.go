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

// TestListenerLine: a listening socket's line of /proc/net/tcp or tcp6
// gives its inode; a connection's, another port's and the header do not.
func TestListenerLine(t *testing.T) {
	for _, c := range []struct {
		line string
		want string
	}{
		{"   0: 0100007F:1AE1 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 41532 1 0000000000000000 100 0 0 10 0", "41532"},
		{"   1: 00000000000000000000000000000000:1AE1 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 41533 1 0000000000000000 100 0 0 10 0", "41533"},
		{"   2: 0100007F:1AE1 0100007F:D431 01 00000000:00000000 00:00000000 00000000  1000        0 41534 1 0000000000000000 20 4 30 10 -1", ""},
		{"   3: 0100007F:1AE2 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 41535 1 0000000000000000 100 0 0 10 0", ""},
		{"  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode", ""},
	} {
		if got := listenerLine(c.line, 0x1AE1); got != c.want {
			t.Errorf("listenerLine(%q) = %q, want %q", c.line, got, c.want)
		}
	}
}
