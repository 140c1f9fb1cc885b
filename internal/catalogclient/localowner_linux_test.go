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

// listenAs listens on addr (127.0.0.1:0 when empty) with a socket of uid's: the effective
// uid of this thread alone changes while the socket is made (Linux
// credentials are a thread's; the raw call does not spread them to the
// process as syscall.Setresuid does). Root only.
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
			err := foreignLocalServer(tcpAddr(t, tt.addr), tt.euid, procnet.Listening)
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("foreignLocalServer(%s) = %v, want %q", tt.addr, err, tt.want)
			}
		})
	}
	unknown := func(int) ([]procnet.Listener, error) { return nil, procnet.ErrUnknown }
	if err := foreignLocalServer(tcpAddr(t, theirs.Addr().String()), 0, unknown); err != nil {
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

// ListenAs is listenAs for the package's outside tests.
var ListenAs = listenAs
