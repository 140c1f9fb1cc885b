package torrent

import (
	"net"
	"testing"
)

// TestBanSparesTrustedPeer: a ban of an address (a peer there sent a bad piece) drops and
// refuses the untrusted peers at it, and neither drops nor refuses a trusted one there (patch
// 55). Before, a hostile peer on the publisher's address took the publisher's seeder down with
// it, for the life of the client: dropped at once, and refused when distpac added it again.
func TestBanSparesTrustedPeer(t *testing.T) {
	cl, tor := testTorrent(t, 3, patternStorage{})
	defer cl.Close()
	cl.lock()
	defer cl.unlock()
	conn := func(i int, addr string, trusted bool) *PeerConn {
		tcp, err := net.ResolveTCPAddr("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		a, b := net.Pipe()
		t.Cleanup(func() { a.Close(); b.Close() })
		c := cl.newConnection(a, newConnectionOpts{network: "tcp", remoteAddr: tcp})
		c.PeerID[0] = byte(i)
		c.trusted = trusted
		c.setTorrent(tor)
		if err := tor.addPeerConn(c); err != nil {
			t.Fatalf("connection %d with %s: %v", i, addr, err)
		}
		return c
	}
	publisher := conn(1, "192.0.2.7:6881", true)
	liar := conn(2, "192.0.2.7:7000", false)
	other := conn(3, "192.0.2.8:7000", false)
	liar.providedBadData()
	for _, tc := range []struct {
		name string
		c    *PeerConn
		kept bool
	}{{"the trusted peer", publisher, true}, {"the liar", liar, false}, {"a peer at another address", other, true}} {
		if _, ok := tor.conns[tc.c]; ok != tc.kept {
			t.Errorf("%s: connected %v after the ban, want %v", tc.name, ok, tc.kept)
		}
	}
	tor.dropBannedPeers() // as a smart ban does after it bans
	if _, ok := tor.conns[publisher]; !ok {
		t.Error("the trusted peer was dropped by dropBannedPeers")
	}
	for _, tc := range []struct {
		name    string
		pi      PeerInfo
		refused bool
	}{
		{"trusted", PeerInfo{Addr: &net.TCPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 6882}, Trusted: true}, false},
		{"untrusted", PeerInfo{Addr: &net.TCPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 7001}}, true},
	} {
		if refused := !tor.addPeer(tc.pi); refused != tc.refused {
			t.Errorf("%s peer at the banned address: refused %v, want %v", tc.name, refused, tc.refused)
		}
	}
}
