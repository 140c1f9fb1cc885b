package torrent

import (
	"bytes"
	"crypto/rand"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/internal/testutil"
	"github.com/anacrolix/torrent/metainfo"
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
	for i := range places {
		rawPeer(t, seeder, mi.HashInfoBytes(), i)
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

// TestSlowTakersGivePlace (patch 44): peers that ask a capped seed for one chunk now and then, from
// as many addresses as the torrent takes connections, take under a quarter of their share of the cap
// and give their places to a leecher. Without slowTaker they kept them (the idle rule counts the
// chunks they are sent as activity): not served within 10 s.
func TestSlowTakersGivePlace(t *testing.T) {
	defer func(old time.Duration) { idleConnAge = old }(idleConnAge)
	idleConnAge = 300 * time.Millisecond
	const places = 2

	dir := t.TempDir()
	data := make([]byte, 1<<20)
	rand.Read(data)
	if err := os.WriteFile(filepath.Join(dir, "payload"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	info := metainfo.Info{PieceLength: 64 << 10}
	if err := info.BuildFromFilePath(filepath.Join(dir, "payload")); err != nil {
		t.Fatal(err)
	}
	var mi metainfo.MetaInfo
	var err error
	if mi.InfoBytes, err = bencode.Marshal(info); err != nil {
		t.Fatal(err)
	}
	cfg := TestingConfig(t)
	cfg.Seed = true
	cfg.DataDir = dir
	cfg.EstablishedConnsPerTorrent = places
	cfg.MaxAllocPeerRequestDataPerConn = 1 << 20
	cfg.UploadRateLimiter = rate.NewLimiter(1<<20, 256<<10) // a share of 512 KiB/s a place
	seeder, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer seeder.Close()
	st, err := seeder.AddTorrent(&mi)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.VerifyData(); err != nil {
		t.Fatal(err)
	}
	<-st.Complete().On()

	// The slow takers: interested, then one 16 KiB chunk asked every 300 ms (53 KiB/s, under a
	// quarter of the 512 KiB/s share), what the seed sends read and dropped.
	stop := make(chan struct{})
	defer close(stop)
	for i := range places {
		c := rawPeer(t, seeder, mi.HashInfoBytes(), i)
		interested, _ := pp.Message{Type: pp.Interested}.MarshalBinary()
		c.Write(interested)
		go func() {
			tick := time.NewTicker(300 * time.Millisecond)
			defer tick.Stop()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				req, _ := pp.Message{Type: pp.Request, Index: pp.Integer(n % 16), Begin: 0, Length: 16 << 10}.MarshalBinary()
				if _, err := c.Write(req); err != nil {
					return
				}
			}
		}()
	}
	deadline := time.Now().Add(5 * time.Second)
	for st.Stats().ActivePeers < places && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := st.Stats().ActivePeers; n != places {
		t.Fatalf("the seed holds %d connections of the slow peers, want %d", n, places)
	}

	lcfg := TestingConfig(t)
	lcfg.MaxAllocPeerRequestDataPerConn = 1 << 20
	leecher, err := NewClient(lcfg)
	if err != nil {
		t.Fatal(err)
	}
	defer leecher.Close()
	lt, err := leecher.AddTorrent(&mi)
	if err != nil {
		t.Fatal(err)
	}
	lt.DownloadAll()
	done := time.After(10 * time.Second)
	for served := false; !served; {
		lt.AddClientPeer(seeder)
		select {
		case <-lt.Complete().On():
			served = true
		case <-time.After(200 * time.Millisecond):
		case <-done:
			t.Fatal("the leecher was not served within 10 s: the slow peers kept every place of the seed")
		}
	}
	b, err := os.ReadFile(filepath.Join(lcfg.DataDir, "payload"))
	if err != nil || !bytes.Equal(b, data) {
		t.Fatalf("leecher's file: %d bytes (%v), want the payload", len(b), err)
	}
}

// rawPeer connects to seeder from 127.0.0.(2+i), completes the handshake for ih (with the fast
// extension) and reads and drops whatever the seeder sends; it sends nothing more. It is closed
// when the test ends.
func rawPeer(t *testing.T, seeder *Client, ih metainfo.Hash, i int) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i))}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(seeder.LocalPort())))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	var ext pp.PeerExtensionBits
	ext.SetBit(pp.ExtensionBitFast, true)
	hs := append([]byte(pp.Protocol), ext[:]...)
	hs = append(hs, ih[:]...)
	hs = append(hs, []byte("-XX0000-raw-peer-00"+string(rune('a'+i)))...)
	if _, err := c.Write(hs); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, make([]byte, 68)); err != nil {
		t.Fatalf("peer %d: handshake: %v", i, err)
	}
	go io.Copy(io.Discard, c)
	return c
}
