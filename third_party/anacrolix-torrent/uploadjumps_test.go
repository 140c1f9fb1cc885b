package torrent

import (
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/time/rate"

	pp "github.com/anacrolix/torrent/peer_protocol"
)

// TestReconnectingKeepsItsJumps (patch 46): a peer that asks for fresh pieces and closes its
// connection every 50 ms to start a new jump budget gets no more of a capped uplink than one that
// stays (TestFreshPiecesCannotTakeTheLink): its connections count in its address's budget. 61 %
// among eight peers before, where 12.5 % is fair.
func TestReconnectingKeepsItsJumps(t *testing.T) {
	for _, tc := range []struct {
		name  string
		every int                        // ms between reconnections
		addr  func(i int) PeerRemoteAddr // of the attacker's i-th connection
	}{
		{"one IPv4 address, a new port each time", 50, func(i int) PeerRemoteAddr {
			return &net.TCPAddr{IP: net.ParseIP("192.0.2.7"), Port: 40000 + i}
		}},
		{"a new IPv6 /64 of one /48 each time", 50, func(i int) PeerRemoteAddr {
			return &net.TCPAddr{IP: net.ParseIP(fmt.Sprintf("2001:db8:1:%x::1", i+1)), Port: 6881}
		}},
		{"an IPv4-mapped IPv6 address, then the IPv4 one", 50, func(i int) PeerRemoteAddr {
			a := netip.MustParseAddr("192.0.2.7")
			if i%2 == 1 {
				a = netip.AddrFrom16(a.As16()) // ::ffff:192.0.2.7
			}
			return netip.AddrPortFrom(a, uint16(40000+i))
		}},
		// Each reconnection took up the address's budget and left it with its own added: the
		// count doubled, and after 63 reconnections in a window it wrapped to below zero (a
		// review: 38 % of the uplink).
		{"every millisecond", 1, func(i int) PeerRemoteAddr {
			return &net.TCPAddr{IP: net.ParseIP("192.0.2.7"), Port: 1024 + i%60000}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl, common, _, _, _, t0 := uploadOrderTorrent(t)
			tor := common.t
			connect := func(i int) *PeerConn {
				c := cl.newConnection(nil, newConnectionOpts{network: "tcp", remoteAddr: tc.addr(i)})
				c.setTorrent(tor)
				return c
			}
			attacker, conns := connect(0), []*PeerConn{common}
			for range 6 {
				p := cl.newConnection(nil, newConnectionOpts{network: "test"})
				p.setTorrent(tor)
				conns = append(conns, p)
			}
			lim := rate.NewLimiter(2<<20, 256<<10)
			lim.ReserveN(t0, 256<<10)
			cl.config.UploadRateLimiter = lim
			tor.pieces[0].relativeAvailability = 3
			const chunk = 64 << 10
			sent, honest, reconnects := 0, make(map[*PeerConn]int), 0
			for ms := range 10_000 {
				now := t0.Add(time.Duration(ms) * time.Millisecond)
				if ms > 0 && ms%tc.every == 0 {
					attacker.close()
					reconnects++
					attacker = connect(reconnects)
				}
				tor.pieces[1].completedAt = now // the attacker's piece is always one just completed
				if attacker.uploadTurn(Request{Index: 1, ChunkSpec: ChunkSpec{Length: chunk}}, chunk, now) {
					lim.ReserveN(now, chunk)
					sent += chunk
				}
				for _, c := range conns {
					if c.uploadTurn(Request{Index: pp.Integer(0), ChunkSpec: ChunkSpec{Length: chunk}}, chunk, now) {
						lim.ReserveN(now, chunk)
						honest[c] += chunk
					}
				}
			}
			total := sent
			for _, n := range honest {
				total += n
			}
			share := float64(sent) / float64(total)
			t.Logf("attacker %.0f KiB/s (%.0f %%) over %d connections, each other peer %.0f-%.0f KiB/s",
				float64(sent)/10/1024, 100*share, reconnects+1, float64(minSent(honest, conns))/10/1024, float64(maxSent(honest, conns))/10/1024)
			if share > 0.3 {
				t.Errorf("the peer reconnecting every %d ms took %.0f %% of the uplink, want at most 30 %%", tc.every, 100*share)
			}
			if n := len(cl.uploadJumps); n != 1 {
				t.Errorf("the client keeps %d addresses' budgets, want 1", n)
			}
		})
	}
}

// TestJumpsAddr (patch 46): the address a budget is kept under.
func TestJumpsAddr(t *testing.T) {
	for _, tc := range []struct {
		addr, want string // want "" for none
	}{
		{"192.0.2.7", "192.0.2.7"},
		{"::ffff:192.0.2.7", "192.0.2.7"},
		{"2001:db8:1:2:3::5", "2001:db8:1::"},
		{"2001:db8:1:ff00::1", "2001:db8:1::"},
		{"127.0.0.1", ""},
		{"127.0.1.9", ""},
		{"::1", ""},
		{"::ffff:127.0.0.1", ""},
	} {
		got, ok := jumpsAddr(netip.MustParseAddr(tc.addr))
		if tc.want == "" {
			if ok {
				t.Errorf("%s: kept under %s, want not kept (this host)", tc.addr, got)
			}
			continue
		}
		if !ok || got != netip.MustParseAddr(tc.want) {
			t.Errorf("%s: kept under %v (%v), want %s", tc.addr, got, ok, tc.want)
		}
	}
}

// TestConnectionsOfAnAddressShareTheBudget (patch 46): a second connection from an address (to
// another torrent of the client, or the second one patch 41 allows) does not go before an older
// waiter by rarity when the first just did; a connection from another address, or from this host,
// has a budget of its own.
func TestConnectionsOfAnAddressShareTheBudget(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	for _, tc := range []struct {
		name   string
		second string // the second connection's address
		want   bool   // whether it goes before common
	}{
		{"the same address", "192.0.2.7:40002", false},
		{"another address", "198.51.100.9:40002", true},
		{"this host", "127.0.0.1:40002", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl, common, _, rc, rr, t0 := uploadOrderTorrent(t)
			tor := common.t
			tor.pieces[1].relativeAvailability = 2 // rarer than piece 0, not fresh
			tor.pieces[0].relativeAvailability = 3
			connect := func(addr string) *PeerConn {
				c := cl.newConnection(nil, newConnectionOpts{network: "tcp", remoteAddr: netip.MustParseAddrPort(addr)})
				c.setTorrent(tor)
				return c
			}
			first := connect("192.0.2.7:40001")
			common.uploadTurn(rc, 16<<10, t0)
			first.uploadTurn(rr, 16<<10, t0.Add(ms(1)))
			if !first.uploadTurn(rr, 16<<10, t0.Add(ms(300))) {
				t.Fatal("the first connection did not go before common by rarity")
			}
			second := connect(tc.second)
			if got := second.uploadTurn(rr, 16<<10, t0.Add(ms(300))); got != tc.want {
				t.Errorf("the second connection went before common: %v, want %v", got, tc.want)
			}
		})
	}
}

// TestUploadJumpsKept (patch 46): the budgets a client keeps are bounded. While it keeps
// uploadJumpsKept that still hold something back, a new address may not jump; one that holds
// nothing back makes room.
func TestUploadJumpsKept(t *testing.T) {
	cl, tor, _ := chunksTorrent(t)
	cl.lock()
	defer cl.unlock()
	now := time.Now()
	connect := func(i int) *PeerConn {
		c := cl.newConnection(nil, newConnectionOpts{network: "tcp", remoteAddr: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), 1)})
		c.setTorrent(tor)
		return c
	}
	for i := range uploadJumpsKept {
		j, may := connect(i).uploadJumpsOf(now)
		if !may {
			t.Fatalf("address %d of %d may not jump", i, uploadJumpsKept)
		}
		j.jumped = now
	}
	if _, may := connect(uploadJumpsKept).uploadJumpsOf(now); may {
		t.Fatalf("a new address may jump while %d budgets hold (%d kept)", uploadJumpsKept, len(cl.uploadJumps))
	}
	cl.uploadJumps[netip.MustParseAddr("10.1.0.5")].jumped = now.Add(-time.Hour)
	if _, may := connect(uploadJumpsKept).uploadJumpsOf(now); !may {
		t.Fatal("a new address may not jump after a budget stopped holding")
	}
	if _, ok := cl.uploadJumps[netip.MustParseAddr("10.1.0.5")]; ok || len(cl.uploadJumps) > uploadJumpsKept {
		t.Errorf("%d budgets kept, the spent one among them: %v", len(cl.uploadJumps), ok)
	}
}
