package catalogclient

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
)

// Trust on first use from a server on this machine. The default
// server_url is http://127.0.0.1:9090, and any local user can bind a port
// above 1023 that nothing holds yet: root's first sync then pinned that
// user's key, and root's installs ran that user's install.sh (an
// attacker's run). On Linux the kernel says who made a listening socket
// (the uid column of /proc/net/tcp and tcp6), so root refuses to pin the
// key of a loopback server another user runs, and says how to give the
// key. A user's client trusting another user's server stays allowed: that
// is how a publisher shares packages on one machine, and it gains the
// other user nothing they did not have.

// procNetTCP are the kernel's tables of TCP sockets, IPv4 and IPv6.
var procNetTCP = []string{"/proc/net/tcp", "/proc/net/tcp6"}

// maxProcNetTCP bounds one table's read: 150 bytes a socket, some
// hundred thousand sockets.
const maxProcNetTCP = 32 << 20

// foreignLocalServer returns why a key fetched from u on first use must
// not be pinned by this process (nil when it may): u is a loopback
// address, the caller is root, and a socket listening on its port that
// the connection could reach belongs to another user, or none listens
// there (the key's fetch sits between two looks: a user who binds the
// port only between them is found at one). When the tables cannot be
// read (not Linux, no /proc), nothing is known and nil is returned: the
// first-use warning stands, as everywhere else.
func foreignLocalServer(u *url.URL, euid int, tables []string) error {
	if euid != 0 {
		return nil
	}
	targets, port, ok := loopbackTarget(u)
	if !ok {
		return nil
	}
	read, found := false, false
	for _, table := range tables {
		uids, err := listenerUIDs(table, targets, port)
		if err != nil {
			continue // the other table, or nothing known
		}
		read = true
		for _, uid := range uids {
			found = true
			if uid != 0 {
				return fmt.Errorf("the server on %s is run by uid %d, not root: any local user can listen on a free port above 1023, and root runs the install scripts of the packages it trusts", u.Host, uid)
			}
		}
	}
	if read && !found {
		return fmt.Errorf("no server of root's listens on %s while its key is fetched: any local user can listen on a free port above 1023, and root runs the install scripts of the packages it trusts", u.Host)
	}
	return nil
}

// loopbackTarget returns the addresses a connection to u's host can
// reach and its port; ok is false when u is not on this machine's
// loopback.
func loopbackTarget(u *url.URL) (targets []net.IP, port int, ok bool) {
	host, portText := u.Hostname(), u.Port()
	if portText == "" {
		portText = "80"
		if u.Scheme == "https" {
			portText = "443"
		}
	}
	p, err := strconv.Atoi(portText)
	if err != nil || p <= 0 || p > 65535 {
		return nil, 0, false
	}
	if strings.EqualFold(host, "localhost") {
		return []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}, p, true
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return nil, 0, false
	}
	return []net.IP{ip}, p, true
}

// listenerUIDs reads one /proc/net/tcp table and returns the uids of the
// listening sockets on port that a connection to one of targets reaches:
// those bound to that address or to the unspecified one (a v6 wildcard
// socket takes v4 connections too unless it is v6-only, which the table
// does not say: counted).
func listenerUIDs(table string, targets []net.IP, port int) ([]int, error) {
	f, err := os.Open(table)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseListeners(io.LimitReader(f, maxProcNetTCP), targets, port)
}

// parseListeners is listenerUIDs' reading of a table's text:
//
//	sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
//	0: 0100007F:2382 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4417 ...
//
// The address is the kernel's bytes in hex, each 32-bit word in host
// order (little-endian here); the port is big hex; state 0A is LISTEN.
func parseListeners(r io.Reader, targets []net.IP, port int) ([]int, error) {
	var uids []int
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 4096)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 8 || f[3] != "0A" {
			continue // the header, or not listening
		}
		addrText, portHex, ok := strings.Cut(f[1], ":")
		if !ok {
			continue
		}
		p, err := strconv.ParseUint(portHex, 16, 16)
		if err != nil || int(p) != port {
			continue
		}
		ip, ok := procIP(addrText)
		if !ok {
			continue
		}
		uid, err := strconv.Atoi(f[7])
		if err != nil {
			continue
		}
		for _, t := range targets {
			if ip.Equal(t) || ip.IsUnspecified() && (ip.To4() == nil || t.To4() != nil) {
				uids = append(uids, uid)
				break
			}
		}
	}
	return uids, sc.Err()
}

// procIP decodes an address of /proc/net/tcp(6): 8 or 32 hex digits,
// each 4-byte word in the host's byte order.
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
