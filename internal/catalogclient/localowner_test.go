package catalogclient

import (
	"net"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
)

func TestParseListeners(t *testing.T) {
	const v4 = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:2382 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4417 1 0 100 0 0 10 0
   1: 00000000:2383 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 4418 1 0 100 0 0 10 0
   2: 0100007F:2384 0100007F:9C40 01 00000000:00000000 00:00000000 00000000  1001        0 4419 1 0 20 4 30 10 -1
   3: 0200007F:2382 00000000:0000 0A 00000000:00000000 00:00000000 00000000  4242        0 4420 1 0 100 0 0 10 0
`
	const v6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000001000000:2382 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  4243        0 5417 1 0 100 0 0 10 0
   1: 00000000000000000000000000000000:2384 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  4244        0 5418 1 0 100 0 0 10 0
`
	lo4, lo6 := net.IPv4(127, 0, 0, 1), net.IPv6loopback
	tests := []struct {
		name    string
		table   string
		targets []net.IP
		port    int
		want    []int
	}{
		{"127.0.0.1, not 127.0.0.2", v4, []net.IP{lo4}, 0x2382, []int{0}},
		{"the v4 wildcard", v4, []net.IP{lo4}, 0x2383, []int{1000}},
		{"a connected socket is not a listener", v4, []net.IP{lo4}, 0x2384, nil},
		{"the v4 wildcard takes no v6", v4, []net.IP{lo6}, 0x2383, nil},
		{"::1", v6, []net.IP{lo6}, 0x2382, []int{4243}},
		{"::1 is not 127.0.0.1", v6, []net.IP{lo4}, 0x2382, nil},
		{"the v6 wildcard takes v4 too", v6, []net.IP{lo4}, 0x2384, []int{4244}},
		{"another port", v6, []net.IP{lo4, lo6}, 9091, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseListeners(strings.NewReader(tt.table), tt.targets, tt.port)
			if err != nil || !slices.Equal(got, tt.want) {
				t.Errorf("parseListeners = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestLoopbackTarget(t *testing.T) {
	tests := []struct {
		url  string
		ok   bool
		port int
	}{
		{"http://127.0.0.1:9090", true, 9090},
		{"http://127.0.0.2:9090", true, 9090},
		{"http://[::1]:9090/distpac/", true, 9090},
		{"http://LOCALHOST", true, 80},
		{"https://localhost", true, 443},
		{"http://10.0.0.1:9090", false, 0},
		{"http://mirror.example:9090", false, 0},
	}
	for _, tt := range tests {
		u, err := url.Parse(tt.url)
		if err != nil {
			t.Fatal(err)
		}
		_, port, ok := loopbackTarget(u)
		if ok != tt.ok || port != tt.port {
			t.Errorf("loopbackTarget(%s) = %d, %v; want %d, %v", tt.url, port, ok, tt.port, tt.ok)
		}
	}
}

// listenAs listens on 127.0.0.1 with a socket of uid's: the effective
// uid of this thread alone changes while the socket is made (Linux
// credentials are a thread's; the raw call does not spread them to the
// process as syscall.Setresuid does). Root only.
func listenAs(t *testing.T, uid int) net.Listener {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	keep := ^uintptr(0) // -1: unchanged
	if _, _, e := syscall.RawSyscall(syscall.SYS_SETRESUID, keep, uintptr(uid), keep); e != 0 {
		t.Fatalf("setresuid: %v", e)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
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
	mine, theirs := listenAs(t, 0), listenAs(t, 4242)
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
		{"a user trusting another user's server", theirs.Addr().String(), 1000, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := foreignLocalServer(&url.URL{Scheme: "http", Host: tt.addr}, tt.euid, procNetTCP)
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("foreignLocalServer(%s) = %v, want %q", tt.addr, err, tt.want)
			}
		})
	}
	if err := foreignLocalServer(&url.URL{Scheme: "http", Host: theirs.Addr().String()}, 0, []string{"/nonexistent/tcp"}); err != nil {
		t.Errorf("with no table to read: %v, want nothing known and nil", err)
	}
}
