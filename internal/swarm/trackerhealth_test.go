package swarm

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/nettest"
	"github.com/distpac/distpac/internal/torrentmeta"
)

// An engine sums what its torrents' announces met, by tracker: one that
// refuses them (opentracker that cannot read its whitelist: "Requested
// download is not authorized") with its reason, how many failed since
// when and for how many torrents; one that does not answer as such; one
// that answers as answering. dist-server status shows it: the seeder's
// refused announces were only WARN lines in the log (a newcomer's run).
func TestTrackerHealth(t *testing.T) {
	t.Parallel() // a waiting test (swarm_test.go)
	const reason = "Requested download is not authorized for use with this tracker."
	refusing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "d14:failure reason%d:%se", len(reason), reason)
	}))
	defer refusing.Close()
	_, live := startTracker(t)
	refusingURL, deadURL := refusing.URL+"/announce", "http://"+nettest.Refused(t)+"/announce"

	dir := t.TempDir()
	e, err := New(Config{Dir: dir, ListenAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if got := newEngine(t, t.TempDir(), 0).TrackerHealth(); got != nil {
		t.Errorf("an engine that does not announce: %+v, want nil", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	for i, trackers := range [][]string{{refusingURL}, {refusingURL}, {deadURL}, {live}} {
		path := filepath.Join(dir, fmt.Sprintf("p%d-1.0.0.tar.zst", i))
		writeRandom(t, path, 1024+i)
		meta, err := torrentmeta.BuildTrackers(path, trackers, "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.Seed(ctx, meta.Torrent, true); err != nil {
			t.Fatal(err)
		}
	}
	// Every torrent announces at once, and those that failed again after
	// announceRetry (5 s): wait for the second refusal of both.
	var got []TrackerHealth
	for {
		got = e.TrackerHealth()
		if len(got) == 3 && got[0].Failures >= 4 && got[1].Failing == 1 && got[2].Torrents == 1 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("tracker health: %+v", got)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The failing first, the one with more failing torrents before.
	r, d, ok := got[0], got[1], got[2]
	if r.URL != refusingURL || r.Torrents != 2 || r.Failing != 2 || !r.Refused || r.Reason != reason {
		t.Errorf("refusing tracker: %+v, want 2 of 2 torrents refused with %q", r, reason)
	}
	if r.Since.Before(start) || !r.Since.Before(r.At) {
		t.Errorf("refusing tracker: failing since %v, last failure at %v; want since the start (%v), before the last", r.Since, r.At, start)
	}
	if d.URL != deadURL || d.Failing != 1 || d.Refused || !strings.Contains(d.Reason, "refused") || strings.HasPrefix(d.Reason, "tracker ") {
		t.Errorf("dead tracker: %+v, want 1 failing, not answering, its reason without the URL", d)
	}
	if ok.URL != live || ok.Failing != 0 || ok.Failures != 0 || ok.Reason != "" || !ok.Since.IsZero() {
		t.Errorf("live tracker: %+v, want answering", ok)
	}
}
