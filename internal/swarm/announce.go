package swarm

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/metainfo"

	"github.com/distpac/distpac/internal/trackerclient"
)

// Every engine announces through its own announcer, built on
// internal/trackerclient; the library's tracker client is always off
// (Config.DisableTrackers only stops this one). The library's client
// panicked on a 27-byte reply and read replies without bound; owning the
// announces also gives a tracker's errors to the download loop (a refused
// tracker is reported in seconds, not after a two-minute stall), follows
// the tracker's interval, and tries the tiers of the announce-list in turn
// (BEP 12), so a dead first tracker costs one refused connection, or a
// 5-second dial or reply timeout (one that accepts and never answers).

// Announce pacing.
const (
	// announceRetry is the first wait after a failed announce; it doubles
	// up to announceRetryMax. A tracker that refuses connections is asked
	// again sooner (refusedProbe, announceprobe.go).
	announceRetry    = 5 * time.Second
	announceRetryMax = 5 * time.Minute
	// hungryAnnounce is how soon a download with no peer connected that
	// has a piece it lacks asks again (doubling up to the tracker's
	// interval): on a new swarm the first announce may come before any
	// seeder registered.
	hungryAnnounce = 5 * time.Second
	// announcesInFlight bounds concurrent announces of one engine, so that
	// an install of a thousand packages does not open a thousand
	// connections to the tracker at once.
	announcesInFlight = 16
	// numWant is how many peers a download asks for; a complete torrent
	// asks for none (peers that want it connect to it).
	numWant = 50
	// stoppedBudget bounds how long closing an engine spends telling
	// trackers it leaves. The library did not wait for its own "stopped"
	// announces, so a process that exited right after (every `dist-client
	// install`) stayed listed until it expired.
	stoppedBudget = 500 * time.Millisecond
)

// TrackerStatus is what one tracker last said about one torrent.
type TrackerStatus struct {
	URL string
	// At is when the last announce ended; zero if none yet.
	At time.Time
	// Err is the last announce's failure, nil after a success.
	Err error
	// Peers is how many usable peers the last good reply listed;
	// Seeders and Leechers are the tracker's counts (-1 when not sent).
	Peers, Seeders, Leechers int
	// Failures counts the announces that failed in a row up to the last
	// one, the first of them at FailingSince; 0 after a success.
	Failures     int
	FailingSince time.Time
}

type announcer struct {
	client *trackerclient.Client
	logger *slog.Logger
	port   uint16
	peerID [20]byte
	sem    chan struct{}
	stop   chan struct{} // closed when the engine closes
	pace   announcePace  // set before the first torrent is tracked

	mu   sync.Mutex
	jobs map[metainfo.Hash]*announceJob // guarded by mu

	downMu sync.Mutex
	down   map[string]time.Time // tracker URL -> until when it counts as down; guarded by downMu
	// probing holds the trackers that refused a connection and are
	// probed (announceprobe.go); woke, when each last woke the torrents
	// failing there. Both guarded by downMu.
	probing map[string]bool
	woke    map[string]time.Time

	logMu sync.Mutex
	logs  map[logKey]*trackerLog // what was logged of each tracker (announcelog.go); guarded by logMu
	// logClosed is set when the announcer closes: no more quiet-window
	// timers. Guarded by logMu.
	logClosed bool
	// quiet is answersLoggedEvery; a test shortens it.
	quiet time.Duration
}

// trackerDownFor is how long a tracker that did not answer an announce
// (refused, timed out, an HTTP error, a bad reply) is asked only after the
// trackers behind it have failed too, by every torrent of the engine. A
// dead first tracker then costs its timeout once per engine, not once per
// torrent: an install of 250 packages, 16 announces at a time, would wait
// 16 rounds of 5 s on one that accepts and never answers.
const trackerDownFor = 30 * time.Second

func (a *announcer) isDown(u string, now time.Time) bool {
	a.downMu.Lock()
	defer a.downMu.Unlock()
	return now.Before(a.down[u])
}

// noteResult records whether tracker u answered, and reports whether it
// answers again after it did not. A refusal ("failure reason") is the
// tracker answering about one torrent, not being down. A tracker that
// refused the connection is probed once the announce has failed
// (startProbe).
func (a *announcer) noteResult(u string, err error) (back bool) {
	var refused *trackerclient.FailureError
	a.downMu.Lock()
	defer a.downMu.Unlock()
	switch {
	case err == nil || errors.As(err, &refused):
		_, back = a.down[u]
		delete(a.down, u)
	default:
		a.down[u] = time.Now().Add(trackerDownFor)
	}
	return back
}

func newAnnouncer(localIP netip.Addr, port uint16, peerID [20]byte, logger *slog.Logger) *announcer {
	return &announcer{
		logger:  logger,
		client:  &trackerclient.Client{HTTP: trackerclient.NewHTTPClient(localIP), UserAgent: "distpac"},
		port:    port,
		peerID:  peerID,
		sem:     make(chan struct{}, announcesInFlight),
		stop:    make(chan struct{}),
		jobs:    map[metainfo.Hash]*announceJob{},
		down:    map[string]time.Time{},
		probing: map[string]bool{},
		woke:    map[string]time.Time{},
		logs:    map[logKey]*trackerLog{},
		quiet:   answersLoggedEvery,
		pace:    defaultPace,
	}
}

// httpTiers returns the announce-list's tiers with only http(s) trackers.
func httpTiers(mi *metainfo.MetaInfo) [][]string {
	var out [][]string
	for _, tier := range mi.UpvertedAnnounceList() {
		var keep []string
		for _, u := range tier {
			if p, err := url.Parse(u); err == nil && (p.Scheme == "http" || p.Scheme == "https") && p.Host != "" && !slices.Contains(keep, u) {
				keep = append(keep, u)
			}
		}
		if len(keep) > 0 {
			out = append(out, keep)
		}
	}
	return out
}

// track starts announcing t to the trackers of mi, unless it is already.
func (a *announcer) track(t *torrent.Torrent, mi *metainfo.MetaInfo) {
	tiers := httpTiers(mi)
	if len(tiers) == 0 {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	select {
	case <-a.stop:
		return
	default:
	}
	if _, ok := a.jobs[t.InfoHash()]; ok {
		return
	}
	j := &announceJob{a: a, t: t, tiers: tiers, quit: make(chan struct{}), done: make(chan struct{}), wake: make(chan struct{}, 1), probe: make(chan string, 1)}
	a.jobs[t.InfoHash()] = j
	go j.run()
}

// untrack stops announcing a torrent and tells its tracker it left,
// within stoppedBudget.
func (a *announcer) untrack(ih metainfo.Hash) {
	a.mu.Lock()
	j := a.jobs[ih]
	delete(a.jobs, ih)
	a.mu.Unlock()
	if j != nil {
		close(j.quit)
		<-j.done
		ctx, cancel := context.WithTimeout(context.Background(), stoppedBudget)
		defer cancel()
		j.sendStopped(ctx)
	}
}

// close stops every job and sends their "stopped" announces at once,
// within stoppedBudget in all. Call it before the library's client closes
// (the announces read the torrents' counters).
func (a *announcer) close() {
	a.mu.Lock()
	close(a.stop)
	jobs := make([]*announceJob, 0, len(a.jobs))
	for _, j := range a.jobs {
		jobs = append(jobs, j)
	}
	a.jobs = map[metainfo.Hash]*announceJob{}
	a.mu.Unlock()
	a.closeLogs()
	ctx, cancel := context.WithTimeout(context.Background(), stoppedBudget)
	defer cancel()
	var wg sync.WaitGroup
	for _, j := range jobs {
		close(j.quit)
		wg.Go(func() {
			<-j.done
			j.sendStopped(ctx)
		})
	}
	wg.Wait()
}

// statuses returns what each tracker of a torrent last said, in tier order.
func (a *announcer) statuses(ih metainfo.Hash) []TrackerStatus {
	a.mu.Lock()
	j := a.jobs[ih]
	a.mu.Unlock()
	if j == nil {
		return nil
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []TrackerStatus
	for _, tier := range j.tiers {
		for _, u := range tier {
			st, ok := j.status.get(u)
			if !ok {
				st = TrackerStatus{URL: u, Seeders: -1, Leechers: -1}
			}
			out = append(out, st)
		}
	}
	return out
}
