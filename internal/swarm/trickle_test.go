package swarm

import (
	"bytes"
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"

	"github.com/distpac/distpac/internal/torrentmeta"
)

// trickler is a hostile peer that claims every piece, unchokes, and
// answers requests with the right bytes, one chunk every `every`: enough
// to look alive, far too little to be a source.
type trickler struct {
	ln    net.Listener
	ih    metainfo.Hash
	data  []byte
	every time.Duration
	sent  atomic.Int64
}

func newTrickler(t *testing.T, ih metainfo.Hash, data []byte, every time.Duration) *trickler {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &trickler{ln: ln, ih: ih, data: data, every: every}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.handle(c)
		}
	}()
	return p
}

func (p *trickler) addr() netip.AddrPort { return p.ln.Addr().(*net.TCPAddr).AddrPort() }

func (p *trickler) handle(c net.Conn) {
	defer c.Close()
	if !fakePeerHandshake(c, p.ih, "-XX0001-tricklepeer0", true) {
		return
	}
	requests := make(chan [3]uint32, 1024)
	defer close(requests)
	go func() { // one chunk every p.every, in the order asked
		for r := range requests {
			time.Sleep(p.every)
			idx, begin, n := r[0], r[1], r[2]
			off := int64(idx)*(64<<10) + int64(begin)
			if off+int64(n) > int64(len(p.data)) {
				continue
			}
			msg := make([]byte, 13+n)
			binary.BigEndian.PutUint32(msg, 9+n)
			msg[4] = 7 // piece
			binary.BigEndian.PutUint32(msg[5:], idx)
			binary.BigEndian.PutUint32(msg[9:], begin)
			copy(msg[13:], p.data[off:off+int64(n)])
			if _, err := c.Write(msg); err != nil {
				return
			}
			p.sent.Add(int64(n))
		}
	}()
	readRequests(c, func(req []byte) bool {
		select {
		case requests <- [3]uint32{binary.BigEndian.Uint32(req), binary.BigEndian.Uint32(req[4:]), binary.BigEndian.Uint32(req[8:])}:
		default:
		}
		return true
	})
}

// TestTricklingPeerDoesNotHoldWebSeedOff: a peer that sends a correct
// chunk every 300 ms (about 53 KiB/s, under the 32 KiB per WebSeedAfter
// floor) counted as a peer sending, which kept the torrent's web seed from
// being asked for as long as it kept that up: the download crawled at the
// trickle's rate. Now the web seed serves it.
func TestTricklingPeerDoesNotHoldWebSeedOff(t *testing.T) {
	const size = 2 << 20 // 32 pieces of 64 KiB: 128 chunks, 38 s at the trickle's rate
	path := filepath.Join(t.TempDir(), "pkg-1.0.0.tar.zst")
	data := writeRandom(t, path, size)
	var sent atomic.Int64
	seed := webSeedServer(t, path, false, false, &sent)
	meta, err := torrentmeta.Build(path, "", seed.URL+"/packages/")
	if err != nil {
		t.Fatal(err)
	}
	mi, err := metainfo.Load(bytes.NewReader(meta.Torrent))
	if err != nil {
		t.Fatal(err)
	}
	if info, _ := mi.UnmarshalInfo(); info.PieceLength != 64<<10 {
		t.Fatalf("piece length %d: the trickler assumes 64 KiB", info.PieceLength)
	}
	peer := newTrickler(t, mi.HashInfoBytes(), data, 300*time.Millisecond)
	leecher, err := New(Config{Dir: t.TempDir(), ListenAddr: "127.0.0.1:0", DisableTrackers: true, WebSeedAfter: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer leecher.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	if err := leecher.Download(ctx, meta.Torrent, []netip.AddrPort{peer.addr()}, nil); err != nil {
		t.Fatalf("download beside a trickling peer, after %v: %v (the peer sent %d bytes, the web seed %d)",
			time.Since(start).Round(time.Millisecond), err, peer.sent.Load(), sent.Load())
	}
	t.Logf("complete in %v: %d bytes from the trickling peer, %d from the web seed", time.Since(start).Round(time.Millisecond), peer.sent.Load(), sent.Load())
	if sent.Load() < size/2 {
		t.Errorf("the web seed sent %d bytes: the trickling peer held it off", sent.Load())
	}
}
