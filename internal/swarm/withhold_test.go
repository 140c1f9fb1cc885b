package swarm

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"

	"github.com/distpac/distpac/internal/swarm/peertest"
	"github.com/distpac/distpac/internal/torrentmeta"
)

// randomArchive writes an archive of size random bytes and returns its
// torrent, its bytes and its infohash.
func randomArchive(t *testing.T, size int) (torrentmeta.Meta, []byte, metainfo.Hash) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "pkg-1.0.0.tar.zst")
	data := writeRandom(t, path, size)
	meta, err := torrentmeta.Build(path, "", "")
	if err != nil {
		t.Fatal(err)
	}
	mi, err := metainfo.Load(bytes.NewReader(meta.Torrent))
	if err != nil {
		t.Fatal(err)
	}
	return meta, data, mi.HashInfoBytes()
}

// chokingFake is a fake peer that claims every piece and keeps us
// choked: with BEP 6's have-all, or (plain BEP 3, no extension bits)
// with a bitfield of every piece. It reads all that comes and sends
// nothing more.
func chokingFake(t *testing.T, ih metainfo.Hash, pieces int, bitfield bool) netip.AddrPort {
	p := listenTestPeer(t)
	p.serve(func(c net.Conn) {
		defer c.Close()
		if !bitfield {
			if fakePeerGreeting(c, ih, "-XX0001-chokingseed0", true, false) {
				io.Copy(io.Discard, c)
			}
			return
		}
		hs := make([]byte, 68)
		if _, err := io.ReadFull(c, hs); err != nil || !bytes.Equal(hs[28:48], ih[:]) {
			return
		}
		var out bytes.Buffer
		out.WriteString("\x13BitTorrent protocol")
		out.Write(make([]byte, 8))
		out.Write(ih[:])
		out.WriteString("-XX0001-chokingbits0")
		bf := make([]byte, (pieces+7)/8)
		for i := range pieces {
			bf[i/8] |= 0x80 >> (i % 8)
		}
		out.Write(binary.BigEndian.AppendUint32(nil, uint32(1+len(bf))))
		out.WriteByte(5) // bitfield
		out.Write(bf)
		if _, err := c.Write(out.Bytes()); err == nil {
			io.Copy(io.Discard, c)
		}
	})
	return p.addr()
}

// chokeThenServe is a fake peer that claims every piece, keeps us choked
// for choked (a busy seeder until its next rechoke round), then unchokes
// and answers every request with the torrent's bytes (data, in pieces of
// pieceLen).
func chokeThenServe(t *testing.T, ih metainfo.Hash, data []byte, pieceLen int64, choked time.Duration) netip.AddrPort {
	p := listenTestPeer(t)
	p.serve(func(c net.Conn) {
		defer c.Close()
		if !fakePeerGreeting(c, ih, "-XX0001-chokethenser", true, false) {
			return
		}
		go func() {
			time.Sleep(choked)
			c.Write([]byte{0, 0, 0, 1, 1}) // unchoke
		}()
		answerRequests(c, data, pieceLen, func() bool { return true })
	})
	return p.addr()
}

// answerRequests answers each request read from c with its chunk of data
// (in pieces of pieceLen) while before, called first, says to go on.
func answerRequests(c net.Conn, data []byte, pieceLen int64, before func() bool) {
	readRequests(c, func(req []byte) bool {
		if !before() {
			return false
		}
		index, begin, n := binary.BigEndian.Uint32(req), binary.BigEndian.Uint32(req[4:]), binary.BigEndian.Uint32(req[8:])
		off := int64(index)*pieceLen + int64(begin)
		if off < 0 || off+int64(n) > int64(len(data)) {
			return false
		}
		msg := binary.BigEndian.AppendUint32(nil, 9+n)
		msg = append(msg, 7)
		msg = append(msg, req[:8]...)
		_, err := c.Write(append(msg, data[off:off+int64(n)]...))
		return err == nil
	})
}

// TestWithholdingPeerStrandsDownload: a download whose only peer claims
// every piece and never serves it (keeps it choked, with have-all or a
// full bitfield; or unchokes and answers no request) and that has no
// other source fails with a NoSourceError naming the peer and what it
// did, within the give-up (8 s) after the peer's grace (withholdGrace).
// Such a peer counted as a source for as long as it stayed connected:
// the download never gave up, and dist-client's stall watchdog ended the
// install after two minutes with "no data received for 2m0s from any
// peer or web seed", naming no peer (an attacker's run).
func TestWithholdingPeerStrandsDownload(t *testing.T) {
	t.Parallel() // a waiting test (swarm_test.go)
	const size = 1 << 20
	meta, _, ih := randomArchive(t, size)
	pieces := int((size + torrentmeta.PieceLength(size) - 1) / torrentmeta.PieceLength(size))
	for _, tc := range []struct {
		name string
		peer func(t *testing.T) netip.AddrPort
		want string
	}{
		{"have-all, choked for good", func(t *testing.T) netip.AddrPort { return chokingFake(t, ih, pieces, false) },
			`claims every piece but has kept us choked for \d+s`},
		{"full bitfield, choked for good", func(t *testing.T) netip.AddrPort { return chokingFake(t, ih, pieces, true) },
			`claims every piece but has kept us choked for \d+s`},
		{"have-all, unchoked, no answer", func(t *testing.T) netip.AddrPort { return newBlackHole(t, ih, 0).addr() },
			`claims every piece but answered none of our requests in \d+s`},
		{"full bitfield, unchoked, no answer", func(t *testing.T) netip.AddrPort {
			l, err := peertest.ListenLiar("127.0.0.1:0", ih, size, torrentmeta.PieceLength(size), peertest.Silent)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { l.Close() })
			return l.Addr()
		}, `claims every piece but answered none of our requests in \d+s`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			peer := tc.peer(t)
			leecher := newEngine(t, t.TempDir(), 0)
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			start := time.Now()
			err := leecher.Download(ctx, meta.Torrent, []netip.AddrPort{peer}, nil)
			took := time.Since(start)
			t.Logf("after %v: %v", took.Round(time.Millisecond), err)
			var ns *NoSourceError
			if !errors.As(err, &ns) {
				t.Fatalf("download beside a peer that never serves: %v after %v, want a NoSourceError", err, took.Round(time.Second))
			}
			if limit := withholdGrace + DefaultGiveUpAfter + 5*time.Second; took > limit {
				t.Errorf("gave up after %v, want within %v", took.Round(time.Millisecond), limit)
			}
			want := regexp.MustCompile(`peer ` + regexp.QuoteMeta(peer.String()) + ` ` + tc.want)
			if !want.MatchString(err.Error()) {
				t.Errorf("error:\n%s\nwant it to match %q", err, want)
			}
			// Connected: neither down nor closed.
			if got := err.Error(); strings.Contains(got, "did not accept") || strings.Contains(got, "closed the connection") {
				t.Errorf("error:\n%s\nsays the connected peer refused or closed", got)
			}
		})
	}
}

// TestChokedForARoundIsNotCut: a peer that claims every piece and keeps
// the download choked for 10 s (a busy seeder's rechoke round) before it
// serves, the download's only source, is waited for: the download
// completes.
func TestChokedForARoundIsNotCut(t *testing.T) {
	t.Parallel() // a waiting test (swarm_test.go)
	const size = 256 << 10
	meta, data, ih := randomArchive(t, size)
	peer := chokeThenServe(t, ih, data, torrentmeta.PieceLength(size), 10*time.Second)
	leecher := newEngine(t, t.TempDir(), 0)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := time.Now()
	if err := leecher.Download(ctx, meta.Torrent, []netip.AddrPort{peer}, nil); err != nil {
		t.Fatalf("download from a peer that chokes for 10 s, then serves: %v after %v", err, time.Since(start).Round(time.Millisecond))
	}
	t.Logf("done after %v", time.Since(start).Round(time.Millisecond))
	if got, err := os.ReadFile(filepath.Join(leecher.Dir(), "pkg-1.0.0.tar.zst")); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("the download differs (%v)", err)
	}
}

// TestSlowPeerIsNotCut: a peer that sends a correct chunk every 4 s, the
// download's only source, slower than its give-up (2 s here), is not a
// withholding peer: the download completes.
func TestSlowPeerIsNotCut(t *testing.T) {
	t.Parallel() // a waiting test (swarm_test.go)

	const size = 64 << 10 // 4 chunks: 16 s at the peer's pace
	meta, data, ih := randomArchive(t, size)
	if n := torrentmeta.PieceLength(size); n != 64<<10 {
		t.Fatalf("piece length %d: the trickler assumes 64 KiB", n)
	}
	peer := newTrickler(t, ih, data, 4*time.Second)
	leecher, err := New(Config{Dir: t.TempDir(), ListenAddr: "127.0.0.1:0", DisableTrackers: true, GiveUpAfter: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer leecher.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := time.Now()
	if err := leecher.Download(ctx, meta.Torrent, []netip.AddrPort{peer.addr()}, nil); err != nil {
		t.Fatalf("download from a peer sending a chunk every 4 s: %v after %v (it sent %d bytes)", err, time.Since(start).Round(time.Millisecond), peer.sent.Load())
	}
	t.Logf("done after %v", time.Since(start).Round(time.Millisecond))
}

// servesThenLeaves is a fake peer that claims every piece and sends one
// chunk of every request every 500 ms until leave has passed, then
// closes its connection and its listener.
func servesThenLeaves(t *testing.T, ih metainfo.Hash, data []byte, pieceLen int64, leave time.Duration) netip.AddrPort {
	p := listenTestPeer(t)
	deadline := time.Now().Add(leave)
	time.AfterFunc(leave, func() { p.ln.Close() })
	p.serve(func(c net.Conn) {
		defer c.Close()
		if !fakePeerHandshake(c, ih, "-XX0001-servesleaves", true) {
			return
		}
		time.AfterFunc(time.Until(deadline), func() { c.Close() })
		answerRequests(c, data, pieceLen, func() bool {
			time.Sleep(500 * time.Millisecond)
			return time.Now().Before(deadline)
		})
	})
	return p.addr()
}

// TestChokedWhileAnotherServedIsNotCut: a peer that kept the download
// choked while another peer served it, and unchokes it 10 s after that
// one left (its next rechoke round), is waited for: its grace counts
// from when the download came to depend on it, not from its handshake.
// Counted from the handshake, the download gave up 2 s after the server
// left (GiveUpAfter 2 s here), before the unchoke.
func TestChokedWhileAnotherServedIsNotCut(t *testing.T) {
	t.Parallel() // a waiting test (swarm_test.go)
	const size = 1 << 20
	meta, data, ih := randomArchive(t, size)
	pl := torrentmeta.PieceLength(size)
	const served = withholdGrace + time.Second
	server := servesThenLeaves(t, ih, data, pl, served)
	choker := chokeThenServe(t, ih, data, pl, served+10*time.Second)
	leecher, err := New(Config{Dir: t.TempDir(), ListenAddr: "127.0.0.1:0", DisableTrackers: true, GiveUpAfter: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer leecher.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	start := time.Now()
	if err := leecher.Download(ctx, meta.Torrent, []netip.AddrPort{server, choker}, nil); err != nil {
		t.Fatalf("download whose choking peer unchokes 10 s after the other left: %v after %v", err, time.Since(start).Round(time.Millisecond))
	}
	t.Logf("done after %v", time.Since(start).Round(time.Millisecond))
	if got, err := os.ReadFile(filepath.Join(leecher.Dir(), "pkg-1.0.0.tar.zst")); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("the download differs (%v)", err)
	}
}
