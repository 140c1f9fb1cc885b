package torrent

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
	pp "github.com/anacrolix/torrent/peer_protocol"
)

// violator is how a hostile peer answers the requests of the client under test.
type violator func(w io.Writer, index, begin, length uint32, numPieces int)

// pieceMsg writes a piece message of index and begin carrying n bytes of junk.
func pieceMsg(w io.Writer, index, begin uint32, n int) {
	var hdr [13]byte
	binary.BigEndian.PutUint32(hdr[0:], uint32(9+n))
	hdr[4] = byte(pp.Piece)
	binary.BigEndian.PutUint32(hdr[5:], index)
	binary.BigEndian.PutUint32(hdr[9:], begin)
	w.Write(hdr[:])
	w.Write(bytes.Repeat([]byte{0xa5}, n))
}

// violationCase is one way a hostile peer breaks the protocol.
type violationCase struct {
	name   string
	answer violator // nil: requests are not answered
	// have sends a have of a piece past the torrent's end after the unchoke.
	have bool
}

var violations = []violationCase{
	{name: "block one byte short", answer: func(w io.Writer, i, b, l uint32, _ int) { pieceMsg(w, i, b, int(l)-1) }},
	{name: "block one byte long", answer: func(w io.Writer, i, b, l uint32, _ int) { pieceMsg(w, i, b, int(l)+1) }},
	{name: "block answered twice", answer: func(w io.Writer, i, b, l uint32, _ int) {
		pieceMsg(w, i, b, int(l))
		pieceMsg(w, i, b, int(l))
	}},
	{name: "block of a piece past the end", answer: func(w io.Writer, _, b, l uint32, n int) { pieceMsg(w, uint32(n), b, int(l)) }},
	{name: "have of a piece past the end", have: true},
}

// hostilePeer listens on 127.0.0.1 for the torrent ih of numPieces pieces: it takes the
// handshake, says it has every piece, unchokes, and then breaks the protocol as v says. It
// counts the connections it completed a handshake on.
func hostilePeer(t *testing.T, ih metainfo.Hash, numPieces int, v violationCase) (*net.TCPAddr, *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var conns atomic.Int32
	serve := func(c net.Conn) {
		defer c.Close()
		r := bufio.NewReader(c)
		hs := make([]byte, 68)
		if _, err := io.ReadFull(r, hs); err != nil || !bytes.Equal(hs[28:48], ih[:]) {
			return
		}
		conns.Add(1)
		w := bufio.NewWriter(c)
		w.WriteString("\x13BitTorrent protocol")
		w.Write([]byte{0, 0, 0, 0, 0, 0, 0, 0x04}) // the fast extension, which TestingConfig asks for
		w.Write(ih[:])
		w.WriteString("-HP0001-000000000001")
		bf := make([]byte, (numPieces+7)/8)
		for i := range numPieces {
			bf[i/8] |= 0x80 >> (i % 8)
		}
		w.Write(binary.BigEndian.AppendUint32(nil, uint32(1+len(bf))))
		w.WriteByte(byte(pp.Bitfield))
		w.Write(bf)
		w.Write([]byte{0, 0, 0, 1, byte(pp.Unchoke)})
		if v.have {
			w.Write([]byte{0, 0, 0, 5, byte(pp.Have)})
			w.Write(binary.BigEndian.AppendUint32(nil, uint32(numPieces)))
		}
		if w.Flush() != nil {
			return
		}
		for {
			var n uint32
			if binary.Read(r, binary.BigEndian, &n) != nil {
				return
			}
			msg := make([]byte, n)
			if _, err := io.ReadFull(r, msg); err != nil {
				return
			}
			if n != 13 || msg[0] != byte(pp.Request) || v.answer == nil {
				continue
			}
			v.answer(w, binary.BigEndian.Uint32(msg[1:]), binary.BigEndian.Uint32(msg[5:]), binary.BigEndian.Uint32(msg[9:]), numPieces)
			if w.Flush() != nil {
				return
			}
		}
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go serve(c)
		}
	}()
	return ln.Addr().(*net.TCPAddr), &conns
}

// TestProtocolViolationBans (patch 56): a peer that answers our requests with a block of the
// wrong length, answers one twice, sends a block of a piece the torrent does not have, or a have
// of one, is banned by address as a peer whose piece fails its hash is: its connection ends, and
// it is not dialled again however often a tracker names it. It was only disconnected, and dialled
// again at each announce (here 15 times in 1 s of being named every 50 ms). A trusted peer
// (distpac's publisher's seeder) that does so is disconnected and never banned (patch 55), so
// it is dialled again when named again.
func TestProtocolViolationBans(t *testing.T) {
	info := metainfo.Info{Name: "x", PieceLength: 64 << 10, Length: 4 * 64 << 10, Pieces: make([]byte, 20*4)}
	infoBytes, err := bencode.Marshal(info)
	if err != nil {
		t.Fatal(err)
	}
	// Chunks of 16 KiB (the library's) are asked whole; distpac's of 64 KiB are asked of such a
	// peer (no distpac_max_request) as parts of 16 KiB (patch 35), which have checks of their own.
	for _, chunk := range []pp.Integer{16 << 10, 64 << 10} {
		for _, v := range violations {
			for _, trusted := range []bool{false, true} {
				name := fmt.Sprintf("%s, chunks of %d KiB", v.name, chunk>>10)
				if trusted {
					name += ", trusted"
				}
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					testViolation(t, infoBytes, chunk, v, trusted)
				})
			}
		}
	}
}

// testViolation runs a client of the torrent infoBytes (4 pieces) in chunks of chunk, told of
// a hostile peer breaking the protocol as v says every 50 ms for 1 s.
func testViolation(t *testing.T, infoBytes []byte, chunk pp.Integer, v violationCase, trusted bool) {
	ih := metainfo.HashBytes(infoBytes)
	addr, conns := hostilePeer(t, ih, 4, v)
	cfg := TestingConfig(t)
	cfg.HeaderObfuscationPolicy = HeaderObfuscationPolicy{Preferred: false, NoOutgoingFallback: true}
	cl, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	tor, _ := cl.AddTorrentOpt(AddTorrentOpts{InfoHash: ih, InfoBytes: infoBytes, ChunkSize: chunk})
	tor.DownloadAll()
	// Named again and again, as by distpac's announces (or its redial of the publisher's seeder,
	// for a trusted one).
	pi := PeerInfo{Addr: addr, Source: PeerSourceTracker, Trusted: trusted}
	for end := time.Now().Add(time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		tor.AddPeers([]PeerInfo{pi})
	}
	time.Sleep(100 * time.Millisecond) // the last dial completes
	n := conns.Load()
	banned := len(cl.BadPeerIPs())
	t.Logf("%d connections, %d banned addresses", n, banned)
	if trusted {
		if banned != 0 {
			t.Errorf("a trusted peer's address was banned: %v", cl.BadPeerIPs())
		}
		if n < 2 {
			t.Errorf("a trusted peer was connected %d times in 1 s of being named; want it dialled again", n)
		}
		return
	}
	if n != 1 {
		t.Errorf("the peer was connected %d times while named every 50 ms; want once, then banned", n)
	}
	if ips := cl.BadPeerIPs(); len(ips) != 1 || netip.MustParseAddr(ips[0]).Unmap() != addr.AddrPort().Addr().Unmap() {
		t.Errorf("banned addresses %v, want [%v]", ips, addr.IP)
	}
	if got := len(tor.PeerConns()); got != 0 {
		t.Errorf("%d connections to the peer remain", got)
	}
}
