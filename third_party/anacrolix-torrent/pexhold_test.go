package torrent

import (
	"net/netip"
	"testing"
)

// TestPexDropNotHeld (patch 53): a peer that left is not in the initial PEX message a new
// connection gets, however few connections remain. Upstream held the drop back below 25 live
// connections, so the message listed the last 25 peers that had left.
func TestPexDropNotHeld(t *testing.T) {
	var s pexState
	conn := func(port uint16) *PeerConn {
		c := &PeerConn{}
		c.outgoing = true
		c.RemoteAddr = netip.AddrPortFrom(netip.MustParseAddr("192.0.2.1"), port)
		return c
	}
	stay := conn(1000)
	s.Add(stay)
	for port := uint16(2000); port < 2010; port++ {
		left := conn(port)
		s.Add(left)
		s.Drop(left)
	}
	msg, _ := s.Genmsg(nil)
	if len(msg.Added) != 1 || msg.Added[0].Port != 1000 {
		t.Errorf("initial PEX message lists %v, want only the peer still connected (port 1000)", msg.Added)
	}
}
