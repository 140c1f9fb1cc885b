package swarm

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/anacrolix/torrent"

	"github.com/distpac/distpac/internal/torrentmeta"
)

// TestTransferReport: a download's report says where its bytes came from.
// The first leecher gets everything from the publisher's seeder; the
// second finds the first through the tracker while the seeder is capped,
// and gets part of the archive from it; a third resumes from a partial
// file and reports what it already had.
func TestTransferReport(t *testing.T) {
	t.Parallel() // a waiting test (swarm_test.go)
	trk, announce := startTracker(t)

	const size = 4 << 20
	seedDir := t.TempDir()
	path := filepath.Join(seedDir, "pkg-1.0.0.tar.zst")
	data := writeRandom(t, path, size)
	meta, err := torrentmeta.Build(path, announce, "")
	if err != nil {
		t.Fatal(err)
	}
	seeder, err := New(Config{Dir: seedDir, ListenAddr: "127.0.0.1:0", DisableTrackers: true, UploadRate: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer seeder.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ih, err := seeder.Seed(ctx, meta.Torrent, true)
	if err != nil {
		t.Fatal(err)
	}
	trk.AddPeer(ih, loopback(seeder), true)
	direct := []netip.AddrPort{loopback(seeder)}

	first, err := New(Config{Dir: t.TempDir(), ListenAddr: "127.0.1.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	began := time.Now()
	if err := first.Download(ctx, meta.Torrent, direct, nil); err != nil {
		t.Fatal(err)
	}
	returned := time.Now()
	r1, ok := first.Transfer(ih)
	if !ok {
		t.Fatal("no report after a download")
	}
	t.Logf("first:  %+v", r1)
	if r1.FromSeeder < size || r1.FromPeers != 0 || r1.Peers != 0 || r1.Total != size || r1.AlreadyHad != 0 || r1.FirstByte <= 0 || r1.FirstByte > r1.Elapsed {
		t.Errorf("first leecher's report %+v: want all %d bytes from the seeder", r1, size)
	}
	if r1.Ended.Before(began) || r1.Ended.After(returned) || r1.Ended.Sub(began) < r1.Elapsed {
		t.Errorf("first leecher's download ended at %v, %v after its start: want between Download's call (%v) and return (%v)", r1.Ended, r1.Elapsed, began, returned)
	}

	second, err := New(Config{Dir: t.TempDir(), ListenAddr: "127.0.1.2:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	if err := second.Download(ctx, meta.Torrent, direct, nil); err != nil {
		t.Fatal(err)
	}
	r2, _ := second.Transfer(ih)
	t.Logf("second: %+v", r2)
	// Two sources may make an endgame, whose duplicate chunks are wasted,
	// not already had (when r2.Wasted is 0 this part checks nothing).
	if r2.FromPeers == 0 || r2.Peers != 1 || r2.FromSeeder+r2.FromPeers < size || r2.AlreadyHad != 0 {
		t.Errorf("second leecher's report %+v: want part from the one other peer, all of it in all", r2)
	}

	// A partial file: the first half verified, the rest zeros.
	thirdDir := t.TempDir()
	part := make([]byte, size)
	copy(part[:size/2], data[:size/2])
	if err := os.WriteFile(filepath.Join(thirdDir, "pkg-1.0.0.tar.zst.part"), part, 0o644); err != nil {
		t.Fatal(err)
	}
	third, err := New(Config{Dir: thirdDir, ListenAddr: "127.0.1.3:0", DisableTrackers: true})
	if err != nil {
		t.Fatal(err)
	}
	defer third.Close()
	if err := third.Download(ctx, meta.Torrent, direct, nil); err != nil {
		t.Fatal(err)
	}
	r3, _ := third.Transfer(ih)
	t.Logf("third:  %+v", r3)
	if r3.AlreadyHad < size/2-64<<10 || r3.FromSeeder > size/2+64<<10 {
		t.Errorf("resumed download's report %+v: want about half already had", r3)
	}
}

// stringAddr is a peer address the library knows only as text.
type stringAddr string

func (a stringAddr) String() string { return string(a) }

func TestPeerAddrPort(t *testing.T) {
	for _, c := range []struct {
		name string
		addr torrent.PeerRemoteAddr
		want netip.AddrPort
	}{
		{"tcp v4", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2), Port: 6881}, netip.MustParseAddrPort("127.0.0.2:6881")},
		{"tcp v4 in v6", net.TCPAddrFromAddrPort(netip.MustParseAddrPort("[::ffff:10.0.0.1]:51413")), netip.MustParseAddrPort("10.0.0.1:51413")},
		{"tcp v6", net.TCPAddrFromAddrPort(netip.MustParseAddrPort("[::1]:7000")), netip.MustParseAddrPort("[::1]:7000")},
		{"text", stringAddr("[::ffff:192.0.2.7]:80"), netip.MustParseAddrPort("192.0.2.7:80")},
		{"text unparsable", stringAddr("webseed"), netip.AddrPort{}},
	} {
		if got := peerAddrPort(c.addr); got != c.want {
			t.Errorf("%s: peerAddrPort(%v) = %v, want %v", c.name, c.addr, got, c.want)
		}
	}
}

// TestPeersCountedByHost: the report's "from N other peers" counts the
// peers that sent data, not their connections. A peer that connected to us
// from an ephemeral port and that we also dialled on its listening port
// (three daemons starting one install at once; a connection dropped and
// made again) was counted once for each: "from 5 other peers" on a network
// of three other hosts. A peer whose listening port is not known (no BEP 10
// handshake) is counted by its address as it connected.
func TestPeersCountedByHost(t *testing.T) {
	seeder := netip.MustParseAddrPort("198.18.0.1:6881")
	type from struct {
		remote string
		listen uint16
	}
	for _, c := range []struct {
		name  string
		from  []from
		peers int
	}{
		{"dialled and dialling in", []from{{"198.18.0.12:38763", 38763}, {"198.18.0.12:51234", 38763}}, 1},
		{"connected again from another port", []from{{"198.18.0.12:51234", 38763}, {"198.18.0.12:51240", 38763}}, 1},
		{"two hosts", []from{{"198.18.0.12:38763", 38763}, {"198.18.0.13:37031", 37031}}, 2},
		{"two daemons on one host", []from{{"127.0.0.1:40001", 40001}, {"127.0.0.1:40002", 40002}}, 2},
		{"listening port unknown", []from{{"198.18.0.12:51234", 0}, {"198.18.0.12:51240", 0}}, 2},
		{"the seeder is not a peer", []from{{"198.18.0.1:6881", 6881}, {"198.18.0.1:40000", 6881}, {"198.18.0.12:38763", 38763}}, 1},
	} {
		s := &transferState{seeders: []netip.AddrPort{seeder}, peers: map[netip.AddrPort]struct{}{}}
		for _, f := range c.from {
			s.received(netip.MustParseAddrPort(f.remote), f.listen, "", 1000)
		}
		if len(s.peers) != c.peers {
			t.Errorf("%s: %d peers counted (%v), want %d", c.name, len(s.peers), s.peers, c.peers)
		}
	}
}

func TestAlreadyHad(t *testing.T) {
	const total = 4 << 20
	for _, c := range []struct {
		name                               string
		startHad, completed, received, bad int64
		want                               int64
	}{
		{"fresh download", 0, total, total, 0, 0},
		{"resumed half", total / 2, total, total / 2, 0, total / 2},
		{"half found complete after the start", 0, total, total / 2, 0, total / 2},
		{"a bad piece came again", 0, total, total + 64<<10, 64 << 10, 0},
		{"counted more than completed", 0, total / 2, total, 0, 0},
		{"never past the total", total, total, 0, 0, total},
	} {
		if got := alreadyHad(c.startHad, c.completed, c.received, c.bad, total); got != c.want {
			t.Errorf("%s: alreadyHad = %d, want %d", c.name, got, c.want)
		}
	}
}

// transferCount is how many downloads' states e keeps.
func transferCount(e *Engine) int {
	n := 0
	e.transfers.Range(func(_, _ any) bool { n++; return true })
	return n
}

// TestTransferStatesForgotten: an engine keeps the state of a torrent's
// last download only a while after it ended, whether the torrent stays
// seeding or is dropped: a long-running daemon kept one for every package
// it ever downloaded. Each report is there as its download returns.
func TestTransferStatesForgotten(t *testing.T) {
	seedDir := t.TempDir()
	seeder := newEngine(t, seedDir, 0)
	leecher, err := New(Config{Dir: t.TempDir(), ListenAddr: "127.0.0.1:0", DisableTrackers: true, TransferKeep: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { leecher.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const downloads = 12
	for i := range downloads {
		meta, ih := seedRandom(t, ctx, seeder, seedDir, fmt.Sprintf("pkg%d-1.0.0.tar.zst", i), 64<<10+i)
		if err := leecher.Download(ctx, meta.Torrent, []netip.AddrPort{loopback(seeder)}, nil); err != nil {
			t.Fatalf("download %d: %v", i, err)
		}
		if r, ok := leecher.Transfer(ih); !ok || r.FromSeeder == 0 {
			t.Fatalf("download %d: report %+v, %v as it returned", i, r, ok)
		}
		if i%2 == 0 {
			leecher.Drop(ih)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for transferCount(leecher) > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := transferCount(leecher); n > 0 {
		t.Fatalf("%d of %d downloads' states kept 10 s after they ended", n, downloads)
	}
}

// TestClosedEngineCollectable: the timers that forget a download's state
// (forgetTransferLater) stop when the engine closes; each held the closed
// engine, its client and its buffers for up to transferKeep (a minute), so
// a process that opens engines one after another (tests, a daemon's
// restarts) held every one closed within the last minute.
func TestClosedEngineCollectable(t *testing.T) {
	e, err := New(Config{Dir: t.TempDir(), ListenAddr: "127.0.0.1:0", DisableTrackers: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		ih := InfoHash{byte(i + 1)}
		e.transfers.Store(ih, &transferState{})
		e.forgetTransferLater(ih)
	}
	collected := make(chan struct{})
	runtime.AddCleanup(e, func(ch chan struct{}) { close(ch) }, collected)
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	e = nil
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		runtime.GC()
		select {
		case <-collected:
			return
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the closed engine was still reachable 10 s after Close (a forget timer holds it for transferKeep)")
		}
	}
}
