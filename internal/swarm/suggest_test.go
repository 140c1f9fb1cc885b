package swarm

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/torrentmeta"
)

// TestPublisherAssignsPieces: a capped publisher tells each client it
// serves which pieces to ask it for (third_party patch 10), so clients
// that download at once from it and from each other get each piece from
// it once, not the same piece twice. Without the suggestions each client
// picked from the pieces nobody had by its own random order, and two of
// them often asked for the same one. With six slots (PublisherSlots) the
// end of the download, when clients ask the publisher for what they still
// miss, sends some pieces twice anyway: measured 1.02-1.13 F in 24 runs,
// and 1.25-1.47 F in 12 with the suggestions off; the bound lies between.
// (It was 1.1 F, set with four slots, and failed a clean-clone make test.)
// Under load (a load average of 5) one run sent 1.234 F, so a swarm over
// the bound gets one more try: the test fails when two in a row send
// more, which runs without the suggestions did every time.
func TestPublisherAssignsPieces(t *testing.T) {
	const size = 4 << 20
	var sent []string
	for range 2 {
		up := func() int64 {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			publisher, torrent := cappedPublisher(t, ctx, size)
			swarmDownload(t, ctx, []*Engine{publisher}, torrent, PublisherSlots, 4<<20)
			return publisher.Stats().Uploaded
		}()
		t.Logf("publisher sent %.3f F", float64(up)/size)
		if up <= size*12/10 {
			return
		}
		sent = append(sent, fmt.Sprintf("%.3f F", float64(up)/size))
	}
	t.Errorf("publisher sent %s for a %d-byte package in two swarms in a row (at most 1.2 F): it sent pieces twice", strings.Join(sent, " and "), size)
}

// TestPublisherSurvivesEarlyClose: a connection that ends in its handshake
// (here: for a torrent the publisher does not have) is closed before it has
// a torrent, and the capped publisher's close of it must not touch the
// torrent's piece assignments (it did, and crashed dist-server).
func TestPublisherSurvivesEarlyClose(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	publisher, torrent := cappedPublisher(t, ctx, 256<<10)
	for range 3 {
		c, err := net.DialTimeout("tcp", loopback(publisher).String(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		hs := append([]byte("\x13BitTorrent protocol"), make([]byte, 8)...)
		hs[20+7] |= 0x04                                   // the fast extension
		hs = append(hs, bytes.Repeat([]byte{0xab}, 20)...) // an infohash it does not seed
		hs = append(hs, []byte("-XX0000-000000000000")...)
		c.SetDeadline(time.Now().Add(5 * time.Second))
		c.Write(hs)
		io.Copy(io.Discard, c) // until the publisher closes it
		c.Close()
	}
	leecher := newEngine(t, t.TempDir(), 0)
	if err := leecher.Download(ctx, torrent, []netip.AddrPort{loopback(publisher)}, nil); err != nil {
		t.Fatalf("download after the early closes: %v", err)
	}
}

// swarmDownload makes n clients, each uploading at most up bytes/s, that
// download torrent at once from the seeds (the publisher, a mirror) and
// from each other, and returns them when all are done.
func swarmDownload(t *testing.T, ctx context.Context, seeds []*Engine, torrent []byte, n int, up int64) []*Engine {
	t.Helper()
	return swarmDownloadWith(t, ctx, seeds, nil, torrent, n, up)
}

// swarmDownloadWith is swarmDownload with other peers every client is
// given too (a test's fake peers).
func swarmDownloadWith(t *testing.T, ctx context.Context, seeds []*Engine, others []netip.AddrPort, torrent []byte, n int, up int64) []*Engine {
	t.Helper()
	clients := make([]*Engine, n)
	for i := range clients {
		clients[i] = newEngine(t, t.TempDir(), up)
	}
	errs := make(chan error, len(clients))
	for i, c := range clients {
		var peers []netip.AddrPort
		for _, s := range seeds {
			peers = append(peers, loopback(s))
		}
		peers = append(peers, others...)
		for j, o := range clients {
			if j != i {
				peers = append(peers, loopback(o))
			}
		}
		go func() { errs <- c.Download(ctx, torrent, peers, nil) }()
	}
	for range clients {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	return clients
}

// cappedPublisher seeds a package of size random bytes as dist-server does
// when its upload is capped (2 MiB/s here): PublisherSlots connections, the
// short request queue, piece suggestions.
func cappedPublisher(t *testing.T, ctx context.Context, size int) (*Engine, []byte) {
	t.Helper()
	seedDir := t.TempDir()
	path := filepath.Join(seedDir, "pkg-1.0.0.tar.zst")
	writeRandom(t, path, size)
	meta, err := torrentmeta.Build(path, "", "")
	if err != nil {
		t.Fatal(err)
	}
	publisher, err := New(cappedSeedConfig(seedDir, false))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { publisher.Close() })
	if _, err := publisher.Seed(ctx, meta.Torrent, true); err != nil {
		t.Fatal(err)
	}
	return publisher, meta.Torrent
}

// cappedSeedConfig is the engine of a capped dist-server's seeder (2 MiB/s
// here), or with mirror of a capped dist-server mirror's.
func cappedSeedConfig(dir string, mirror bool) Config {
	return Config{Dir: dir, ListenAddr: "127.0.0.1:0", DisableTrackers: true,
		UploadRate: 2 << 20, PublisherQueue: DefaultPublisherQueue, PeersPerTorrent: PublisherSlots, Mirror: mirror}
}

// TestScarceSeedAskedLast: while its other peers deliver at least the rate
// of one of a capped publisher's slots, a client asks the publisher only for
// what no other connected peer has, until the endgame (third_party patch
// 11), so that the publisher's uplink goes to pieces the swarm lacks. Here
// another seeder holds the whole package. When that seeder is fast, the
// publisher is asked at most for the endgame's pieces (without the rule it
// sent 0.25-0.44 F); when it is slower than a slot, the client is not held
// to it and takes most of the package from the publisher.
func TestScarceSeedAskedLast(t *testing.T) {
	for _, tc := range []struct {
		name      string
		otherRate int64
		minUp     float64 // publisher upload ÷ F
		maxUp     float64
	}{
		{"fast other seeder", 4 << 20, 0, 0.2},
		{"slow other seeder", 96 << 10, 0.5, 1.01},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const size = 4 << 20
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			publisher, torrent := cappedPublisher(t, ctx, size) // slots of 341 KiB/s
			otherDir := t.TempDir()
			writeRandom(t, filepath.Join(otherDir, "pkg-1.0.0.tar.zst"), size) // the same bytes
			other := newEngine(t, otherDir, tc.otherRate)
			if _, err := other.Seed(ctx, torrent, true); err != nil {
				t.Fatal(err)
			}
			leecher := newEngine(t, t.TempDir(), 0)
			if err := leecher.Download(ctx, torrent, []netip.AddrPort{loopback(publisher), loopback(other)}, nil); err != nil {
				t.Fatal(err)
			}
			up := float64(publisher.Stats().Uploaded) / size
			t.Logf("publisher sent %.3f F, the other seeder %.3f F", up, float64(other.Stats().Uploaded)/size)
			if up < tc.minUp || up > tc.maxUp {
				t.Errorf("publisher sent %.3f F, want %.2f-%.2f F", up, tc.minUp, tc.maxUp)
			}
		})
	}
}
