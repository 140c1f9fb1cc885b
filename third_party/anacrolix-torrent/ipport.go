package torrent

import (
	"net"
	"net/netip"
	"strconv"
)

// Extracts the port as an integer from an address string.
func addrPortOrZero(addr net.Addr) int {
	switch raw := addr.(type) {
	case *net.UDPAddr:
		return raw.Port
	case *net.TCPAddr:
		return raw.Port
	default:
		// Consider a unix socket on Windows with a name like "C:notanint".
		_, port, err := net.SplitHostPort(addr.String())
		if err != nil {
			return 0
		}
		i64, err := strconv.ParseUint(port, 0, 16)
		if err != nil {
			return 0
		}
		return int(i64)
	}
}

func addrIpOrNil(addr net.Addr) net.IP {
	if addr == nil {
		return nil
	}
	switch raw := addr.(type) {
	case *net.UDPAddr:
		return raw.IP
	case *net.TCPAddr:
		return raw.IP
	default:
		host, _, err := net.SplitHostPort(addr.String())
		if err != nil {
			return nil
		}
		return net.ParseIP(host)
	}
}

type ipPortAddr struct {
	IP   net.IP
	Port int
}

func (ipPortAddr) Network() string {
	return ""
}

func (me ipPortAddr) String() string {
	return net.JoinHostPort(me.IP.String(), strconv.FormatInt(int64(me.Port), 10))
}

// AddrPort is the address as a netip.AddrPort, the zero value where String would not parse as one
// (distpac patch: distpac reads a peer's address for every chunk it receives, and formatting it
// to parse it back cost more than the rest of that callback).
func (me ipPortAddr) AddrPort() netip.AddrPort {
	a, ok := netip.AddrFromSlice(me.IP)
	if !ok || me.Port < 0 || me.Port > 65535 {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(a, uint16(me.Port))
}

func tryIpPortFromNetAddr(addr PeerRemoteAddr) (ipPortAddr, bool) {
	ok := true
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		ok = false
	}
	portI64, err := strconv.ParseInt(port, 10, 0)
	if err != nil {
		ok = false
	}
	return ipPortAddr{net.ParseIP(host), int(portI64)}, ok
}
