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

// tables are the kernel's socket tables as read: procnet's (kernelTables),
// or a test's.
type tables struct {
	listening func(port int) ([]procnet.Listener, error)
	connected func(port int) ([]procnet.Conn, error)
}

var kernelTables = tables{listening: procnet.Listening, connected: procnet.Connected}

// foreignLocalServer returns why a key fetched on first use over the
// connection from near to far (the server) must not be pinned by this
// process (nil when it may): far is on this machine, the caller is root,
// and either the socket at far's end of that connection is another
// user's, or a socket listening on far's port that the connection could
// reach is, or none listens there (the key's fetch sits between two
// looks: a user who binds the port only between them is found at one).
// The connection's own socket tells who accepted it, whatever listens on
// the port since: a connection kept alive from the catalog's fetch
// reached the server of that moment, and another user's server, serving
// the catalog slowly, could close its listener while root's server (a
// unit with Restart=on-failure tries again every few seconds while the
// port is taken) took the port before the key's fetch. When the tables cannot be read (not
// Linux, no /proc), nothing is known and nil is returned: the first-use
// warning stands, as everywhere else.
func foreignLocalServer(far, near *net.TCPAddr, euid int, t tables) error {
	if euid != 0 || far == nil {
		return nil
	}
	targets, ok := localTargets(far.IP)
	if !ok {
		return nil
	}
	const why = "any local user can listen on a free port above 1023, and root runs the install scripts of the packages it trusts"
	if cs, err := t.connected(far.Port); err == nil && near != nil {
		for _, c := range cs {
			if c.UID != 0 && c.Remote.Port == near.Port && c.Remote.IP.Equal(near.IP) {
				return fmt.Errorf("the server on %s that answered is run by uid %d, not root: %s", far, c.UID, why)
			}
		}
	}
	ls, err := t.listening(far.Port)
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
			return fmt.Errorf("the server on %s is run by uid %d, not root: %s", far, l.UID, why)
		}
	}
	if !found {
		return fmt.Errorf("no server of root's listens on %s while its key is fetched: %s", far, why)
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
