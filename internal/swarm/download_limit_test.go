package swarm

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/torrentmeta"
)

// TestDownloadsAtOnceBounded: an engine asked for more downloads than
// maxDownloadsAtOnce adds only that many torrents; the others wait, start
// when a download ends, and give up when their context ends without ever
// adding their torrent. (An install of 1,000 small packages started them all
// at once.)
func TestDownloadsAtOnceBounded(t *testing.T) {
	const asked = maxDownloadsAtOnce + 3
	src, dir := t.TempDir(), t.TempDir()
	metas := make([]torrentmeta.Meta, asked)
	for i := range metas {
		path := filepath.Join(src, fmt.Sprintf("p%03d-1.0.0.tar.zst", i))
		writeRandom(t, path, 1000+i)
		m, err := torrentmeta.Build(path, "", "")
		if err != nil {
			t.Fatal(err)
		}
		metas[i] = m
	}
	// No source anywhere: every download that starts waits for one.
	e, err := New(Config{Dir: dir, ListenAddr: "127.0.0.1:0", DisableTrackers: true, GiveUpAfter: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	added := func() int {
		e.mu.Lock()
		defer e.mu.Unlock()
		return len(e.torrents)
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !ok(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("after 10 s: %s (%d torrents added)", what, added())
			}
		}
	}

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
	if err := <-errs; !errors.Is(err, context.Canceled) {
		t.Fatalf("the cancelled download returned %v", err)
	}
	waitFor("a waiting download starts when one ends", func() bool { return added() == maxDownloadsAtOnce+1 })

	// The rest end with their context; the two still waiting never add their torrent.
	stopAll()
	for range asked - 1 {
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
