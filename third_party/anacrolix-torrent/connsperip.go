package torrent

import "net/netip"

// distpac patch 41: connections with one address are limited (ClientConfig.MaxEstablishedConnsPerIP).
//
// A torrent kept up to its maxEstablishedConns connections whoever they came from, and let a
// connection go only once it was a minute old and in the worse half: one host that kept 50
// connections open at a seeder (6 at a capped publisher, 8 at a client), each replaced before it
// was a minute old, took every slot, and a new client got nothing over BitTorrent (an attacker's
// run against distpac). Most BitTorrent clients limit a host to one connection a torrent
// (libtorrent's allow_multiple_connections_per_ip is off by default).

// ipLimitKey is the address a connection counts against: its IP, an IPv6 address's /64 (one
// host's share of a network), IPv4 unmapped. ok is false for an address not limited: loopback
// (the host itself: tests and benchmarks run many peers on 127.0.0.1) or one not known.
func ipLimitKey(a PeerRemoteAddr) (key netip.Prefix, ok bool) {
	if a == nil {
		return netip.Prefix{}, false
	}
	var ap netip.AddrPort
	if t, isAP := a.(interface{ AddrPort() netip.AddrPort }); isAP {
		ap = t.AddrPort()
	} else {
		var err error
		if ap, err = netip.ParseAddrPort(a.String()); err != nil {
			return netip.Prefix{}, false
		}
	}
	ip := ap.Addr().Unmap()
	if !ip.IsValid() || ip.IsLoopback() {
		return netip.Prefix{}, false
	}
	bits := 32
	if ip.Is6() {
		bits = 64
	}
	p, err := ip.Prefix(bits)
	return p, err == nil
}

// connsFromIP counts the torrent's connections with the address of a.
func (t *Torrent) connsFromIP(a PeerRemoteAddr) int {
	key, ok := ipLimitKey(a)
	if !ok {
		return 0
	}
	n := 0
	for c := range t.conns {
		if k, ok := ipLimitKey(c.RemoteAddr); ok && k == key {
			n++
		}
	}
	return n
}
