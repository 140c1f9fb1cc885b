// Package procnet reads the kernel's tables of TCP sockets on Linux
// (/proc/net/tcp and /proc/net/tcp6): the sockets that listen on a port,
// at which address, whose (uid) and which (inode, as /proc/PID/fd names
// it). Two callers ask who holds a port on this machine: a root client
// before it trusts a loopback server's key on first use (catalogclient),
// and a daemon that finds peer_addr taken while an install is at work
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
	var out []Listener
	read := false
	for _, table := range Tables {
		ls, err := listeningIn(table, port)
		if err != nil {
			continue
		}
		read = true
		out = append(out, ls...)
	}
	if !read {
		return nil, ErrUnknown
	}
	return out, nil
}

func listeningIn(table string, port int) ([]Listener, error) {
	f, err := os.Open(table)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Parse(f, port)
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
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, maxLine), maxLine)
	for n := 0; n < maxLines && sc.Scan(); n++ {
		if l, ok := parseLine(sc.Text()); ok && l.Port == port {
			out = append(out, l)
		}
	}
	return out, sc.Err()
}

// parseLine reads a listening socket's line; ok is false for any other.
func parseLine(line string) (Listener, bool) {
	f := strings.Fields(line)
	if len(f) < 10 || f[3] != "0A" {
		return Listener{}, false
	}
	addr, portHex, ok := strings.Cut(f[1], ":")
	if !ok {
		return Listener{}, false
	}
	port, err := strconv.ParseUint(portHex, 16, 16)
	if err != nil {
		return Listener{}, false
	}
	ip, ok := procIP(addr)
	if !ok {
		return Listener{}, false
	}
	uid, err := strconv.Atoi(f[7])
	if err != nil || f[9] == "0" {
		return Listener{}, false
	}
	return Listener{IP: ip, Port: int(port), UID: uid, Inode: f[9]}, true
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
