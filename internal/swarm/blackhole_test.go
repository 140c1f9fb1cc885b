package swarm

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"

	"github.com/distpac/distpac/internal/torrentmeta"
)

// testPeer listens on 127.0.0.1 for a test's fake peer and closes the
// listener and every connection it keeps when the test ends.
type testPeer struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func listenTestPeer(t *testing.T) *testPeer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &testPeer{ln: ln}
	t.Cleanup(p.close)
	return p
}

// serve hands each connection accepted to handle, kept.
func (p *testPeer) serve(handle func(net.Conn)) {
	go func() {
		for {
			c, err := p.ln.Accept()
			if err != nil {
				return
			}
			p.keep(c)
			go handle(c)
		}
	}()
}

func (p *testPeer) addr() netip.AddrPort { return p.ln.Addr().(*net.TCPAddr).AddrPort() }

// keep has cs closed with the listener.
func (p *testPeer) keep(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.conns = append(p.conns, cs...)
}

func (p *testPeer) close() {
	p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
}

// blackHole is a hostile peer that claims every piece (BEP 6 have-all),
// unchokes, and then takes every request and never answers it: no chunk,
// no reject, not even for a cancel. It counts the requests it swallowed.
type blackHole struct {
	*testPeer
	ih       metainfo.Hash
	haves    int // announce the pieces one by one, this many, instead of have-all
	mu       sync.Mutex
	requests int
}

func newBlackHole(t *testing.T, ih metainfo.Hash, haves int) *blackHole {
	t.Helper()
	b := &blackHole{testPeer: listenTestPeer(t), ih: ih, haves: haves}
	b.serve(b.handle)
	return b
}

// fakePeerHandshake answers a downloader's handshake for ih as a test peer
// named peerID (20 bytes) with the fast extension (BEP 6), no BEP 10: have
// all or have none, then unchoke. False when the handshake is not for ih
// or the connection failed.
func fakePeerHandshake(c net.Conn, ih metainfo.Hash, peerID string, haveAll bool) bool {
	return fakePeerGreeting(c, ih, peerID, haveAll, true)
}

// fakePeerGreeting is fakePeerHandshake, unchoking or not.
func fakePeerGreeting(c net.Conn, ih metainfo.Hash, peerID string, haveAll, unchoke bool) bool {
	hs := make([]byte, 68)
	if _, err := io.ReadFull(c, hs); err != nil || !bytes.Equal(hs[28:48], ih[:]) {
		return false
	}
	var out bytes.Buffer
	out.WriteString("\x13BitTorrent protocol")
	out.Write([]byte{0, 0, 0, 0, 0, 0, 0, 0x04})
	out.Write(ih[:])
	out.WriteString(peerID)
	if haveAll {
		out.Write([]byte{0, 0, 0, 1, 0x0e}) // have all
	} else {
		out.Write([]byte{0, 0, 0, 1, 0x0f}) // have none
	}
	if unchoke {
		out.Write([]byte{0, 0, 0, 1, 1})
	}
	_, err := c.Write(out.Bytes())
	return err == nil
}

func (b *blackHole) handle(c net.Conn) {
	defer c.Close()
	if !fakePeerHandshake(c, b.ih, "-XX0001-blackholepee", b.haves == 0) {
		return
	}
	go func() { // the haves, one every 5 ms, while requests are read below
		for i := range b.haves {
			time.Sleep(5 * time.Millisecond)
			if _, err := c.Write([]byte{0, 0, 0, 5, 4, byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)}); err != nil {
				return
			}
		}
	}()
	readRequests(c, func([]byte) bool {
		b.mu.Lock()
		b.requests++
		b.mu.Unlock()
		return true
	})
}

// readRequests reads a fake peer's messages from c until the connection
// fails or a message is over 1 MiB, and hands each request's body (index,
// begin, length: 12 bytes) to each; false from each stops it.
func readRequests(c net.Conn, each func(req []byte) bool) {
	var hdr [4]byte
	for {
		if _, err := io.ReadFull(c, hdr[:]); err != nil {
			return
		}
		n := int(hdr[0])<<24 | int(hdr[1])<<16 | int(hdr[2])<<8 | int(hdr[3])
		if n > 1<<20 {
			return
		}
		msg := make([]byte, n)
		if _, err := io.ReadFull(c, msg); err != nil {
			return
		}
		if n == 13 && msg[0] == 6 && !each(msg[1:]) { // request
			return
		}
	}
}

func (b *blackHole) swallowed() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.requests
}

// TestBlackHolePeer: a peer that claims pieces, unchokes and answers no
// request (no chunk, no reject) costs a download the chunks it was asked
// for until the endgame takes them elsewhere, not the download. A capped
// seeder (1 MiB/s, so 4 MiB take 4 s) serves the rest. The black hole
// claims every piece at once, or announces them one by one (a have while
// requests wait at it updates nothing since patch 9; the piece waits for
// the queue to drain, which at a black hole it never does).
func TestBlackHolePeer(t *testing.T) {
	t.Parallel() // a waiting test (swarm_test.go)

	const size = 4 << 20 // 64 pieces
	for _, tc := range []struct {
		name  string
		haves int
	}{
		{"have all", 0},
		{"a have per piece", size >> 16},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			seedDir := t.TempDir()
			path := filepath.Join(seedDir, "pkg-1.0.0.tar.zst")
			want := writeRandom(t, path, size)
			meta, err := torrentmeta.Build(path, "", "")
			if err != nil {
				t.Fatal(err)
			}
			mi, err := metainfo.Load(bytes.NewReader(meta.Torrent))
			if err != nil {
				t.Fatal(err)
			}
			seeder := newEngine(t, seedDir, 1<<20)
			if _, err := seeder.Seed(ctx, meta.Torrent, true); err != nil {
				t.Fatal(err)
			}
			hole := newBlackHole(t, mi.HashInfoBytes(), tc.haves)
			client := newEngine(t, t.TempDir(), 0)
			start := time.Now()
			if err := client.Download(ctx, meta.Torrent, []netip.AddrPort{hole.addr(), loopback(seeder)}, nil); err != nil {
				t.Fatalf("download with a black hole among the peers: %v", err)
			}
			took := time.Since(start)
			t.Logf("4 MiB from a 1 MiB/s seeder beside a black hole: %v; the black hole swallowed %d requests", took, hole.swallowed())
			got, err := os.ReadFile(filepath.Join(client.Dir(), "pkg-1.0.0.tar.zst"))
			if err != nil || !bytes.Equal(got, want) {
				t.Fatal("downloaded payload differs")
			}
			if hole.swallowed() == 0 {
				t.Fatal("the black hole was asked for nothing: the test does not test it")
			}
			// 4 s at the seeder's rate; the black hole's chunks come in the endgame.
			if took > 20*time.Second {
				t.Fatalf("took %v", took)
			}
		})
	}
}
