package tracker

import (
	"context"
	"testing"

	anacrolixTracker "github.com/anacrolix/torrent/tracker"
)

// TestTalliesOneHome: a torrent's completed count lives in one map,
// whether its swarm is live or not. It outlives its swarm (its last peer
// stopped) and is there when a swarm of it is made again; the tallies of
// torrents with no swarm are at most MaxTorrents (past that a count goes
// with its swarm, as it did with the carried map); a live swarm's is
// always kept, even beyond MaxTorrents (the server's pinned seeders).
func TestTalliesOneHome(t *testing.T) {
	stop := func(tr *Tracker, ih [20]byte, port uint16) {
		t.Helper()
		req := anacrolixTracker.AnnounceRequest{InfoHash: ih, Port: port, Event: anacrolixTracker.Stopped}
		if err := tr.TrackAnnounce(context.Background(), req, loopback(port)); err != nil {
			t.Fatal(err)
		}
	}
	a, b, c := infoHash(1), infoHash(2), infoHash(3)

	tr := New(Options{Now: newFakeClock().Now, MaxTorrents: 2})
	for _, ih := range [][20]byte{a, b} {
		completeAt(t, tr, ih, 7001)
		stop(tr, ih, 7001)
	}
	completeAt(t, tr, c, 7001)
	stop(tr, c, 7001) // a third torrent with no swarm: over the bound
	for ih, want := range map[[20]byte]int32{a: 1, b: 1, c: 0} {
		if got := completedOf(t, tr, ih); got != want {
			t.Errorf("%x with no swarm: %d completed, want %d", ih[:2], got, want)
		}
	}
	if len(tr.tallies) != 2 || tr.idleTallies != 2 {
		t.Errorf("%d tallies, %d idle; want 2, 2", len(tr.tallies), tr.idleTallies)
	}
	completeAt(t, tr, a, 7002) // a swarm of a again: its count goes on
	if got := completedOf(t, tr, a); got != 2 {
		t.Errorf("a swarm made again: %d completed, want 2", got)
	}
	if tr.idleTallies != 1 {
		t.Errorf("%d idle tallies with a's swarm live, want 1", tr.idleTallies)
	}

	pinned := New(Options{Now: newFakeClock().Now, MaxTorrents: 2})
	for _, ih := range [][20]byte{a, b, c} {
		pinned.AddPeer(ih, loopback(6881), true)
		completeAt(t, pinned, ih, 7001)
	}
	for _, ih := range [][20]byte{a, b, c} {
		if got := completedOf(t, pinned, ih); got != 1 {
			t.Errorf("%x, pinned beyond MaxTorrents: %d completed, want 1", ih[:2], got)
		}
	}
}
