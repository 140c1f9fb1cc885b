// Package procnet reads the kernel's tables of TCP sockets on Linux
// (/proc/net/tcp and /proc/net/tcp6): the sockets that listen on a port,
// at which address, whose (uid) and which (inode, as /proc/PID/fd names
// it), and whose the server's end of a connection on this machine is.
// Two callers ask who holds a port on this machine: a root client before
// it trusts a local server's key on first use (catalogclient), and a
// daemon that finds peer_addr taken while an install is at work
// (daemon). Elsewhere the tables do not exist and ErrUnknown says that
// nothing can be told.
package procnet

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
)

// Listener is a socket listening on a port.
type Listener struct {
	IP    net.IP // the address it is bound to; unspecified for every one
	Port  int
	UID   int    // whose socket it is (who made it)
	Inode string // "socket:[Inode]" in its holders' /proc/PID/fd
}

// Reaches reports whether a connection to ip reaches l: l is bound to ip
// or to the unspecified address (a v6 wildcard socket takes v4
// connections too unless it is v6-only, which the table does not say:
// counted).
func (l Listener) Reaches(ip net.IP) bool {
	return l.IP.Equal(ip) || l.IP.IsUnspecified() && (l.IP.To4() == nil || ip.To4() != nil)
}

// ErrUnknown is Listening's error when neither table can be read (not
// Linux, no /proc): nothing can be told.
var ErrUnknown = errors.New("the kernel's socket tables (/proc/net/tcp) cannot be read")

// Tables are the kernel's tables of TCP sockets, IPv4 and IPv6; a
// variable for tests.
var Tables = []string{"/proc/net/tcp", "/proc/net/tcp6"}

// maxLines bounds the lines read of one table: a host with more sockets
// than that is past what these looks read through (what is past the
// bound is not seen).
const maxLines = 1 << 17

// maxLine bounds one line: a tcp6 line is about 170 bytes.
const maxLine = 1 << 10

// Listening returns the sockets listening on port, from every table that
// can be read (tcp6 is absent without IPv6); ErrUnknown when none can.
func Listening(port int) ([]Listener, error) {
	return fromTables(func(r io.Reader) ([]Listener, error) { return Parse(r, port) })
}

// Conn is a socket of an established TCP connection.
type Conn struct {
	Local, Remote *net.TCPAddr
	// UID is whose socket it is: a connection's socket on the server's
	// side is the listener's maker's until it is accepted, and then the
	// accepting process's (Linux's sock_graft), so the uid of a server
	// the connection reached, whatever listens on the port since.
	UID int
}

// Connected returns the sockets of established connections whose local
// port is port, from every table that can be read; ErrUnknown when none
// can.
func Connected(port int) ([]Conn, error) {
	return fromTables(func(r io.Reader) ([]Conn, error) { return ParseConnected(r, port) })
}

// fromTables is what parse reads of every table that can be read;
// ErrUnknown when none can.
func fromTables[T any](parse func(io.Reader) ([]T, error)) ([]T, error) {
	var out []T
	read := false
	for _, table := range Tables {
		ts, err := parseFile(table, parse)
		if err != nil {
			continue
		}
		read = true
		out = append(out, ts...)
	}
	if !read {
		return nil, ErrUnknown
	}
	return out, nil
}

func parseFile[T any](table string, parse func(io.Reader) ([]T, error)) ([]T, error) {
	f, err := os.Open(table)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parse(f)
}

// Parse reads a table in the format of /proc/net/tcp and returns its
// sockets listening on port:
//
//	sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
//	0: 0100007F:2382 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4417 ...
//
// The address is the kernel's bytes in hex, each 32-bit word in the
// host's byte order; the port is hex; state 0A is LISTEN. Lines that do
// not read so (the header) are passed over.
func Parse(r io.Reader, port int) ([]Listener, error) {
	var out []Listener
	err := scan(r, func(e entry) {
		if e.state == stateListen && e.inode != "0" && e.local.Port == port {
			out = append(out, Listener{IP: e.local.IP, Port: port, UID: e.uid, Inode: e.inode})
		}
	})
	return out, err
}

// ParseConnected reads a table as Parse does and returns its sockets of
// established connections (state 01) whose local port is port.
func ParseConnected(r io.Reader, port int) ([]Conn, error) {
	var out []Conn
	err := scan(r, func(e entry) {
		if e.state == stateEstablished && e.local.Port == port {
			out = append(out, Conn{Local: e.local, Remote: e.remote, UID: e.uid})
		}
	})
	return out, err
}

// The states of the tables that are read (the kernel's TCP_LISTEN and
// TCP_ESTABLISHED, in hex).
const (
	stateEstablished = "01"
	stateListen      = "0A"
)

// entry is a line of a table.
type entry struct {
	local, remote *net.TCPAddr
	state         string
	uid           int
	inode         string
}

// scan calls each with every line of r that reads as a socket's, at most
// maxLines of at most maxLine bytes.
func scan(r io.Reader, each func(entry)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, maxLine), maxLine)
	for n := 0; n < maxLines && sc.Scan(); n++ {
		if e, ok := parseLine(sc.Text()); ok {
			each(e)
		}
	}
	return sc.Err()
}

// parseLine reads a socket's line; ok is false for any other (the header).
func parseLine(line string) (entry, bool) {
	f := strings.Fields(line)
	if len(f) < 10 {
		return entry{}, false
	}
	local, ok := procAddr(f[1])
	if !ok {
		return entry{}, false
	}
	remote, ok := procAddr(f[2])
	if !ok {
		return entry{}, false
	}
	uid, err := strconv.Atoi(f[7])
	if err != nil {
		return entry{}, false
	}
	return entry{local: local, remote: remote, state: f[3], uid: uid, inode: f[9]}, true
}

// procAddr decodes an address and port of the tables: ADDR:PORT, both hex.
func procAddr(s string) (*net.TCPAddr, bool) {
	addr, portHex, ok := strings.Cut(s, ":")
	if !ok {
		return nil, false
	}
	port, err := strconv.ParseUint(portHex, 16, 16)
	if err != nil {
		return nil, false
	}
	ip, ok := procIP(addr)
	if !ok {
		return nil, false
	}
	return &net.TCPAddr{IP: ip, Port: int(port)}, true
}

// procIP decodes an address of the tables: 8 or 32 hex digits, each
// 4-byte word in the host's byte order.
func procIP(s string) (net.IP, bool) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != net.IPv4len && len(b) != net.IPv6len {
		return nil, false
	}
	for i := 0; i+4 <= len(b); i += 4 {
		binary.BigEndian.PutUint32(b[i:], binary.NativeEndian.Uint32(b[i:]))
	}
	if len(b) == net.IPv4len {
		return net.IPv4(b[0], b[1], b[2], b[3]), true
	}
	return net.IP(b), true
}
