package torrent

import (
	"io"
	"net"
	"testing"
	"time"
)

// TestServingTellsChokes (patch 59): Serving says whether a peer chokes us and since when, over a
// real connection: choked from the handshake, unchoked, choked again at its choke message. Upstream
// exported no choke state, and distpac counted a peer that claimed every piece and choked it for
// good as a source until its caller's stall timeout.
func TestServingTellsChokes(t *testing.T) {
	cl, tor := testTorrent(t, 8, emptyStorage{})
	t.Cleanup(func() { cl.Close() })
	tor.DownloadAll()
	c, err := net.Dial("tcp", cl.ListenAddrs()[0].String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ih := tor.InfoHash()
	hs := append([]byte("\x13BitTorrent protocol"), 0, 0, 0, 0, 0, 0, 0, 0x04) // fast extension
	hs = append(append(hs, ih[:]...), "-XX0001-servingtest0"...)
	if _, err := c.Write(hs); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, make([]byte, 68)); err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, c)
	send := func(msg ...byte) {
		t.Helper()
		if _, err := c.Write(append([]byte{0, 0, 0, byte(len(msg))}, msg...)); err != nil {
			t.Fatal(err)
		}
	}
	serving := func(want func(PeerServing) bool) PeerServing {
		t.Helper()
		var s PeerServing
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if conns := tor.PeerConns(); len(conns) == 1 {
				if s = conns[0].Serving(); want(s) {
					return s
				}
			}
		}
		t.Fatalf("the peer's serving state is %+v", s)
		return s
	}
	send(0x0e) // have all
	first := serving(func(s PeerServing) bool { return !s.Handshake.IsZero() })
	if !first.Choking || !first.ChokedAt.Equal(first.Handshake) || !first.LastUseful.IsZero() {
		t.Fatalf("before any unchoke: %+v, want choking since the handshake, nothing useful", first)
	}
	send(1) // unchoke
	serving(func(s PeerServing) bool { return !s.Choking && s.ChokedAt.IsZero() && s.Requests > 0 })
	time.Sleep(20 * time.Millisecond)
	choked := time.Now()
	send(0) // choke
	s := serving(func(s PeerServing) bool { return s.Choking })
	if s.ChokedAt.Before(choked) || s.ChokedAt.After(time.Now()) {
		t.Fatalf("choked at %v, want its choke message's time, after %v", s.ChokedAt, choked)
	}
}
