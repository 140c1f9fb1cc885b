package swarm

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/anacrolix/torrent"
)

// TestSharedDownloadWriteErrorEndsBoth: two Downloads of one torrent; every
// chunk write fails (a full disk). The first caller gets the write error
// and returns; the second must fail too, not go on receiving chunks that
// cannot be written until its own deadline (found by a review: it received
// 4.9 GB for a 4 MiB torrent in 20 s).
func TestSharedDownloadWriteErrorEndsBoth(t *testing.T) {
	seedDir, dir := t.TempDir(), t.TempDir()
	seeder := newEngine(t, seedDir, 0)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	meta, ih := seedRandom(t, ctx, seeder, seedDir, "full-1.0.0.tar.zst", 4<<20)
	e, err := New(Config{Dir: dir, ListenAddr: "127.0.0.1:0", DisableTrackers: true, GiveUpAfter: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	first := make(chan error, 1)
	go func() { first <- e.Download(ctx, meta.Torrent, nil, nil) }()
	for !e.Has(ih) {
		time.Sleep(10 * time.Millisecond)
	}
	second := make(chan error, 1)
	go func() { second <- e.Download(ctx, meta.Torrent, nil, nil) }()
	for e.downloadRunning(ih) && func() bool { e.mu.Lock(); defer e.mu.Unlock(); return e.callers[ih] < 2 }() {
		time.Sleep(10 * time.Millisecond)
	}
	// Every write fails from now on: the payload's descriptor is read-only.
	part := filepath.Join(dir, "full-1.0.0.tar.zst.part")
	if err := os.WriteFile(part, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	ro, err := os.Open(part)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	e.files.mu.Lock()
	o := e.files.files[ih]
	e.files.mu.Unlock()
	o.mu.Lock()
	o.f, o.writable, o.checked = newPayloadFile(ro), true, time.Now().Add(time.Hour)
	o.mu.Unlock()
	e.mu.Lock()
	tor := e.torrents[ih]
	e.mu.Unlock()
	tor.AddPeers([]torrent.PeerInfo{{Addr: torrent.PeerRemoteAddr(net.TCPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(seeder.Port())))), Trusted: true}})

	if err := <-first; err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("first download: %v, want the write error", err)
	}
	select {
	case err := <-second:
		if err == nil {
			t.Fatal("second download succeeded although no write can succeed")
		}
		t.Logf("second download: %v", err)
	case <-time.After(20 * time.Second):
		st := tor.Stats()
		t.Fatalf("second download still running 20 s after the first failed on a write error (received %d bytes, %d complete)", st.BytesReadData.Int64(), tor.BytesCompleted())
	}
}
