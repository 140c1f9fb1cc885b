package catalogclient

import (
	"net"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/distpac/distpac/internal/procnet"
)

// listenAs listens on addr (127.0.0.1:0 when empty) with a socket of
// uid's: the effective uid of this thread alone changes while the socket
// is made (Linux credentials are a thread's; the raw call does not spread
// them to the process as syscall.Setresuid does). Root only.
func listenAs(t *testing.T, uid int, addr string) net.Listener {
	t.Helper()
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	keep := ^uintptr(0) // -1: unchanged
	if _, _, e := syscall.RawSyscall(syscall.SYS_SETRESUID, keep, uintptr(uid), keep); e != 0 {
		t.Fatalf("setresuid: %v", e)
	}
	ln, err := net.Listen("tcp", addr)
	if _, _, e := syscall.RawSyscall(syscall.SYS_SETRESUID, keep, 0, keep); e != 0 {
		panic("cannot become root again: " + e.Error()) // the test process must not go on as another user
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// acceptAs is ln whose connections are accepted by a thread of uid's, as
// another user's server accepts them: an accepted socket is the
// accepting process's (Linux's sock_graft), and one accepted by the test,
// root, would be root's whoever made the listener. The thread is never
// given back (its goroutine ends locked to it, which ends it). Root only.
func acceptAs(t *testing.T, uid int, ln net.Listener) net.Listener {
	t.Helper()
	a := &acceptingAs{Listener: ln, conns: make(chan net.Conn), errs: make(chan error, 1)}
	set := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		keep := ^uintptr(0)
		if _, _, e := syscall.RawSyscall(syscall.SYS_SETRESUID, keep, uintptr(uid), keep); e != 0 {
			set <- e
			return
		}
		set <- nil
		for {
			c, err := ln.Accept()
			if err != nil {
				a.errs <- err
				return
			}
			a.conns <- c
		}
	}()
	if err := <-set; err != nil {
		t.Fatalf("setresuid: %v", err)
	}
	return a
}

type acceptingAs struct {
	net.Listener
	conns chan net.Conn
	errs  chan error
}

func (a *acceptingAs) Accept() (net.Conn, error) {
	select {
	case c := <-a.conns:
		return c, nil
	case err := <-a.errs:
		a.errs <- err // for the next Accept too
		return nil, err
	}
}

// TestForeignLocalServerKeptConnection: a connection another user's
// server accepted is that user's, though root's server listens on the
// port since (the other's listener closed, the connection kept alive from
// the catalog's fetch for the key's). Before, the listener alone was
// looked at, and found root's.
func TestForeignLocalServerKeptConnection(t *testing.T) {
	if syscall.Geteuid() != 0 {
		t.Skip("listening as another user needs root")
	}
	theirs := acceptAs(t, 4242, listenAs(t, 4242, ""))
	c, err := net.Dial("tcp", theirs.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	accepted, err := theirs.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer accepted.Close()
	theirs.Close()
	mine := listenAs(t, 0, theirs.Addr().String()) // root's server takes the port
	far, near := mine.Addr().(*net.TCPAddr), c.LocalAddr().(*net.TCPAddr)
	if err := foreignLocalServer(far, near, 0, kernelTables); err == nil || !strings.Contains(err.Error(), "that answered is run by uid 4242, not root") {
		t.Errorf("over the kept connection: %v, want it refused, naming uid 4242", err)
	}
	// Another connection, which root's server takes, is root's.
	c2, err := net.Dial("tcp", mine.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if err := foreignLocalServer(far, c2.LocalAddr().(*net.TCPAddr), 0, kernelTables); err != nil {
		t.Errorf("over a new connection to root's server: %v, want nil", err)
	}
}

func TestForeignLocalServer(t *testing.T) {
	if syscall.Geteuid() != 0 {
		t.Skip("listening as another user needs root")
	}
	mine, theirs := listenAs(t, 0, ""), listenAs(t, 4242, "")
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	free.Close()
	tests := []struct {
		name string
		addr string
		euid int
		want string // in the error; "" for none
	}{
		{"root's server", mine.Addr().String(), 0, ""},
		{"another user's server", theirs.Addr().String(), 0, "is run by uid 4242, not root"},
		{"nothing listens", free.Addr().String(), 0, "no server of root's listens on"},
		// A connection to 0.0.0.0 reaches 127.0.0.1 (Linux).
		{"another user's server, as 0.0.0.0", "0.0.0.0:" + port(theirs), 0, "is run by uid 4242, not root"},
		{"root's server, as 0.0.0.0", "0.0.0.0:" + port(mine), 0, ""},
		{"a user trusting another user's server", theirs.Addr().String(), 1000, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := foreignLocalServer(tcpAddr(t, tt.addr), nil, tt.euid, kernelTables)
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("foreignLocalServer(%s) = %v, want %q", tt.addr, err, tt.want)
			}
		})
	}
	unknown := tables{
		listening: func(int) ([]procnet.Listener, error) { return nil, procnet.ErrUnknown },
		connected: func(int) ([]procnet.Conn, error) { return nil, procnet.ErrUnknown },
	}
	if err := foreignLocalServer(tcpAddr(t, theirs.Addr().String()), nil, 0, unknown); err != nil {
		t.Errorf("with no table to read: %v, want nothing known and nil", err)
	}
}

func tcpAddr(t *testing.T, hostPort string) *net.TCPAddr {
	t.Helper()
	a, err := net.ResolveTCPAddr("tcp", hostPort)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func port(ln net.Listener) string { return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port) }

// ListenAs and AcceptAs are listenAs and acceptAs for the package's
// outside tests.
var ListenAs, AcceptAs = listenAs, acceptAs
