package swarm

import (
	"errors"
	"slices"
	"time"

	"github.com/distpac/distpac/internal/redact"
	"github.com/distpac/distpac/internal/trackerclient"
)

// An engine logs what its trackers do once for the engine, not once per
// torrent: a daemon seeding 203 archives logged 203 "tracker announce
// failed" lines when its tracker went down, and 203 "tracker answers
// again" when it came back (a newcomer's run).

// maxFailuresLogged bounds the different failures of one tracker logged
// until it answers again: one going down under load fails some announces
// one way and some another (refused, timed out, reset), and, logged at
// each change, a daemon's announces alternating between two of them gave
// a line per torrent again.
const maxFailuresLogged = 4

// answersLoggedEvery bounds how often one tracker is logged answering
// again: one that flaps between refusing and answering many times a
// second logged both lines at every change its announces saw (88 lines
// for 101 announces of 50 torrents; a daemon seeding thousands, over a
// hundred a second). It answering again within this of the last such
// line is logged when this has passed, if it still answers then (so the
// last line about a tracker is what it does now); the failures logged
// before still count as logged, so that it is logged failing again only
// in a new way.
const answersLoggedEvery = time.Minute

// logKey names one tracker's state in the log: whether it answers at all,
// or, with refusals set, whether it refuses torrents ("failure reason").
type logKey struct {
	url      string
	refusals bool
}

// trackerLog is what was logged of one tracker's state (logKey).
type trackerLog struct {
	// logged is the failures logged since it was last logged answering
	// (at most maxFailuresLogged); empty when it was.
	logged []string
	// answeredAt is when it was last logged answering.
	answeredAt time.Time
	// pending is the first torrent that found it answering within the
	// quiet window after answeredAt, "" when none did or it failed since.
	pending string
	// flush logs pending as the window ends; nil when not set.
	flush *time.Timer
}

// logResult logs what an announce of torrent name to tracker u changed:
// a tracker that fails, or answers again, once for the engine, and each
// way it fails once while it fails. A refusal ("failure reason") is the
// tracker's answer about one torrent, so only a change of that torrent's
// (prev is its last failure) counts; refusals too are logged once for the
// engine: a tracker alternating between refusing and accepting 50
// torrents logged a line per torrent at each change.
func (a *announcer) logResult(u, name string, err, prev error) {
	var refused *trackerclient.FailureError
	wasRefused := errors.As(prev, &refused)
	a.logMu.Lock()
	defer a.logMu.Unlock()
	switch {
	case errors.As(err, &refused):
		if prev == nil || prev.Error() != err.Error() {
			a.logFailed(logKey{u, true}, name, err)
		}
	case err != nil:
		a.logFailed(logKey{u, false}, name, err)
	default:
		a.logAnswered(logKey{u, false}, name)
		if wasRefused {
			a.logAnswered(logKey{u, true}, name)
		}
	}
}

// logFailed logs that k's tracker failed with err, unless that failure
// was logged since it was last logged answering. Called with logMu held.
func (a *announcer) logFailed(k logKey, name string, err error) {
	st := a.logs[k]
	if st == nil {
		st = &trackerLog{}
		a.logs[k] = st
	}
	st.pending = ""
	if slices.Contains(st.logged, err.Error()) || len(st.logged) >= maxFailuresLogged {
		return
	}
	st.logged = append(st.logged, err.Error())
	a.logger.Warn("tracker announce failed", "tracker", redact.URL(k.url), "err", err, "first_torrent", name)
}

// logAnswered logs that k's tracker answers again, if it was logged
// failing: now, or as the quiet window ends. Called with logMu held.
func (a *announcer) logAnswered(k logKey, name string) {
	st := a.logs[k]
	if st == nil || len(st.logged) == 0 {
		return
	}
	wait := time.Until(st.answeredAt.Add(a.quiet))
	if wait <= 0 {
		a.logAnswers(k, st, name)
		return
	}
	if st.pending == "" {
		st.pending = name
	}
	if st.flush == nil && !a.logClosed {
		st.flush = time.AfterFunc(wait, func() {
			a.logMu.Lock()
			defer a.logMu.Unlock()
			if a.logClosed {
				return
			}
			st.flush = nil
			if st.pending != "" {
				a.logAnswers(k, st, st.pending)
			}
		})
	}
}

// logAnswers logs that k's tracker answers again, first found by torrent
// name. Called with logMu held.
func (a *announcer) logAnswers(k logKey, st *trackerLog, name string) {
	st.logged, st.pending, st.answeredAt = nil, "", time.Now()
	if st.flush != nil {
		st.flush.Stop()
		st.flush = nil
	}
	msg := "tracker answers again"
	if k.refusals {
		msg = "tracker accepts announces again"
	}
	a.logger.Info(msg, "tracker", redact.URL(k.url), "first_torrent", name)
}

// closeLogs logs at once what waits for its quiet window to end, so that
// a closing engine's log ends on each tracker's state, and stops the
// windows' timers.
func (a *announcer) closeLogs() {
	a.logMu.Lock()
	defer a.logMu.Unlock()
	a.logClosed = true
	for k, st := range a.logs {
		if st.pending != "" {
			a.logAnswers(k, st, st.pending)
		}
		if st.flush != nil {
			st.flush.Stop()
			st.flush = nil
		}
	}
}
