package swarm

// A tracker that comes back is announced to again within seconds. Every
// failed announce doubles a torrent's wait, up to announceRetryMax (5
// minutes), which keeps an engine from hammering a tracker that is slow
// or answers with errors; but a mirror whose publisher (and tracker) was
// down for a few minutes then waited up to 5 more minutes after it came
// back, and new clients did not find the mirror's seeder meanwhile (an
// operator's run). A refused connection costs the tracker nothing (its
// kernel answers), so such a tracker is probed, by one torrent of the
// engine every refusedProbe whatever their number, and the first answer
// wakes every torrent that failed there.

import (
	"cmp"
	"errors"
	"math/rand/v2"
	"syscall"
	"time"
)

// announcePace is an announcer's timing; tests shorten it.
type announcePace struct {
	retry, retryMax time.Duration // announceRetry, announceRetryMax
	probe           time.Duration // refusedProbe
	spread          time.Duration // wakeSpread
	wakeEvery       time.Duration // wakeEvery
	hungry          time.Duration // hungryAnnounce when 0 (hungryWait)
}

// hungryWait is the first wait of a download that no connected peer can
// serve (hungryAnnounce unless a test set hungry).
func (p announcePace) hungryWait() time.Duration { return cmp.Or(p.hungry, hungryAnnounce) }

var defaultPace = announcePace{retry: announceRetry, retryMax: announceRetryMax, probe: refusedProbe, spread: wakeSpread, wakeEvery: wakeEvery}

const (
	// refusedProbe is how often a tracker that refused connections is
	// asked again, by one torrent of the engine.
	refusedProbe = 10 * time.Second
	// wakeSpread spreads the announces of the torrents woken when a
	// tracker answers again (at most announcesInFlight at a time), so that
	// an engine seeding thousands does not meet it in one burst.
	wakeSpread = 5 * time.Second
	// wakeEvery bounds how often one tracker wakes the torrents failing
	// there: one that answers one connection in a few and refuses the
	// others would have them all announce at every probe.
	wakeEvery = time.Minute
)

// connRefused reports whether err is a connection refused: nothing
// listens at the tracker's port (it is restarting, or stopped), and its
// host said so at once.
func connRefused(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED)
}

// probe asks tracker u again every pace.probe through one torrent whose
// last announce failed there with a refused connection, until none does
// (u answered, or fails otherwise now: the torrents' own backoff holds)
// or the engine closes.
func (a *announcer) probe(u string) {
	for {
		t := time.NewTimer(jitter(a.pace.probe))
		select {
		case <-a.stop:
			t.Stop()
			a.downMu.Lock()
			delete(a.probing, u)
			a.downMu.Unlock()
			return
		case <-t.C:
		}
		// Under downMu, so that a failed announce recorded meanwhile
		// (startProbe) either finds the probe running or starts the next
		// one.
		a.downMu.Lock()
		j := a.refusedAt(u)
		if j == nil {
			delete(a.probing, u)
			a.downMu.Unlock()
			return
		}
		a.downMu.Unlock()
		j.probeAt(u)
	}
}

// startProbe probes u, which refused a connection in an announce that
// failed (j.failed and its status recorded), unless a probe runs. Not at
// the refusal itself: a probe that looked while that announce still tried
// the trackers behind u found no torrent failing, and ended, and none
// started after (the torrent waited out its backoff).
func (a *announcer) startProbe(u string) {
	a.downMu.Lock()
	defer a.downMu.Unlock()
	if !a.probing[u] {
		a.probing[u] = true
		go a.probe(u)
	}
}

// refusedAt returns a torrent whose last announce failed and that u
// refused a connection to, nil when there is none.
func (a *announcer) refusedAt(u string) *announceJob {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, j := range a.jobs {
		j.mu.Lock()
		st, _ := j.status.get(u)
		ok := j.failed && connRefused(st.Err)
		j.mu.Unlock()
		if ok {
			return j
		}
	}
	return nil
}

// wakeFailing has every torrent whose last announce failed, u among the
// trackers that failed it, announce again within pace.spread, except
// the one that found u answering (by): u answers again. At most once a
// pace.wakeEvery for u.
func (a *announcer) wakeFailing(u string, by *announceJob) {
	a.downMu.Lock()
	if time.Since(a.woke[u]) < a.pace.wakeEvery {
		a.downMu.Unlock()
		return
	}
	a.woke[u] = time.Now()
	a.downMu.Unlock()
	a.wake(func(j *announceJob) bool { st, _ := j.status.get(u); return j != by && st.Err != nil })
}

// Reannounce has every torrent whose last announce failed announce again
// within a few seconds, instead of when its backoff ends: the caller
// knows its trackers are back (a mirror that synced its primary's catalog
// again after failing to).
func (e *Engine) Reannounce() {
	if e.ann != nil {
		e.ann.wake(func(*announceJob) bool { return true })
	}
}

// wake pokes, each at a random moment within pace.spread, the torrents
// whose last announce failed and that match (called with each job's mu
// held; the caller holds none).
func (a *announcer) wake(match func(*announceJob) bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, j := range a.jobs {
		j.mu.Lock()
		ok := j.failed && match(j)
		j.mu.Unlock()
		if ok {
			time.AfterFunc(time.Duration(rand.Int64N(int64(a.pace.spread)+1)), j.poke)
		}
	}
}

// probeAt has the job ask tracker u alone now, or right after the
// announce under way: a probe of u woke a whole announce, which asked
// every tracker of the list, so a torrent whose 16 trackers all refused
// dialled them 16 times each a probe (TestProbeAsksOnlyTheRefusedTracker).
// A probe that finds the job's channel full is dropped: the next one asks.
func (j *announceJob) probeAt(u string) {
	select {
	case j.probe <- u:
	default:
	}
}

// poke has the job announce now, or right after the announce under way.
func (j *announceJob) poke() {
	select {
	case j.wake <- struct{}{}:
	default:
	}
}
