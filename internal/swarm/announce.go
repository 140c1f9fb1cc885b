package swarm

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net"
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
	// up to announceRetryMax.
	announceRetry    = 5 * time.Second
	announceRetryMax = 5 * time.Minute
	// hungryAnnounce is how soon a download with no peer connected asks
	// again (doubling up to the tracker's interval): on a new swarm the
	// first announce may come before any seeder registered.
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

	mu   sync.Mutex
	jobs map[metainfo.Hash]*announceJob // guarded by mu

	downMu sync.Mutex
	down   map[string]time.Time // tracker URL -> until when it counts as down; guarded by downMu
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

// noteResult records whether tracker u answered. A refusal ("failure
// reason") is the tracker answering about one torrent, not being down.
func (a *announcer) noteResult(u string, err error) {
	var refused *trackerclient.FailureError
	a.downMu.Lock()
	defer a.downMu.Unlock()
	switch {
	case err == nil || errors.As(err, &refused):
		delete(a.down, u)
	default:
		a.down[u] = time.Now().Add(trackerDownFor)
	}
}

func newAnnouncer(localIP netip.Addr, port uint16, peerID [20]byte, logger *slog.Logger) *announcer {
	return &announcer{
		logger: logger,
		client: &trackerclient.Client{HTTP: trackerclient.NewHTTPClient(localIP), UserAgent: "distpac"},
		port:   port,
		peerID: peerID,
		sem:    make(chan struct{}, announcesInFlight),
		stop:   make(chan struct{}),
		jobs:   map[metainfo.Hash]*announceJob{},
		down:   map[string]time.Time{},
	}
}

// announceJob keeps one torrent announced.
type announceJob struct {
	a     *announcer
	t     *torrent.Torrent
	tiers [][]string
	quit  chan struct{} // closed to stop the job
	done  chan struct{} // closed when the job has ended

	mu        sync.Mutex
	status    map[string]TrackerStatus // by URL; guarded by mu
	announced string                   // the tracker that last took an announce; guarded by mu
	// toldCompleted: a tracker took this download's "completed";
	// completedAtStart: the torrent was complete when added (a seeder), so
	// there is none to tell. Both guarded by mu.
	toldCompleted, completedAtStart bool
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
	j := &announceJob{a: a, t: t, tiers: tiers, quit: make(chan struct{}), done: make(chan struct{}), status: map[string]TrackerStatus{}}
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
			st, ok := j.status[u]
			if !ok {
				st = TrackerStatus{URL: u, Seeders: -1, Leechers: -1}
			}
			out = append(out, st)
		}
	}
	return out
}

func (j *announceJob) run() {
	defer close(j.done)
	event := trackerclient.Started
	completeAtStart := j.t.Complete().Bool()
	j.mu.Lock()
	j.completedAtStart = completeAtStart
	j.mu.Unlock()
	completed := j.t.Complete().On()
	if completeAtStart {
		completed = nil
	}
	retry, hungry := announceRetry, hungryAnnounce
	for {
		// An announce under way when the job stops may finish for half the
		// stopped budget: the tracker must process it before the "stopped"
		// one, or it would list this node again.
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			select {
			case <-j.quit:
				time.AfterFunc(stoppedBudget/2, cancel)
			case <-ctx.Done():
			}
		}()
		res, err := j.announce(ctx, event)
		cancel()
		var wait time.Duration
		if err != nil {
			wait, retry = retry, min(2*retry, announceRetryMax)
		} else {
			retry = announceRetry
			event = trackerclient.None
			wait = res.Interval
			if !j.t.Complete().Bool() && j.t.Stats().ActivePeers == 0 {
				wait, hungry = min(wait, hungry), min(2*hungry, res.Interval)
			} else {
				hungry = hungryAnnounce
			}
		}
		timer := time.NewTimer(jitter(wait))
		select {
		case <-j.quit:
			timer.Stop()
			return
		case <-completed:
			completed = nil
			event = trackerclient.Completed
		case <-timer.C:
		}
		timer.Stop()
	}
}

// announceJitter is the spread of every wait between announces, as a
// fraction of it either way. Without it the torrents of an engine, all
// added at its start, announce in one burst every interval (a seeding
// daemon of 1,000 packages: 1,000 announces within a second, every 30
// minutes, held to announcesInFlight at a time), and every client that
// found a tracker down retries in step with the others (5, 10, 20 s ...
// after the outage), so a tracker that comes back meets them all at once.
// A tenth either way spreads announces made together over a fifth of the
// wait after one round (3 minutes of a 30-minute interval), wider with
// every round, and no wait moves far from what the tracker asked for.
const announceJitter = 0.1

// jitter returns d moved by up to announceJitter of it, either way, at
// random.
func jitter(d time.Duration) time.Duration {
	return d + time.Duration((2*rand.Float64()-1)*announceJitter*float64(d))
}

// announce tries the tiers in order, and the trackers of a tier in order,
// until one takes the announce; its peers go to the library. Trackers that
// another torrent of this engine found down a moment ago are asked last,
// after all the others failed. The error is the last tracker's when none
// took it.
func (j *announceJob) announce(ctx context.Context, event trackerclient.Event) (trackerclient.Response, error) {
	select {
	case j.a.sem <- struct{}{}:
		defer func() { <-j.a.sem }()
	case <-ctx.Done():
		return trackerclient.Response{}, ctx.Err()
	}
	req := j.request(event)
	var lastErr error
	now := time.Now()
	for _, downPass := range []bool{false, true} {
		for ti, tier := range j.tiers {
			for ui, u := range tier {
				if j.a.isDown(u, now) != downPass {
					continue
				}
				res, err := j.try(ctx, event, req, ti, ui, u)
				if ctx.Err() != nil {
					return res, ctx.Err()
				}
				if err == nil {
					return res, nil
				}
				lastErr = err
			}
		}
	}
	return trackerclient.Response{}, lastErr
}

// try announces to u, the tracker at position ui of tier ti, and records
// what it said.
func (j *announceJob) try(ctx context.Context, event trackerclient.Event, req trackerclient.Request, ti, ui int, u string) (trackerclient.Response, error) {
	tier := j.tiers[ti]
	res, err := j.a.client.Announce(ctx, u, req)
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	j.a.noteResult(u, err)
	st := TrackerStatus{URL: u, At: time.Now(), Err: err, Seeders: -1, Leechers: -1}
	if err == nil {
		st.Peers, st.Seeders, st.Leechers = len(res.Peers), res.Seeders, res.Leechers
	}
	j.mu.Lock()
	prev := j.status[u]
	if err != nil {
		st.Failures, st.FailingSince = prev.Failures+1, prev.FailingSince
		if prev.Failures == 0 {
			st.FailingSince = st.At
		}
	}
	j.status[u] = st
	if err == nil {
		j.announced = u
		if event == trackerclient.Completed {
			j.toldCompleted = true
		}
		// BEP 12: a tracker that answers moves to the front of its tier.
		if ui > 0 {
			j.tiers[ti] = append([]string{u}, slices.Delete(slices.Clone(tier), ui, ui+1)...)
		}
	}
	j.mu.Unlock()
	// One line per change of a tracker's state, not per announce.
	switch {
	case err != nil && (prev.Err == nil || prev.Err.Error() != err.Error()):
		j.a.logger.Warn("tracker announce failed", "torrent", j.t.Name(), "err", err)
	case err == nil && prev.Err != nil:
		j.a.logger.Info("tracker answers again", "torrent", j.t.Name(), "tracker", u)
	}
	if err != nil {
		return res, err
	}
	j.addPeers(res.Peers)
	return res, nil
}

func (j *announceJob) request(event trackerclient.Event) trackerclient.Request {
	st := j.t.Stats()
	left := j.t.BytesMissing()
	want := numWant
	if left == 0 || event == trackerclient.Stopped {
		want = 0
	}
	return trackerclient.Request{
		InfoHash:   j.t.InfoHash(),
		PeerID:     j.a.peerID,
		Port:       j.a.port,
		Uploaded:   st.BytesWrittenData.Int64(),
		Downloaded: st.BytesReadData.Int64(),
		Left:       left,
		Event:      event,
		NumWant:    want,
	}
}

func (j *announceJob) addPeers(peers []netip.AddrPort) {
	if len(peers) == 0 {
		return
	}
	pis := make([]torrent.PeerInfo, 0, len(peers))
	for _, p := range peers {
		pis = append(pis, torrent.PeerInfo{Addr: torrent.PeerRemoteAddr(net.TCPAddrFromAddrPort(p)), Source: torrent.PeerSourceTracker})
	}
	j.t.AddPeers(pis)
}

// sendStopped tells the tracker that last took an announce that this node
// left, so that other clients are not sent to a closed port until the
// peer expires there.
func (j *announceJob) sendStopped(ctx context.Context) {
	j.mu.Lock()
	u := j.announced
	// An install that exits right after its download ends before the loop
	// tells the tracker: the completed download is counted (the server's
	// per-package downloads) before the node leaves.
	owes := !j.completedAtStart && !j.toldCompleted
	j.mu.Unlock()
	owes = owes && j.t.Complete().Bool()
	if u == "" {
		return
	}
	if owes {
		_, _ = j.a.client.Announce(ctx, u, j.request(trackerclient.Completed))
	}
	// A failure needs nothing done: the peer then expires at the tracker.
	_, _ = j.a.client.Announce(ctx, u, j.request(trackerclient.Stopped))
}
