package catalogclient

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/distpac/distpac/internal/procnet"
)

// Trust on first use from a server on this machine. The default
// server_url is http://127.0.0.1:9090, and any local user can bind a port
// above 1023 that nothing holds yet: root's first sync then pinned that
// user's key, and root's installs ran that user's install.sh (an
// attacker's run). On Linux the kernel says who made a listening socket
// (the uid column of /proc/net/tcp and tcp6, procnet), so root refuses to pin the
// key of a loopback server another user runs, and says how to give the
// key. A user's client trusting another user's server stays allowed: that
// is how a publisher shares packages on one machine, and it gains the
// other user nothing they did not have.

// foreignLocalServer returns why a key fetched from u on first use must
// not be pinned by this process (nil when it may): u is a loopback
// address, the caller is root, and a socket listening on its port that
// the connection could reach belongs to another user, or none listens
// there (the key's fetch sits between two looks: a user who binds the
// port only between them is found at one). When the tables cannot be
// read (not Linux, no /proc), nothing is known and nil is returned: the
// first-use warning stands, as everywhere else.
func foreignLocalServer(u *url.URL, euid int, listening func(port int) ([]procnet.Listener, error)) error {
	if euid != 0 {
		return nil
	}
	targets, port, ok := loopbackTarget(u)
	if !ok {
		return nil
	}
	ls, err := listening(port)
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
			return fmt.Errorf("the server on %s is run by uid %d, not root: any local user can listen on a free port above 1023, and root runs the install scripts of the packages it trusts", u.Host, l.UID)
		}
	}
	if !found {
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
