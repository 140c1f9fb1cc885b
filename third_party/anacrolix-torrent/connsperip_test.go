package torrent

import (
	"net"
	"testing"
)

// TestConnsPerIP: with MaxEstablishedConnsPerIP, a torrent takes that many connections with one
// address (an IPv6 /64 counting as one), any number from loopback, and others from other
// addresses (patch 41). Without it, one host filled every slot.
func TestConnsPerIP(t *testing.T) {
	for _, tc := range []struct {
		name  string
		limit int
		addrs []string
		added []bool
	}{
		{"one host", 2, []string{"192.0.2.7:1", "192.0.2.7:2", "192.0.2.7:3", "192.0.2.8:1"}, []bool{true, true, false, true}},
		{"one IPv6 /64", 1, []string{"[2001:db8::1]:1", "[2001:db8::2]:1", "[2001:db8:0:1::1]:1"}, []bool{true, false, true}},
		{"mapped IPv4 is IPv4", 1, []string{"192.0.2.7:1", "[::ffff:192.0.2.7]:2"}, []bool{true, false}},
		{"loopback", 1, []string{"127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3", "[::1]:4"}, []bool{true, true, true, true}},
		{"no limit", 0, []string{"192.0.2.7:1", "192.0.2.7:2", "192.0.2.7:3"}, []bool{true, true, true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl, tor := testTorrent(t, 3, patternStorage{})
			defer cl.Close()
			cl.lock()
			defer cl.unlock()
			cl.config.MaxEstablishedConnsPerIP = tc.limit
			tor.maxEstablishedConns = 8
			for i, a := range tc.addrs {
				tcp, err := net.ResolveTCPAddr("tcp", a)
				if err != nil {
					t.Fatal(err)
				}
				c := cl.newConnection(nil, newConnectionOpts{network: "tcp", remoteAddr: tcp})
				c.PeerID[0] = byte(i + 1)
				c.setTorrent(tor)
				if err := tor.addPeerConn(c); (err == nil) != tc.added[i] {
					t.Fatalf("connection %d with %s: added %v (%v), want %v", i+1, a, err == nil, err, tc.added[i])
				}
			}
		})
	}
}
