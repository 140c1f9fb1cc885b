package torrent

import (
	"errors"
	"testing"
	"time"
)

// TestVerifyClosedTorrentReleasesLock: VerifyDataContext on a piece of a
// torrent that was dropped returns errTorrentClosed and leaves the client
// lock free. Upstream returned holding it, and every later call into the
// client (a status read, another torrent's download) blocked for good
// (patch 32).
func TestVerifyClosedTorrentReleasesLock(t *testing.T) {
	cl, tor := testTorrent(t, 4, emptyStorage{})
	p := tor.Piece(1)
	tor.Drop()
	if err := p.VerifyData(); !errors.Is(err, errTorrentClosed) {
		t.Fatalf("VerifyData on a dropped torrent = %v, want errTorrentClosed", err)
	}
	done := make(chan struct{})
	go func() {
		cl.Stats() // takes the client lock
		close(done)
	}()
	select {
	case <-done:
		cl.Close()
	case <-time.After(5 * time.Second):
		t.Fatal("the client lock is still held after VerifyData returned") // (and Close would wait for it)
	}
}
