package swarm

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/torrentmeta"
)

// TestDeletedArchiveIsDropped: an archive deleted under a seeding engine
// (dist-client clean while the daemon seeds the cache) is dropped as soon
// as a peer's request reads the missing file, not seeded on with failing
// reads and downloaded again; a leecher that asked gets no bytes from it
// and fails fast for want of a source instead of stalling on it. Before,
// the seeder kept the torrent, marked the pieces it failed to read missing
// and downloaded them again.
func TestDeletedArchiveIsDropped(t *testing.T) {
	t.Parallel() // a waiting test (swarm_test.go)
	seedDir := t.TempDir()
	seeder := newEngine(t, seedDir, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	meta, ih := seedRandom(t, ctx, seeder, seedDir, "pkg-1.0.0.tar.zst", 256<<10)
	path := filepath.Join(seedDir, "pkg-1.0.0.tar.zst")
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	time.Sleep(linkCheck + 100*time.Millisecond) // the open descriptor's next check sees the file gone

	leecher, err := New(Config{Dir: t.TempDir(), ListenAddr: "127.0.0.1:0", DisableTrackers: true, GiveUpAfter: 4 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer leecher.Close()
	err = leecher.Download(ctx, meta.Torrent, []netip.AddrPort{loopback(seeder)}, nil)
	var noSource *NoSourceError
	if !errors.As(err, &noSource) {
		t.Errorf("download from a seeder whose archive was deleted: %v, want no source", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for seeder.Has(ih) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if seeder.Has(ih) {
		t.Fatalf("the seeder still holds the torrent of its deleted archive: %+v", seeder.Torrents())
	}
	if _, err := os.Stat(path + ".part"); err == nil {
		t.Error("the seeder started downloading the deleted archive again")
	}
}

// TestDropVanished: a torrent nobody asks for whose archive was deleted is
// dropped by DropVanished (the daemon's periodic look); one whose file is
// there, and one being downloaded, are kept.
func TestDropVanished(t *testing.T) {
	dir := t.TempDir()
	e := newEngine(t, dir, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var ihs []string
	for _, name := range []string{"gone-1.0.0.tar.zst", "kept-1.0.0.tar.zst"} {
		_, ih := seedRandom(t, ctx, e, dir, name, 64<<10+len(name))
		ihs = append(ihs, ih.HexString())
	}
	if got := e.DropVanished(); len(got) != 0 {
		t.Fatalf("DropVanished with every file there dropped %q", got)
	}
	if err := os.Remove(filepath.Join(dir, "gone-1.0.0.tar.zst")); err != nil {
		t.Fatal(err)
	}
	// A download with no source, under way: its .part is not written yet.
	pendDir := t.TempDir()
	pend := filepath.Join(pendDir, "pending-1.0.0.tar.zst")
	writeRandom(t, pend, 64<<10)
	pendMeta, err := torrentmeta.Build(pend, "", "")
	if err != nil {
		t.Fatal(err)
	}
	dctx, stop := context.WithCancel(ctx)
	defer stop()
	downloading := make(chan error, 1)
	go func() { downloading <- e.Download(dctx, pendMeta.Torrent, nil, nil) }()
	pendIH, _ := ParseInfoHash(pendMeta.InfoHash)
	for deadline := time.Now().Add(5 * time.Second); !e.downloadRunning(pendIH); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the download did not start")
		}
	}
	if got := e.DropVanished(); !slices.Equal(got, []string{"gone-1.0.0.tar.zst"}) {
		t.Fatalf("DropVanished = %q, want only the deleted archive, not the one being downloaded", got)
	}
	if !e.Has(pendIH) {
		t.Fatal("DropVanished dropped a download under way")
	}
	stop()
	<-downloading
	var left []string
	for _, ts := range e.Torrents() {
		if ts.InfoHash != pendIH.HexString() {
			left = append(left, ts.InfoHash)
		}
	}
	if !slices.Equal(left, ihs[1:]) {
		t.Errorf("seeded torrents left %q, want only %q", left, ihs[1:])
	}
}

// TestVanishedDroppedOnce: two looks that listed the torrents before
// either dropped the deleted archive's (the daemon's status and its
// periodic look, at the same moment) report it once between them, so the
// log says "removed from disk" once. Before, both dropped it and both
// said so.
func TestVanishedDroppedOnce(t *testing.T) {
	dir := t.TempDir()
	e := newEngine(t, dir, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, ih := seedRandom(t, ctx, e, dir, "gone-1.0.0.tar.zst", 64<<10)
	path := filepath.Join(dir, "gone-1.0.0.tar.zst")
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	absent := func() bool { return payloadAbsent(path) }
	// Each look listed the torrent, then drops it: the second finds it
	// gone already.
	if !e.dropIdle(ih, absent) {
		t.Fatal("the first look did not drop the torrent of a deleted archive")
	}
	if e.dropIdle(ih, absent) {
		t.Error("the second look reported dropping a torrent the first had dropped")
	}
}
