package swarm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anacrolix/torrent"

	"github.com/distpac/distpac/internal/torrentmeta"
)

// restartLog is what restart logs.
const restartLog = "download stalled with peers connected; restarting it"

// partialRig is a peer that downloaded part of a 4 MiB archive (64 pieces)
// from a seeder that then stopped, as the clients of a publisher stopped
// mid-transfer: its Download still runs, waiting for a source.
type partialRig struct {
	name     string
	meta     torrentmeta.Meta
	ih       InfoHash
	data     []byte
	peer     *Engine
	restarts atomic.Int32 // the peer's
	peerDone chan error
}

const partialSize = 4 << 20

// partialStall is the stall restart time of the rig's engines (10 s by
// default): a restart, if any, comes within the tests' waits.
const partialStall = 2 * time.Second

func newPartialRig(t *testing.T, ctx context.Context) *partialRig {
	t.Helper()
	r := &partialRig{name: "partial-1.0.0.tar.zst", peerDone: make(chan error, 1)}
	seedDir := t.TempDir()
	seeder, err := New(Config{Dir: seedDir, ListenAddr: "127.0.0.1:0", UploadRate: 1 << 20, DisableTrackers: true})
	if err != nil {
		t.Fatal(err)
	}
	defer seeder.Close()
	r.meta, r.ih = seedRandom(t, ctx, seeder, seedDir, r.name, partialSize)
	if r.data, err = os.ReadFile(filepath.Join(seedDir, r.name)); err != nil {
		t.Fatal(err)
	}
	r.peer = r.downloader(t, time.Minute, &r.restarts)
	var done atomic.Int64
	go func() {
		r.peerDone <- r.peer.Download(ctx, r.meta.Torrent, []netip.AddrPort{loopback(seeder)}, func(p Progress) { done.Store(p.Done) })
	}()
	waitUntil(t, ctx, "the peer has 1 MiB", func() bool { return done.Load() >= 1<<20 })
	seeder.Close()
	if done.Load() == partialSize {
		t.Fatal("the peer completed before the seeder stopped")
	}
	return r
}

// downloader is an engine on 127.0.0.1 that gives a download with no
// source up after giveUp and counts its stall restarts in restarts.
func (r *partialRig) downloader(t *testing.T, giveUp time.Duration, restarts *atomic.Int32) *Engine {
	t.Helper()
	e, err := New(Config{Dir: t.TempDir(), ListenAddr: "127.0.0.1:0", DisableTrackers: true, GiveUpAfter: giveUp,
		Logger: slog.New(countRecords{msg: restartLog, n: restarts})})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	e.stallAfter = partialStall // set before any Download reads it
	return e
}

// download starts e's download of the torrent, and gives it the rig's
// peer as a tracker would (not as a direct peer, which a restart dials
// again): the operator's clients found each other through the publisher's
// tracker, down by then.
func (r *partialRig) download(t *testing.T, ctx context.Context, e *Engine) <-chan error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- e.Download(ctx, r.meta.Torrent, nil, nil) }()
	waitUntil(t, ctx, "the download starts", func() bool { return e.held(r.ih) != nil })
	e.held(r.ih).AddPeers([]torrent.PeerInfo{{Addr: torrent.PeerRemoteAddr(net.TCPAddrFromAddrPort(loopback(r.peer)))}})
	return done
}

// caughtUp waits until e's download of the torrent holds every piece the
// rig's peer holds, and returns its torrent then.
func (r *partialRig) caughtUp(t *testing.T, ctx context.Context, e *Engine) *torrent.Torrent {
	t.Helper()
	var tt *torrent.Torrent
	waitUntil(t, ctx, "the download has every piece the peer has", func() bool {
		tt = e.held(r.ih)
		pt := r.peer.held(r.ih)
		return tt != nil && pt != nil && tt.BytesCompleted() > 0 && tt.BytesCompleted() == pt.BytesCompleted()
	})
	return tt
}

// waitUntil waits until cond holds, or fails the test when ctx ends.
func waitUntil(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		if ctx.Err() != nil {
			t.Fatalf("%s: not within the test's time", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestPartialPeerKept: a download whose only peer holds part of the
// archive, and no piece it still lacks (the seeder of both stopped), is
// not restarted: no connection is stuck, and a restart only dropped the
// peer (one found through a tracker that was down then was never found
// again, and an operator's third client failed with "listed 3 peers, none
// answered"). The peer stays connected, and once it gets the remaining
// pieces (a seeder comes back) the download completes from it, without a
// restart. Before, the download was restarted at every stall (3 times).
func TestPartialPeerKept(t *testing.T) {
	t.Parallel() // a waiting test (swarm_test.go)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r := newPartialRig(t, ctx)
	var restarts atomic.Int32
	d := r.downloader(t, time.Minute, &restarts)
	done := r.download(t, ctx, d)
	tt := r.caughtUp(t, ctx, d)
	conns := tt.PeerConns()
	if len(conns) != 1 {
		t.Fatalf("%d peers connected, want the one", len(conns))
	}
	// Three stall restart times with the peer connected and nothing to get.
	for end := time.Now().Add(3 * partialStall); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		select {
		case err := <-done:
			t.Fatalf("the download ended while its peer was connected: %v", err)
		default:
		}
		if nt := d.held(r.ih); nt != tt {
			t.Fatalf("the torrent was replaced (restarts logged: %d)", restarts.Load())
		}
		if !slices.Contains(tt.PeerConns(), conns[0]) {
			t.Fatalf("the peer's connection was dropped (restarts logged: %d)", restarts.Load())
		}
	}
	if n := restarts.Load() + r.restarts.Load(); n != 0 {
		t.Fatalf("%d restarts logged with no connection stuck", n)
	}

	// The seeder comes back (the same archive, so the same torrent) and the
	// peer is told of it: it completes, and the download with it.
	seedDir := t.TempDir()
	seeder := newEngine(t, seedDir, 0)
	if _, ih := seedRandom(t, ctx, seeder, seedDir, r.name, partialSize); ih != r.ih {
		t.Fatalf("the seeder back has torrent %v, want %v", ih, r.ih)
	}
	r.peer.held(r.ih).AddPeers(directPeers([]netip.AddrPort{loopback(seeder)}))
	if err := <-done; err != nil {
		t.Fatalf("download: %v", err)
	}
	if err := <-r.peerDone; err != nil {
		t.Fatalf("the peer's download: %v", err)
	}
	if n := restarts.Load() + r.restarts.Load(); n != 0 {
		t.Errorf("%d restarts logged", n)
	}
	if got, err := os.ReadFile(filepath.Join(d.dir, r.name)); err != nil || !bytes.Equal(got, r.data) {
		t.Fatalf("downloaded payload differs (%v)", err)
	}
}

// TestPartialPeerNoSource: a download whose only peer holds none of the
// pieces it lacks, with nothing else to come, fails after GiveUpAfter and
// says so: the peer is connected, and how many pieces are missing. Before,
// a connected peer counted as a source for good: the download was
// restarted three times, then waited for its caller's stall timeout (two
// minutes in dist-client); with the peer found through a tracker that was
// down, the restart lost it, and the error said it "listed 1 peer, none
// answered".
func TestPartialPeerNoSource(t *testing.T) {
	t.Parallel() // a waiting test (swarm_test.go)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r := newPartialRig(t, ctx)
	const giveUp = 2 * time.Second
	var restarts atomic.Int32
	d := r.downloader(t, giveUp, &restarts)
	done := r.download(t, ctx, d)
	r.caughtUp(t, ctx, d)
	caught := time.Now()
	err := <-done
	took := time.Since(caught)
	var ns *NoSourceError
	if !errors.As(err, &ns) {
		t.Fatalf("download ended with %v after %v; want a no-source error after about %v", err, took, giveUp)
	}
	missing := 0
	for _, run := range r.peer.held(r.ih).PieceStateRuns() {
		if !run.Complete {
			missing += run.Length
		}
	}
	want := fmt.Sprintf("1 peer connected, none has the pieces still missing (%d of 64 pieces)", missing)
	if msg := err.Error(); !strings.Contains(msg, want) || strings.Contains(msg, "answered") {
		t.Errorf("%q\nwant it to say %q, and nothing of peers not answering", msg, want)
	}
	// The peer counted as a source until it was seen holding nothing
	// missing (a look a second after the last data), then GiveUpAfter.
	if took > giveUp+3*time.Second {
		t.Errorf("gave up %v after it had what the peer had; want about %v", took, giveUp)
	}
	if n := restarts.Load() + r.restarts.Load(); n != 0 {
		t.Errorf("%d restarts logged", n)
	}
	t.Logf("gave up %v after catching up: %v", took.Round(10*time.Millisecond), err)
}
