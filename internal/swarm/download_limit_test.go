package swarm

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"

	"github.com/distpac/distpac/internal/torrentmeta"
)

// TestDownloadsAtOnceBounded: an engine asked for more downloads than
// maxDownloadsAtOnce adds only that many torrents; the others wait, start
// when a download ends, and give up when their context ends without ever
// adding their torrent. (An install of 1,000 small packages started them all
// at once.)
func TestDownloadsAtOnceBounded(t *testing.T) {
	const asked = maxDownloadsAtOnce + 3
	e, metas, added, waitFor := sourcelessDownloads(t, asked)
	defer e.Close()

	parent, stopAll := context.WithCancel(context.Background())
	defer stopAll()
	cancels := map[string]context.CancelFunc{}
	errs := make(chan error, asked)
	for _, m := range metas {
		ctx, cancel := context.WithCancel(parent)
		cancels[m.InfoHash] = cancel
		go func() { errs <- e.Download(ctx, m.Torrent, nil, nil) }()
	}
	waitFor("the first downloads add their torrents", func() bool { return added() >= maxDownloadsAtOnce })
	time.Sleep(300 * time.Millisecond)
	if n := added(); n != maxDownloadsAtOnce {
		t.Fatalf("%d downloads asked: %d torrents added, want %d", asked, n, maxDownloadsAtOnce)
	}

	// One running download ends: one waiting download takes its place.
	e.mu.Lock()
	var running string
	for ih := range e.torrents {
		running = ih.HexString()
		break
	}
	e.mu.Unlock()
	cancels[running]()
	delete(cancels, running)
	if err := <-errs; !errors.Is(err, context.Canceled) {
		t.Fatalf("the cancelled download returned %v", err)
	}
	if ih, _ := ParseInfoHash(running); e.Has(ih) {
		t.Errorf("the cancelled download's torrent is still held")
	}
	waitFor("a waiting download starts when one ends", func() bool { return added() == maxDownloadsAtOnce+1 })

	// The two still waiting end with their context and never add their
	// torrent. (They are cancelled first: cancelling all at once through the
	// parent reaches the contexts one by one, and a waiter whose context is
	// reached late may take the turn of a download whose context was reached
	// early, as it should.)
	e.mu.Lock()
	for ih := range e.torrents {
		delete(cancels, ih.HexString())
	}
	e.mu.Unlock()
	if len(cancels) != 2 {
		t.Fatalf("%d downloads not started, want 2", len(cancels))
	}
	for _, cancel := range cancels {
		cancel()
	}
	for range 2 {
		if err := <-errs; !errors.Is(err, context.Canceled) {
			t.Fatalf("a waiting download returned %v, want context.Canceled", err)
		}
	}
	stopAll()
	for range asked - 3 {
		select {
		case err := <-errs:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("a download returned %v, want context.Canceled", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("downloads still running 10 s after their context ended")
		}
	}
	if n := added(); n != maxDownloadsAtOnce+1 {
		t.Errorf("%d torrents added in all, want %d", n, maxDownloadsAtOnce+1)
	}
}

// sourcelessDownloads makes an engine and n torrents that no peer has: every
// download that starts waits for a source (for a minute). added counts the
// torrents the engine has held; waitFor fails the test if ok is not true
// within 10 s.
func sourcelessDownloads(t *testing.T, n int) (e *Engine, metas []torrentmeta.Meta, added func() int, waitFor func(string, func() bool)) {
	t.Helper()
	src, dir := t.TempDir(), t.TempDir()
	metas = make([]torrentmeta.Meta, n)
	for i := range metas {
		path := filepath.Join(src, fmt.Sprintf("p%03d-1.0.0.tar.zst", i))
		writeRandom(t, path, 1000+i)
		m, err := torrentmeta.Build(path, "", "")
		if err != nil {
			t.Fatal(err)
		}
		metas[i] = m
	}
	e, err := New(Config{Dir: dir, ListenAddr: "127.0.0.1:0", DisableTrackers: true, GiveUpAfter: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	// Counted as added once seen held: a download given up drops its
	// torrent (abandon), and these wait a minute for a source.
	seen := map[metainfo.Hash]bool{}
	added = func() int {
		e.mu.Lock()
		defer e.mu.Unlock()
		for ih := range e.torrents {
			seen[ih] = true
		}
		return len(seen)
	}
	waitFor = func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !ok(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("after 10 s: %s (%d torrents added)", what, added())
			}
		}
	}
	return e, metas, added, waitFor
}

// TestDownloadWaitingEndsWithEngine: when the engine closes, the downloads
// it runs and the one still waiting for its turn return at once, naming why,
// and the waiting one never adds its torrent.
func TestDownloadWaitingEndsWithEngine(t *testing.T) {
	e, metas, added, waitFor := sourcelessDownloads(t, maxDownloadsAtOnce+1)
	errs := make(chan error, len(metas))
	for _, m := range metas {
		go func() { errs <- e.Download(context.Background(), m.Torrent, nil, nil) }()
	}
	waitFor("the first downloads add their torrents", func() bool { return added() >= maxDownloadsAtOnce })
	time.Sleep(100 * time.Millisecond)
	e.Close()
	for range metas {
		select {
		case err := <-errs:
			if !errors.Is(err, errEngineClosed) {
				t.Errorf("a download returned %v, want %v", err, errEngineClosed)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("downloads still running 10 s after the engine closed")
		}
	}
	if n := added(); n != maxDownloadsAtOnce {
		t.Errorf("%d torrents added, want %d", n, maxDownloadsAtOnce)
	}
}
