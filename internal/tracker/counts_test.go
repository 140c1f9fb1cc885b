package tracker

import (
	"context"
	"os"
	"path/filepath"
	"strings"
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

// TestEndedWindowsUnseen: the hosts whose day ended stay in a tally until
// its list is full (tally's comment says why that is bounded and cheap),
// and nothing shows them: the saved file holds the count and no host, a
// restart restores the count alone, and each such host counts again.
func TestEndedWindowsUnseen(t *testing.T) {
	clock := newFakeClock()
	ih := infoHash(1)
	tr := New(Options{Now: clock.Now})
	tr.AddPeer(ih, loopback(6881), true)
	for port := uint16(7001); port <= 7003; port++ {
		completeAt(t, tr, ih, port)
	}
	if n := len(tr.tallies[ih].hosts); n != 1 {
		t.Fatalf("%d hosts recorded for three peers of 127.0.0.1, want 1", n)
	}
	clock.Advance(downloadWindow)
	if n := len(tr.tallies[ih].hosts); n != 1 {
		t.Fatalf("%d hosts recorded a day later, want the 1 kept until the list is full", n)
	}
	path := filepath.Join(t.TempDir(), "tracker-peers.jsonl")
	if _, err := tr.Save(path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"completed":3`) || strings.Contains(string(b), `"hosts"`) {
		t.Fatalf("saved a day later:\n%s\nwant the count of 3 and no host", b)
	}
	again := New(Options{Now: clock.Now})
	res, err := again.Restore(path)
	if err != nil || res.Hosts != 0 || res.HostsExpired != 0 {
		t.Fatalf("Restore = %+v, %v; want no host", res, err)
	}
	again.AddPeer(ih, loopback(6881), true)
	if got := completedOf(t, again, ih); got != 3 {
		t.Fatalf("restored count %d, want 3", got)
	}
	for port := uint16(7001); port <= 7003; port++ {
		completeAt(t, tr, ih, port)
	}
	if got := completedOf(t, tr, ih); got != 6 {
		t.Fatalf("the host whose day ended, three more: count %d, want 6", got)
	}
}
