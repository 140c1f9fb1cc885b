package catalogclient

import (
	"fmt"
	"net"
	"slices"

	"github.com/distpac/distpac/internal/procnet"
)

// Trust on first use from a server on this machine. The default
// server_url is http://127.0.0.1:9090, and any local user can bind a port
// above 1023 that nothing holds yet: root's first sync then pinned that
// user's key, and root's installs ran that user's install.sh (an
// attacker's run). On Linux the kernel says who made a listening socket
// (the uid column of /proc/net/tcp and tcp6, procnet), so root refuses to pin the
// key of a server on this machine another user runs, and says how to give the
// key. A user's client trusting another user's server stays allowed: that
// is how a publisher shares packages on one machine, and it gains the
// other user nothing they did not have.
//
// Which server answered is told by the connection the key came over, not
// by the URL's host: http://0.0.0.0:9090, a host name that /etc/hosts
// maps to 127.0.0.1 (Debian's own name is 127.0.1.1) and this machine's
// own LAN address all reach a listener here, and root pinned the key of
// another user's server behind each (TestSyncRefusesAnotherUsersServerByAnyName).

// foreignLocalServer returns why a key fetched on first use from the
// server at addr (the far end of the connection it came over) must not
// be pinned by this process (nil when it may): addr is on this machine,
// the caller is root, and a socket listening on its port that the
// connection could reach belongs to another user, or none listens there
// (the key's fetch sits between two looks: a user who binds the port
// only between them is found at one). When the tables cannot be read
// (not Linux, no /proc), nothing is known and nil is returned: the
// first-use warning stands, as everywhere else.
func foreignLocalServer(addr *net.TCPAddr, euid int, listening func(port int) ([]procnet.Listener, error)) error {
	if euid != 0 || addr == nil {
		return nil
	}
	targets, ok := localTargets(addr.IP)
	if !ok {
		return nil
	}
	ls, err := listening(addr.Port)
	if err != nil {
		return nil // nothing known
	}
	found := false
	for _, l := range ls {
		if !slices.ContainsFunc(targets, l.Reaches) {
			continue
		}
		found = true
		if l.UID != 0 {
			return fmt.Errorf("the server on %s is run by uid %d, not root: any local user can listen on a free port above 1023, and root runs the install scripts of the packages it trusts", addr, l.UID)
		}
	}
	if !found {
		return fmt.Errorf("no server of root's listens on %s while its key is fetched: any local user can listen on a free port above 1023, and root runs the install scripts of the packages it trusts", addr)
	}
	return nil
}

// localTargets returns the addresses a connection to ip reaches on this
// machine; ok is false when ip is another machine's. A connection to the
// unspecified address reaches the loopback one (Linux); this machine's
// own addresses are asked of its interfaces.
func localTargets(ip net.IP) (targets []net.IP, ok bool) {
	switch {
	case ip == nil:
		return nil, false
	case ip.IsUnspecified():
		return []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}, true
	case ip.IsLoopback():
		return []net.IP{ip}, true
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, false
	}
	for _, a := range addrs {
		if n, isNet := a.(*net.IPNet); isNet && n.IP.Equal(ip) {
			return []net.IP{ip}, true
		}
	}
	return nil, false
}
