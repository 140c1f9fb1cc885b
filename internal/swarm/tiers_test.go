package swarm

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/nettest"
)

// With a dead first tracker (one port refusing, one accepting and never
// answering) in front of a live one, every torrent of an engine reaches
// the live tracker, and the hanging one costs its timeout once per engine,
// not once per torrent: after the first round of announces finds it down,
// the others ask the live tracker first.
func TestDeadTrackersCostOnce(t *testing.T) {
	t.Parallel() // a waiting test (swarm_test.go)
	trk, live := startTracker(t)
	hanging, accepted := nettest.Hanging(t)
	trackers := []string{"http://" + nettest.Refused(t) + "/announce", "http://" + hanging + "/announce", live}

	const torrents = 3 * announcesInFlight
	start := time.Now()
	e, ihs := seedAnnouncing(t, defaultPace, trackers, torrents)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	me := loopback(e)
	for _, ih := range ihs {
		for !slices.Contains(trk.Peers(ih), me) {
			if ctx.Err() != nil {
				t.Fatalf("the live tracker never listed the engine for %s", ih)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	took := time.Since(start)
	t.Logf("%d torrents announced past a refused and a hanging tracker in %v; the hanging one took %d connections", torrents, took.Round(10*time.Millisecond), accepted.Load())
	// The first round (announcesInFlight at once) tries it; later torrents
	// skip it while it counts as down.
	if n := accepted.Load(); n > announcesInFlight {
		t.Errorf("the hanging tracker took %d connections for %d torrents, want at most %d (one round)", n, torrents, announcesInFlight)
	}
	// The tracker lists the engine before the engine has read the reply:
	// give the status a moment to follow.
	answering := func(st []TrackerStatus) bool { return len(st) == 3 && st[2].Err == nil && !st[2].At.IsZero() }
	st := e.TrackerStatus(ihs[len(ihs)-1])
	for !answering(st) && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
		st = e.TrackerStatus(ihs[len(ihs)-1])
	}
	if !answering(st) {
		t.Errorf("tracker status of the last torrent: %+v, want the live tracker answering", st)
	}
}
