package torrent

import (
	"context"
	"fmt"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
	pp "github.com/anacrolix/torrent/peer_protocol"
)

// TestBanExpires: a ban of an address lasts peerBanDuration from the latest ban (patch 57). While
// it lasts the address is refused (added peers, incoming connections, connections kept by
// dropBannedPeers) and listed; once it ends it is none of these, and a peer there that sends bad
// data again is banned again for as long. Before, a ban lasted for the life of the client: a
// daemon refused a host that once sent a bad piece for weeks.
func TestBanExpires(t *testing.T) {
	cl, tor := testTorrent(t, 3, patternStorage{})
	defer cl.Close()
	cl.lock()
	defer cl.unlock()
	start := time.Unix(1_000_000_000, 0)
	now := start
	cl.banNow = func() time.Time { return now }
	ip := net.IPv4(192, 0, 2, 7).To4()
	port := 7000
	conn := func() *PeerConn {
		port++
		a, b := net.Pipe()
		t.Cleanup(func() { a.Close(); b.Close() })
		c := cl.newConnection(a, newConnectionOpts{network: "tcp", remoteAddr: &net.TCPAddr{IP: ip, Port: port}})
		c.PeerID[0] = byte(port)
		c.setTorrent(tor)
		if err := tor.addPeerConn(c); err != nil {
			t.Fatalf("connection from %s:%d at %v: %v", ip, port, now.Sub(start), err)
		}
		return c
	}
	offend := func() {
		c := conn()
		c.providedBadData()
		if _, ok := tor.conns[c]; ok {
			t.Errorf("at %v: the peer that sent bad data is still connected", now.Sub(start))
		}
	}
	for _, step := range []struct {
		at     time.Duration
		offend bool // a peer at the address sends bad data again
		banned bool
	}{
		{0, true, true},
		{peerBanDuration - time.Second, false, true},
		{peerBanDuration, false, false},
		{peerBanDuration + 10*time.Minute, true, true}, // a repeated offender
		{2*peerBanDuration + 10*time.Minute - time.Second, false, true},
		{2*peerBanDuration + 10*time.Minute, false, false},
	} {
		now = start.Add(step.at)
		if step.offend {
			offend()
		}
		port++
		pi := PeerInfo{Addr: &net.TCPAddr{IP: ip, Port: port}}
		if added := tor.addPeer(pi); added == step.banned {
			t.Errorf("at %v: peer at the address added %v, want %v", step.at, added, !step.banned)
		}
		// rejectAccepted's check, with the address as an accepted IPv4 connection has it (4
		// bytes) and as parsed (16).
		for _, form := range []net.IP{ip, ip.To16()} {
			if refused := cl.badPeerIPPort(form, port+1); refused != step.banned {
				t.Errorf("at %v: incoming connection from %d-byte %s refused %v, want %v", step.at, len(form), form, refused, step.banned)
			}
		}
		if listed := slices.Contains(cl.badPeerIPsLocked(), ip.String()); listed != step.banned {
			t.Errorf("at %v: address listed as banned %v (%v), want %v", step.at, listed, cl.badPeerIPsLocked(), step.banned)
		}
		if !step.banned {
			c := conn()
			tor.dropBannedPeers()
			if _, ok := tor.conns[c]; !ok {
				t.Errorf("at %v: a connection from the address was dropped after its ban ended", step.at)
			}
		}
	}
	// A ban that ended is forgotten at the next ban: the map holds only the bans that last.
	cl.banPeerIP(net.IPv4(192, 0, 2, 8).To4())
	if n := len(cl.badPeerIPs); n != 1 {
		t.Errorf("%d addresses remembered after a ban, %v ago, of another one that ended; want 1", n, now.Sub(start))
	}
}

// TestBanRefusesIncoming: a peer on a banned address that dials in over IPv4 is refused until the
// ban ends (patch 57), then taken. Before, an accepted IPv4 connection's 4-byte address never
// matched the ban's ::ffff:-mapped key, so a banned peer was refused only when this client
// dialled it: dialling in, it was taken at once.
func TestBanRefusesIncoming(t *testing.T) {
	info := metainfo.Info{Name: "test", PieceLength: 64 << 10, Length: 4 << 16, Pieces: make([]byte, 4*20)}
	infoBytes, err := bencode.Marshal(info)
	if err != nil {
		t.Fatal(err)
	}
	ih := metainfo.HashBytes(infoBytes)
	cfg := TestingConfig(t)
	cfg.HeaderObfuscationPolicy = HeaderObfuscationPolicy{Preferred: false, NoOutgoingFallback: true}
	cl, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	tor, _ := cl.AddTorrentOpt(AddTorrentOpts{InfoHash: ih, InfoBytes: infoBytes})
	tor.DownloadAll()
	start := time.Unix(1_000_000_000, 0)
	now := start // read and written under the client lock
	dialIn := func() error {
		c, err := net.Dial("tcp4", fmt.Sprintf("127.0.0.1:%d", cl.LocalPort()))
		if err != nil {
			return err
		}
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		_, err = pp.Handshake(ctx, c, &ih, [20]byte{'-', 'B', 'N'}, pp.PeerExtensionBits{})
		return err
	}
	// The torrent takes peers once its pieces are checked: a piece being
	// hashed is not wanted, and a torrent that wants no piece refuses every
	// connection ("don't want conns right now"). A dial in those first
	// milliseconds was refused for that, not for the ban: the banned steps
	// passed whatever the ban did, and the step after it failed (1 run in
	// 40 under the race detector).
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		cl.lock()
		want := cl.wantConns()
		cl.unlock()
		if want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the torrent never took connections")
		}
	}
	if err := dialIn(); err != nil {
		t.Fatalf("before any ban, a peer dialling in from 127.0.0.1 got handshake error %v", err)
	}
	cl.lock()
	cl.banNow = func() time.Time { return now }
	cl.banPeerIP(net.ParseIP("127.0.0.1")) // as providedBadData passes it (parsed: 16 bytes)
	cl.unlock()
	for _, step := range []struct {
		at     time.Duration
		banned bool
	}{{0, true}, {peerBanDuration - time.Second, true}, {peerBanDuration, false}} {
		cl.lock()
		now = start.Add(step.at)
		cl.unlock()
		if err := dialIn(); (err != nil) != step.banned {
			t.Errorf("at %v: a peer dialling in from 127.0.0.1 got handshake error %v; want it refused %v", step.at, err, step.banned)
		}
	}
}
