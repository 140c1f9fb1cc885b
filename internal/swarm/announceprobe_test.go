package swarm

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/nettest"
	"github.com/distpac/distpac/internal/torrentmeta"
	"github.com/distpac/distpac/internal/tracker"
)

// seedAnnouncing starts an engine paced by pace that seeds n small
// torrents announced to trackers (a tier each), and returns it and their
// infohashes.
func seedAnnouncing(t *testing.T, pace announcePace, trackers []string, n int) (*Engine, []InfoHash) {
	t.Helper()
	dir := t.TempDir()
	e, err := New(Config{Dir: dir, ListenAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	e.ann.pace = pace // before the first torrent
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var ihs []InfoHash
	for i := range n {
		path := filepath.Join(dir, fmt.Sprintf("p%d-1.0.0.tar.zst", i))
		writeRandom(t, path, 1024+i)
		meta, err := torrentmeta.BuildTrackers(path, trackers, "")
		if err != nil {
			t.Fatal(err)
		}
		ih, err := e.Seed(ctx, meta.Torrent, true)
		if err != nil {
			t.Fatal(err)
		}
		ihs = append(ihs, ih)
	}
	return e, ihs
}

// TestRefusedTrackerBackWithinSeconds: a tracker that refused connections
// long enough for the torrents' backoff to pass 4 s comes back, and every
// torrent is listed there within a probe and a spread (0.7 s), not when
// its wait runs out. Before, each waited its backoff out (8 s here, up to
// 5 minutes: a mirror not found by new clients for minutes after its
// publisher came back, an operator's run).
func TestRefusedTrackerBackWithinSeconds(t *testing.T) {
	t.Parallel() // a waiting test (swarm_test.go)

	addr := nettest.FreeAddr(t) // nothing listens yet: refused
	pace := announcePace{retry: 250 * time.Millisecond, retryMax: announceRetryMax, probe: 500 * time.Millisecond, spread: 200 * time.Millisecond, wakeEvery: wakeEvery}
	e, ihs := seedAnnouncing(t, pace, []string{"http://" + addr + "/announce"}, 3)
	// Failures at 0, 0.25, 0.75, 1.75, 3.75 and 7.75 s without probes
	// (which fail too, and double the wait).
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		done := 0
		for _, ih := range ihs {
			if st := e.TrackerStatus(ih); len(st) == 1 && st[0].Failures >= 6 {
				done++
			}
		}
		if done == len(ihs) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the torrents never failed 6 times: %+v", e.TrackerStatus(ihs[0]))
		}
	}
	t.Logf("every torrent listed %v after the tracker came back", trackerBackAt(t, addr, e, ihs, 4*time.Second))
}

// trackerBackAt serves a tracker at addr until the test ends, and returns
// how soon it listed e's seeder in each of ihs, failing the test past
// within.
func trackerBackAt(t *testing.T, addr string, e *Engine, ihs []InfoHash, within time.Duration) time.Duration {
	t.Helper()
	trk := tracker.New(tracker.Options{})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: trk.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	back := time.Now()
	me := loopback(e)
	for _, ih := range ihs {
		for !slices.Contains(trk.Peers(ih), me) {
			if time.Since(back) > within {
				t.Fatalf("%v after the tracker came back it lists %v of %v, want every torrent's seeder %v", time.Since(back).Round(time.Millisecond), trk.Peers(ih), ih, me)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return time.Since(back).Round(time.Millisecond)
}

// TestFailingTrackerKeepsBackoff: a tracker that answers with an error
// (HTTP 500) is asked once per announce, on each torrent's own backoff,
// and never probed: 3 torrents paced at 400 ms ask it twice each in the
// first second. Before, an announce asked a failing tracker not yet
// marked down twice (once as not down, once more as down): 7 requests.
func TestFailingTrackerKeepsBackoff(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		http.Error(w, "busy", http.StatusInternalServerError)
	}))
	defer srv.Close()
	pace := announcePace{retry: 400 * time.Millisecond, retryMax: announceRetryMax, probe: 20 * time.Millisecond, spread: 10 * time.Millisecond, wakeEvery: 0}
	start := time.Now()
	seedAnnouncing(t, pace, []string{srv.URL + "/announce"}, 3)
	// Asked at 0 and 0.36-0.44 s, then at 1.08 s at the earliest.
	time.Sleep(time.Second - time.Since(start))
	if n := hits.Load(); n < 3 || n > 6 {
		t.Errorf("a tracker answering 500 was asked %d times in a second by 3 torrents paced at 400 ms, want 3 to 6", n)
	}
}

// TestReannounceWakesFailing: torrents whose tracker failed with an error
// (not probed: it answers) wait their backoff (10 s here), unless the
// engine's owner knows the tracker is back (a mirror that synced its
// primary's catalog again): Reannounce has them announce within the
// spread.
func TestReannounceWakesFailing(t *testing.T) {
	trk := tracker.New(tracker.Options{})
	var up atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !up.Load() {
			http.Error(w, "starting", http.StatusServiceUnavailable)
			return
		}
		trk.Handler().ServeHTTP(w, r)
	}))
	defer srv.Close()
	pace := announcePace{retry: 10 * time.Second, retryMax: announceRetryMax, probe: refusedProbe, spread: 200 * time.Millisecond, wakeEvery: wakeEvery}
	e, ihs := seedAnnouncing(t, pace, []string{srv.URL + "/announce"}, 2)
	for _, ih := range ihs {
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if st := e.TrackerStatus(ih); len(st) == 1 && st[0].Failures > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no failed announce of %v: %+v", ih, e.TrackerStatus(ih))
			}
		}
	}
	up.Store(true)
	e.Reannounce()
	me := loopback(e)
	for _, ih := range ihs {
		for deadline := time.Now().Add(3 * time.Second); !slices.Contains(trk.Peers(ih), me); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("3 s after Reannounce the tracker lists %v of %v, want %v", trk.Peers(ih), ih, me)
			}
		}
	}
}

// TestProbeOutlastsSlowAnnounce: a torrent whose first tracker refuses and
// whose second is slow to fail is probed once its announce has failed,
// and listed soon after the first comes back. The probe started at the
// refusal, looked while the announce still waited for the second tracker
// (no torrent had failed yet), and ended; none started after, and the
// torrent waited its backoff (10 s here, up to 5 minutes).
func TestProbeOutlastsSlowAnnounce(t *testing.T) {
	addr := nettest.FreeAddr(t) // nothing listens yet: refused
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		time.Sleep(300 * time.Millisecond)
		http.Error(w, "busy", http.StatusServiceUnavailable)
	}))
	defer slow.Close()
	pace := announcePace{retry: 10 * time.Second, retryMax: announceRetryMax, probe: 50 * time.Millisecond, spread: 10 * time.Millisecond, wakeEvery: wakeEvery}
	e, ihs := seedAnnouncing(t, pace, []string{"http://" + addr + "/announce", slow.URL + "/announce"}, 1)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if st := e.TrackerStatus(ihs[0]); len(st) == 2 && st[0].Failures > 0 && st[1].Failures > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no failed announce: %+v", e.TrackerStatus(ihs[0]))
		}
	}
	trackerBackAt(t, addr, e, ihs, 3*time.Second)
}

// TestProbeAsksOnlyTheRefusedTracker: a torrent whose 16 trackers all
// refuse connections (a hostile or stale announce-list) has each of them
// asked about once a probe, not the whole list once per probe of each: a
// probe woke a full announce, so 16 probes every 10 s dialled 256 times
// (16² per probe period), and the catalog's 64 trackers could make every
// client dial third parties hundreds of times a second.
func TestProbeAsksOnlyTheRefusedTracker(t *testing.T) {
	const n = 16
	var trackers []string
	for range n {
		trackers = append(trackers, "http://"+nettest.Refused(t)+"/announce")
	}
	pace := announcePace{retry: time.Minute, retryMax: announceRetryMax, probe: 100 * time.Millisecond, spread: 10 * time.Millisecond, wakeEvery: wakeEvery}
	e, ihs := seedAnnouncing(t, pace, trackers, 1)
	asked := func() int {
		sum := 0
		for _, st := range e.TrackerStatus(ihs[0]) {
			sum += st.Failures
		}
		return sum
	}
	for deadline := time.Now().Add(10 * time.Second); asked() < n; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the first announce never failed at every tracker: %+v", e.TrackerStatus(ihs[0]))
		}
	}
	before := asked()
	time.Sleep(time.Second)
	// 10 probes of each in a second, give or take the jitter.
	got := asked() - before
	t.Logf("%d refused trackers asked %d times in a second", n, got)
	if got > 13*n {
		t.Errorf("%d refused trackers were asked %d times in a second probed every 100 ms, want at most %d (each about once a probe)", n, got, 13*n)
	}
}
