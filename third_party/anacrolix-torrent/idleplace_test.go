package torrent

import (
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/anacrolix/torrent/internal/testutil"
	pp "github.com/anacrolix/torrent/peer_protocol"
)

// TestIdleConnsGivePlace (patch 44): peers that complete the handshake with a seed and then send
// nothing, from as many addresses as the torrent takes connections, hold every place; a leecher
// that dials the seed is served once they have been idle for idleConnAge. Before, it was refused
// until they were a minute old (here: not served within 10 s).
func TestIdleConnsGivePlace(t *testing.T) {
	defer func(old time.Duration) { idleConnAge = old }(idleConnAge)
	idleConnAge = 300 * time.Millisecond
	const places = 2

	greetingDir, mi := testutil.GreetingTestTorrent()
	defer os.RemoveAll(greetingDir)
	cfg := TestingConfig(t)
	cfg.Seed = true
	cfg.DataDir = greetingDir
	cfg.EstablishedConnsPerTorrent = places
	seeder, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer seeder.Close()
	st, err := seeder.AddTorrent(mi)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.VerifyData(); err != nil {
		t.Fatal(err)
	}
	<-st.Complete().On()

	// The idle peers: a handshake from each of their addresses, then silence.
	ih := mi.HashInfoBytes()
	var ext pp.PeerExtensionBits
	ext.SetBit(pp.ExtensionBitFast, true)
	for i := range places {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i))}, Timeout: 5 * time.Second}
		c, err := d.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(seeder.LocalPort())))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		hs := append([]byte(pp.Protocol), ext[:]...)
		hs = append(hs, ih[:]...)
		hs = append(hs, []byte("-XX0000-idle-peer-0"+string(rune('a'+i)))...)
		if _, err := c.Write(hs); err != nil {
			t.Fatal(err)
		}
		reply := make([]byte, 68)
		if _, err := io.ReadFull(c, reply); err != nil {
			t.Fatalf("idle peer %d: handshake: %v", i, err)
		}
		go io.Copy(io.Discard, c) // reads what the seed sends; sends nothing
	}
	deadline := time.Now().Add(5 * time.Second)
	for st.Stats().ActivePeers < places && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := st.Stats().ActivePeers; n != places {
		t.Fatalf("the seed holds %d connections of the idle peers, want %d", n, places)
	}

	lcfg := TestingConfig(t)
	leecher, err := NewClient(lcfg)
	if err != nil {
		t.Fatal(err)
	}
	defer leecher.Close()
	lt, err := leecher.AddTorrent(mi)
	if err != nil {
		t.Fatal(err)
	}
	lt.DownloadAll()
	// As distpac's engine does for the publisher's seeder, the leecher dials it again while it has
	// no connection (a refused dial drops the address from the peers to try).
	done := time.After(10 * time.Second)
	for served := false; !served; {
		lt.AddClientPeer(seeder)
		select {
		case <-lt.Complete().On():
			served = true
		case <-time.After(200 * time.Millisecond):
		case <-done:
			t.Fatal("the leecher was not served within 10 s: the idle peers kept every place of the seed")
		}
	}
	b, err := os.ReadFile(filepath.Join(lcfg.DataDir, testutil.GreetingFileName))
	if err != nil || string(b) != testutil.GreetingFileContents {
		t.Fatalf("leecher's file %q (%v), want the greeting", b, err)
	}
}
