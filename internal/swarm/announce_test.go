package swarm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/torrentmeta"
	"github.com/distpac/distpac/internal/tracker"
	"github.com/distpac/distpac/internal/trackerclient"
)

// A client that closes its engine leaves the tracker's swarm at once,
// instead of being handed to other clients until its entry expires.
func TestCloseAnnouncesStopped(t *testing.T) {
	trk, announce := startTracker(t)

	seedDir, leechDir := t.TempDir(), t.TempDir()
	path := filepath.Join(seedDir, "pkg-1.0.0.tar.zst")
	writeRandom(t, path, 256<<10)
	meta, err := torrentmeta.Build(path, announce, "")
	if err != nil {
		t.Fatal(err)
	}
	seeder := newEngine(t, seedDir, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ih, err := seeder.Seed(ctx, meta.Torrent, true)
	if err != nil {
		t.Fatal(err)
	}
	trk.AddPeer(ih, loopback(seeder), true)

	leecher, err := New(Config{Dir: leechDir, ListenAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if err := leecher.Download(ctx, meta.Torrent, nil, nil); err != nil {
		t.Fatal(err)
	}
	me := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(leecher.Port()))
	for deadline := time.Now().Add(10 * time.Second); !slices.Contains(trk.Peers(ih), me); {
		if time.Now().After(deadline) {
			t.Fatalf("the tracker never listed the leecher %v: %v", me, trk.Peers(ih))
		}
		time.Sleep(20 * time.Millisecond)
	}
	start := time.Now()
	leecher.Close()
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Close took %v", took)
	}
	if slices.Contains(trk.Peers(ih), me) {
		t.Errorf("after Close the tracker still lists the leecher %v", me)
	}
	if !slices.Contains(trk.Peers(ih), loopback(seeder)) {
		t.Errorf("the seeder %v went missing from the tracker", loopback(seeder))
	}
}

// startTracker runs an embedded tracker on loopback for the test and
// returns it and its announce URL.
func startTracker(t *testing.T) (*tracker.Tracker, string) {
	t.Helper()
	trk := tracker.New(tracker.Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: trk.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	return trk, "http://" + ln.Addr().String() + "/announce"
}

// TestJitterSpreadsWaits: waits stay within announceJitter of what was
// asked, and announces that waited together no longer come together.
func TestJitterSpreadsWaits(t *testing.T) {
	for _, d := range []time.Duration{time.Second, 5 * time.Second, 30 * time.Minute} {
		lo := time.Duration(float64(d) * (1 - announceJitter))
		hi := time.Duration(float64(d) * (1 + announceJitter))
		seen := map[time.Duration]bool{}
		var below, above int
		for range 1000 {
			j := jitter(d)
			if j < lo || j > hi {
				t.Fatalf("jitter(%v) = %v, want within [%v, %v]", d, j, lo, hi)
			}
			seen[j] = true
			if j < d {
				below++
			} else if j > d {
				above++
			}
		}
		if len(seen) < 900 || below < 400 || above < 400 {
			t.Errorf("jitter(%v) over 1000 draws: %d distinct, %d below, %d above; want them spread both ways", d, len(seen), below, above)
		}
	}
}

// TestTrackerStateLoggedOnce: a tracker that fails, and answers again, is
// logged once for the engine, whatever the number of torrents announced to
// it: a daemon seeding 203 archives logged 203 "tracker announce failed"
// lines when its tracker went down, and 203 "tracker answers again" (a
// newcomer's run). A refusal is about one torrent, and stays a line per
// torrent when it changes.
func TestTrackerStateLoggedOnce(t *testing.T) {
	const u = "http://t:6969/announce"
	down := errors.New("tracker http://t:6969/announce: dial tcp 127.0.0.1:6969: connect: connection refused")
	hung := errors.New("tracker http://t:6969/announce: context deadline exceeded")
	refused := fmt.Errorf("tracker %s: %w", u, &trackerclient.FailureError{Reason: "not authorized"})
	type result struct {
		torrent   string
		err, prev error
	}
	var many, back, flaps []result
	for i := range 200 {
		many = append(many, result{fmt.Sprintf("p%03d", i), down, nil})
		back = append(back, result{fmt.Sprintf("p%03d", i), nil, down})
		flaps = append(flaps, result{fmt.Sprintf("p%03d", i), down, nil}, result{fmt.Sprintf("p%03d", i), nil, down})
	}
	for _, tt := range []struct {
		name    string
		results []result
		want    []string // the lines' messages, with their tracker or torrent
	}{
		{"200 torrents fail, then answer", append(slices.Clone(many), back...),
			[]string{"tracker announce failed tracker=" + u + " first_torrent=p000", "tracker answers again tracker=" + u + " first_torrent=p000"}},
		{"the failure changes", []result{{"a", down, nil}, {"b", down, nil}, {"a", hung, down}, {"b", hung, down}, {"a", nil, hung}},
			[]string{"tracker announce failed tracker=" + u + " first_torrent=a", "tracker announce failed tracker=" + u + " first_torrent=a", "tracker answers again tracker=" + u + " first_torrent=a"}},
		// A tracker going down under load fails some announces one way
		// and some another (refused, timed out, reset): each way is said
		// once while it fails, not once per torrent whose failure differs
		// from the one before (4 lines for 4 torrents).
		{"failures alternate", []result{{"a", down, nil}, {"b", hung, nil}, {"c", down, nil}, {"d", hung, nil}, {"a", nil, down}},
			[]string{"tracker announce failed tracker=" + u + " first_torrent=a", "tracker announce failed tracker=" + u + " first_torrent=b", "tracker answers again tracker=" + u + " first_torrent=a"}},
		// A tracker that flaps between refusing and answering many
		// times a second: a line per change before (400 here).
		{"the tracker flaps", append(flaps, result{"z", hung, nil}),
			[]string{"tracker announce failed tracker=" + u + " first_torrent=p000", "tracker answers again tracker=" + u + " first_torrent=p000",
				"tracker announce failed tracker=" + u + " first_torrent=p001", "tracker announce failed tracker=" + u + " first_torrent=z"}},
		// A refusal ("failure reason") is about one torrent, but a
		// tracker refusing many logs once for them all
		// (TestTrackerStateLastWord).
		{"refusals, per tracker", []result{{"a", refused, nil}, {"b", refused, nil}, {"a", refused, refused}, {"a", nil, refused}},
			[]string{"tracker announce failed tracker=" + u + " first_torrent=a", "tracker accepts announces again tracker=" + u + " first_torrent=a"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a, lines := loggingAnnouncer(t)
			for _, r := range tt.results {
				a.logResult(u, r.torrent, r.err, r.prev)
			}
			if got := lines(); !slices.Equal(got, tt.want) {
				t.Errorf("logged:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

// loggingAnnouncer is an announcer that logs into a buffer, and a function
// returning the lines logged so far: message and attributes, without
// time, level and err.
func loggingAnnouncer(t *testing.T) (*announcer, func() []string) {
	var mu sync.Mutex
	var buf bytes.Buffer
	a := newAnnouncer(netip.Addr{}, 0, [20]byte{}, slog.New(slog.NewTextHandler(lockedWriter{&mu, &buf}, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, at slog.Attr) slog.Attr {
			if at.Key == slog.TimeKey || at.Key == slog.LevelKey || at.Key == "err" {
				return slog.Attr{}
			}
			return at
		}})))
	t.Cleanup(a.close)
	return a, func() []string {
		mu.Lock()
		defer mu.Unlock()
		var got []string
		for line := range strings.Lines(buf.String()) {
			line = strings.TrimSpace(strings.ReplaceAll(line, `"`, ""))
			line = strings.TrimPrefix(line, "msg=")
			got = append(got, line)
		}
		return got
	}
}

// TestTrackerStateLastWord: a change of a tracker's state within the
// quiet window after it was logged answering (answersLoggedEvery) is
// logged as the window ends, so that the last line about a tracker is
// what it does now: the log of a tracker that flapped and then kept
// answering ended on "failed". A change undone within the window is not
// logged, and a tracker refusing torrents ("failure reason") is logged the
// same way, once for all its torrents: 50 torrents refused and accepted
// in turn logged 500 lines over 5 rounds.
func TestTrackerStateLastWord(t *testing.T) {
	const u = "http://t:6969/announce"
	down := errors.New("tracker http://t:6969/announce: dial tcp 127.0.0.1:6969: connect: connection refused")
	refused := fmt.Errorf("tracker %s: %w", u, &trackerclient.FailureError{Reason: "not authorized"})
	type result struct {
		torrent   string
		err, prev error
	}
	var refusals []result
	for range 5 {
		for i := range 50 {
			refusals = append(refusals, result{fmt.Sprintf("p%02d", i), refused, nil})
		}
		for i := range 50 {
			refusals = append(refusals, result{fmt.Sprintf("p%02d", i), nil, refused})
		}
	}
	failed := func(first string) string { return "tracker announce failed tracker=" + u + " first_torrent=" + first }
	answers := func(first string) string { return "tracker answers again tracker=" + u + " first_torrent=" + first }
	accepts := func(first string) string {
		return "tracker accepts announces again tracker=" + u + " first_torrent=" + first
	}
	for _, tt := range []struct {
		name    string
		results []result
		want    []string // the lines once the window ended
	}{
		{"answers within the window", []result{{"a", down, nil}, {"a", nil, down}, {"b", down, nil}, {"b", nil, down}, {"c", nil, down}},
			[]string{failed("a"), answers("a"), failed("b"), answers("b")}},
		{"fails again within the window", []result{{"a", down, nil}, {"a", nil, down}, {"b", down, nil}, {"b", nil, down}, {"c", down, nil}},
			[]string{failed("a"), answers("a"), failed("b")}},
		{"50 torrents, a flapping refusal", refusals,
			[]string{failed("p00"), accepts("p00"), failed("p00"), accepts("p00")}},
		{"a refusal stays", []result{{"a", refused, nil}, {"b", nil, nil}, {"a", refused, refused}, {"b", nil, nil}},
			[]string{failed("a")}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, lines := loggingAnnouncer(t)
			a.quiet = 300 * time.Millisecond
			start := time.Now()
			for _, r := range tt.results {
				a.logResult(u, r.torrent, r.err, r.prev)
			}
			// Wait out the window (with a margin for a busy machine).
			for time.Since(start) < 3*a.quiet && len(lines()) < len(tt.want) {
				time.Sleep(10 * time.Millisecond)
			}
			time.Sleep(time.Until(start.Add(3 * a.quiet)))
			if got := lines(); !slices.Equal(got, tt.want) {
				t.Errorf("logged:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

// TestDeadTrackerLoggedOnceByEngine: an engine seeding 20 torrents whose
// tracker refuses connections logs its failure once (the old code: 20
// lines, one per torrent), with every torrent's status still failing.
func TestDeadTrackerLoggedOnceByEngine(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String() + "/announce"
	ln.Close() // a port that refuses connections
	var mu sync.Mutex
	var buf bytes.Buffer
	dir := t.TempDir()
	e, err := New(Config{Dir: dir, ListenAddr: "127.0.0.1:0", Logger: slog.New(slog.NewTextHandler(lockedWriter{&mu, &buf}, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var ihs []InfoHash
	for i := range 20 {
		path := filepath.Join(dir, fmt.Sprintf("p%02d-1.0.0.tar.zst", i))
		writeRandom(t, path, 1<<10)
		meta, err := torrentmeta.Build(path, dead, "")
		if err != nil {
			t.Fatal(err)
		}
		ih, err := e.Seed(ctx, meta.Torrent, true)
		if err != nil {
			t.Fatal(err)
		}
		ihs = append(ihs, ih)
	}
	for _, ih := range ihs {
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if st := e.TrackerStatus(ih); len(st) > 0 && st[0].Err != nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no failed announce of %v after 10s: %+v", ih, e.TrackerStatus(ih))
			}
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if n := strings.Count(buf.String(), "tracker announce failed"); n != 1 {
		t.Errorf("%d lines \"tracker announce failed\" for 20 torrents, want 1:\n%s", n, buf.String())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
