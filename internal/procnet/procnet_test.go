package procnet

import (
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestParse: the listeners of a port, and which a connection to an
// address reaches.
func TestParse(t *testing.T) {
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
			ls, err := Parse(strings.NewReader(tt.table), tt.port)
			var got []int
			for _, l := range ls {
				if slices.ContainsFunc(tt.targets, l.Reaches) {
					got = append(got, l.UID)
				}
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Errorf("Parse = %v, %v; the uids reached %v, want %v", ls, err, got, tt.want)
			}
		})
	}
}

// TestListeningThisProcess: a listener of this process is in the
// kernel's tables with this process's uid, and /proc/self/fd names its
// inode.
func TestListeningThisProcess(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	ls, err := Listening(port)
	if err != nil {
		t.Skip(err)
	}
	if len(ls) != 1 || !ls[0].Reaches(net.IPv4(127, 0, 0, 1)) || ls[0].UID != os.Geteuid() || ls[0].Port != port {
		t.Fatalf("Listening(%d) = %+v, want this process's listener on 127.0.0.1", port, ls)
	}
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if link, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(int(f.Fd()))); err != nil || link != "socket:["+ls[0].Inode+"]" {
		t.Errorf("the descriptor reads %q (%v), want socket:[%s]", link, err, ls[0].Inode)
	}
}

// TestParseConnected: the sockets of established connections on a port,
// with their far end and uid; a listener, or a connection in another
// state (06, TIME_WAIT, whose uid reads 0 whoever it was), is not one.
func TestParseConnected(t *testing.T) {
	const table = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:2384 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4417 1 0 100 0 0 10 0
   1: 0100007F:2384 0100007F:9C40 01 00000000:00000000 00:00000000 00000000  1001        0 4419 1 0 20 4 30 10 -1
   2: 0100007F:2384 0100007F:9C41 06 00000000:00000000 03:00000917 00000000     0        0 0 3 0
   3: 0100007F:9C40 0100007F:2384 01 00000000:00000000 00:00000000 00000000     0        0 4420 1 0 20 4 30 10 -1
   4: 00000000000000000000000001000000:2384 00000000000000000000000001000000:9C42 01 00000000:00000000 00:00000000 00000000  4243        0 5417 1 0 20 4 30 10 -1
`
	cs, err := ParseConnected(strings.NewReader(table), 0x2384)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range cs {
		got = append(got, c.Local.String()+" "+c.Remote.String()+" "+strconv.Itoa(c.UID))
	}
	want := []string{"127.0.0.1:9092 127.0.0.1:40000 1001", "[::1]:9092 [::1]:40002 4243"}
	if !slices.Equal(got, want) {
		t.Errorf("ParseConnected = %q, want %q", got, want)
	}
}

// TestConnectedThisProcess: both ends of a connection of this process
// are in the kernel's tables, the server's with its far end, the client.
func TestConnectedThisProcess(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	cs, err := Connected(port)
	if err != nil {
		t.Skip(err)
	}
	if len(cs) != 1 || cs[0].Remote.String() != c.LocalAddr().String() || cs[0].UID != os.Geteuid() {
		t.Fatalf("Connected(%d) = %+v, want the server's end of the connection from %v", port, cs, c.LocalAddr())
	}
}

// FuzzParse: any table text reads without a panic, and what it returns
// listens on the port asked for.
func FuzzParse(f *testing.F) {
	f.Add("   0: 0100007F:2382 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4417 1 0 100 0 0 10 0\n", 0x2382)
	f.Add("   0: 00000000000000000000000001000000:2382 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  4243        0 5417 1\n", 0x2382)
	f.Add("0: :2382 x 0A a b c -1 d 7\n0: 0100007F: 0 0A\n", 9090)
	f.Fuzz(func(t *testing.T, table string, port int) {
		ls, _ := Parse(strings.NewReader(table), port)
		for _, l := range ls {
			if l.Port != port || l.IP == nil {
				t.Fatalf("Parse(%q, %d) returned %+v", table, port, l)
			}
		}
		cs, _ := ParseConnected(strings.NewReader(table), port)
		for _, c := range cs {
			if c.Local.Port != port || c.Local.IP == nil || c.Remote == nil {
				t.Fatalf("ParseConnected(%q, %d) returned %+v", table, port, c)
			}
		}
	})
}
