package swarm

// An announceJob keeps one torrent announced to its trackers: the tiers in
// order, the tracker's interval with jitter, retries with backoff, and the
// "stopped" at the end (see announce.go for the announcer that runs them).

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/anacrolix/chansync/events"
	"github.com/anacrolix/torrent"

	"github.com/distpac/distpac/internal/redact"
	"github.com/distpac/distpac/internal/trackerclient"
)

// announceJob keeps one torrent announced.
type announceJob struct {
	a     *announcer
	t     *torrent.Torrent
	tiers [][]string
	quit  chan struct{} // closed to stop the job
	done  chan struct{} // closed when the job has ended
	wake  chan struct{} // a send announces at once (poke)
	probe chan string   // a send asks that tracker alone at once (probeAt)

	mu        sync.Mutex
	status    trackerStatuses // guarded by mu
	announced string          // the tracker that last took an announce; guarded by mu
	failed    bool            // no tracker took the last announce; guarded by mu
	// toldCompleted: a tracker took this download's "completed";
	// completedAtStart: the torrent was complete when added (a seeder), so
	// there is none to tell. Both guarded by mu.
	toldCompleted, completedAtStart bool
	// holding: the last announce ended while a connected peer held
	// pieces the download lacked; guarded by mu.
	holding bool
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
	retry, hungry := j.a.pace.retry, j.a.pace.hungryWait()
	// only is the tracker a probe asks alone (probeAt), "" for an
	// announce to the tiers; deadline is when the next of those is due,
	// which a probe that fails leaves as it was.
	var only string
	var deadline time.Time
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
		res, err := j.announce(ctx, event, only)
		cancel()
		j.mu.Lock()
		j.failed = err != nil
		var refused []string // the trackers that refused a connection to a failed announce
		if j.failed {
			for _, st := range j.status {
				if connRefused(st.Err) {
					refused = append(refused, st.URL)
				}
			}
		}
		j.mu.Unlock()
		for _, u := range refused {
			j.a.startProbe(u)
		}
		if only == "" {
			// Asked for while announcing: this one answers it.
			select {
			case <-j.wake:
			default:
			}
			select {
			case <-j.probe:
			default:
			}
		}
		var wait time.Duration
		holding := false // a connected peer holds pieces the download lacks
		look := false    // the wait looks at the download's peers (wait)
		switch {
		case err != nil && only != "":
			wait = time.Until(deadline) // the backoff goes on
		case err != nil:
			wait, retry = jitter(retry), min(2*retry, j.a.pace.retryMax)
		default:
			retry = j.a.pace.retry
			event = trackerclient.None
			wait = res.Interval
			// Peers connected that have no piece it lacks leave it as
			// hungry as none connected: the swarm's seeder may have
			// stopped, and the tracker may know another.
			if !j.t.Complete().Bool() && hasNoHolder(j.t) {
				wait, hungry = min(wait, hungry), min(2*hungry, res.Interval)
			} else {
				hungry = j.a.pace.hungryWait()
				holding = !j.t.Complete().Bool()
				// Its peers may run dry before the interval ends (it
				// gets all they had): it looks every hungryAnnounce.
				look = holding
			}
			wait = jitter(wait)
		}
		deadline, only = time.Now().Add(wait), ""
		j.mu.Lock()
		j.holding = holding
		j.mu.Unlock()
		if !j.wait(wait, look, &completed, &event, &only) {
			return
		}
	}
}

// wait waits d for the next announce, or less: the job stopping (false),
// the download completing (event Completed), a wake, a probe of one
// tracker (only), or, with look, its connected peers holding no piece it
// lacks, looked at every hungryAnnounce. Before the look, a download
// announced while a peer still had pieces for it waited out the tracker's
// interval (30 s) after it had all they had, and missed a seeder the
// tracker listed meanwhile (TestTrackerAskedWhenPeersRunDry).
func (j *announceJob) wait(d time.Duration, look bool, completed *events.Active, event *trackerclient.Event, only *string) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	var looks <-chan time.Time
	if look {
		t := time.NewTicker(j.a.pace.hungryWait())
		defer t.Stop()
		looks = t.C
	}
	for {
		select {
		case <-j.quit:
			return false
		case <-*completed:
			*completed = nil
			*event = trackerclient.Completed
		case <-j.wake:
		case *only = <-j.probe:
		case <-timer.C:
		case <-looks:
			if j.t.Complete().Bool() || !hasNoHolder(j.t) {
				continue
			}
		}
		return true
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
// took it. With only set (a probe), only that tracker is asked.
func (j *announceJob) announce(ctx context.Context, event trackerclient.Event, only string) (trackerclient.Response, error) {
	select {
	case j.a.sem <- struct{}{}:
		defer func() { <-j.a.sem }()
	case <-ctx.Done():
		return trackerclient.Response{}, ctx.Err()
	}
	req := j.request(event)
	if only != "" {
		for ti, tier := range j.tiers {
			if ui := slices.Index(tier, only); ui >= 0 {
				return j.try(ctx, event, req, ti, ui, only)
			}
		}
		return trackerclient.Response{}, fmt.Errorf("tracker %s is not in the announce-list", redact.URL(only))
	}
	var lastErr error
	now := time.Now()
	// Asked once each: one that failed in the first pass counts as down
	// in the second, and a dead tracker was dialled twice per announce.
	tried := map[string]bool{}
	for _, downPass := range []bool{false, true} {
		for ti, tier := range j.tiers {
			for ui, u := range tier {
				if tried[u] || j.a.isDown(u, now) != downPass {
					continue
				}
				tried[u] = true
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
	back := j.a.noteResult(u, err)
	st := TrackerStatus{URL: u, At: time.Now(), Err: err, Seeders: -1, Leechers: -1}
	if err == nil {
		st.Peers, st.Seeders, st.Leechers = len(res.Peers), res.Seeders, res.Leechers
	}
	j.mu.Lock()
	prev, _ := j.status.get(u)
	if err != nil {
		st.Failures, st.FailingSince = prev.Failures+1, prev.FailingSince
		if prev.Failures == 0 {
			st.FailingSince = st.At
		}
	}
	j.status.set(st)
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
	j.a.logResult(u, j.t.Name(), err, prev.Err)
	if err != nil {
		return res, err
	}
	if back {
		j.a.wakeFailing(u, j)
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

// trackerStatuses is an announce job's TrackerStatus of each tracker it
// asked, one per URL. A slice and not a map: a torrent names a tracker or
// two, and a map holding one took about 2 KB per torrent, 4 MB of the
// 37 MB heap of a mirror seeding 2,000 archives (pprof).
type trackerStatuses []TrackerStatus

// get returns the status of the tracker at u, if it was asked.
func (s trackerStatuses) get(u string) (TrackerStatus, bool) {
	for _, st := range s {
		if st.URL == u {
			return st, true
		}
	}
	return TrackerStatus{}, false
}

// set records st as the status of the tracker at st.URL.
func (s *trackerStatuses) set(st TrackerStatus) {
	for i := range *s {
		if (*s)[i].URL == st.URL {
			(*s)[i] = st
			return
		}
	}
	*s = append(*s, st)
}
