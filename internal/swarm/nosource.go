package swarm

// Why a download found no source: the error a download ends with when no
// peer, seeder or web seed served it, with what each tracker said.

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/distpac/distpac/internal/httpbound"
	"github.com/distpac/distpac/internal/redact"
	"github.com/distpac/distpac/internal/trackerclient"
	"github.com/distpac/distpac/internal/ui"
)

// NoSourceError says why a download found nowhere to download from.
type NoSourceError struct {
	Torrent string
	// Idle is how long nothing came when the download gave up: since the
	// last byte a peer or web seed sent it when Received, else since it
	// started. It gives up GiveUpAfter after its last source went (no
	// peer with pieces it lacks connected or being dialled, no web-seed
	// fetch running), which can be long after the last byte: a frozen
	// publisher's seeder is dialled, and its web seed asked, until each
	// times out. The error said "no source for X in 8s", the give-up
	// time, after 25 to 47 s of waiting on a publisher stopped with
	// SIGSTOP (a tester's runs); with Busy, "in 8s" beside "answered only
	// 503 for 1m0s", after a run of 69 s.
	Idle time.Duration
	// Received: some of the archive came in this download before it
	// found no source (a publisher gone mid-transfer).
	Received bool
	Trackers []TrackerStatus
	Direct   []netip.AddrPort // peers named by the catalog, none of which served it
	// Lacking are those of Direct that are up and did not serve it: each
	// completed the BitTorrent handshake and closed the connection without
	// another word (transferState.lacking), as a seeder does for a torrent
	// it does not hold, and also when it has no room for another peer. The
	// others did not accept a connection, or closed it before the
	// handshake.
	Lacking []netip.AddrPort
	// Mute are those of Direct whose last dial connected and that
	// completed no BitTorrent handshake since (dialBook.mute): the
	// process behind the port is stopped or hung, the kernel accepting
	// its connections.
	Mute     []netip.AddrPort
	WebSeeds []string // the torrent's web seeds
	WebErr   error    // how each web seed tried failed, if any did
	// Mirror: the engine is a mirror's (Config.Mirror), whose catalog
	// comes from its primary, not from dist-client sync.
	Mirror bool
	// Busy is how long the download waited for web seeds that answered
	// only busy (Config.BusyWait) before it gave up on them; 0 when it
	// did not.
	Busy time.Duration
	// Connected is how many peers were connected (the most at once) while
	// it had no source, none of which has any of the Missing pieces (of
	// Pieces) by what it said it has: they have no more to give. 0 when
	// none was.
	Connected, Missing, Pieces int
	// Withholding are the peers connected that have some of the Missing
	// pieces and sent none of them for withholdGrace: they keep the
	// download choked, or answer none of its requests.
	Withholding []Withholder
}

func (e *NoSourceError) Error() string {
	var why []string
	for i, w := range e.Withholding {
		if i == maxWithholdersSaid {
			why = append(why, fmt.Sprintf("and %s that sent none of them", ui.Count(len(e.Withholding)-i, "other peer")))
			break
		}
		why = append(why, w.String())
	}
	if e.Connected > 0 {
		other := ""
		if len(e.Withholding) > 0 {
			other = "other "
		}
		why = append(why, fmt.Sprintf("%s connected, none has the pieces still missing (%d of %s)", ui.Count(e.Connected, other+"peer"), e.Missing, ui.Count(e.Pieces, "piece")))
	}
	for _, t := range e.Trackers {
		switch {
		case t.At.IsZero():
			why = append(why, fmt.Sprintf("tracker %s has not answered", redact.URL(t.URL)))
		case t.Err != nil:
			why = append(why, t.Err.Error())
		case t.Peers == 0:
			why = append(why, fmt.Sprintf("tracker %s knows no peer for it", redact.URL(t.URL)))
		case e.Connected > 0 || len(e.Withholding) > 0: // some answered: said above
			why = append(why, fmt.Sprintf("tracker %s listed %s", redact.URL(t.URL), ui.Count(t.Peers, "peer")))
		default:
			why = append(why, fmt.Sprintf("tracker %s listed %s, none answered", redact.URL(t.URL), ui.Count(t.Peers, "peer")))
		}
	}
	var refused, lacking, mute []string
	for _, a := range e.Direct {
		if slices.ContainsFunc(e.Withholding, func(w Withholder) bool { return w.Peer == a }) {
			continue // connected, and said above
		}
		switch {
		case slices.Contains(e.Lacking, a):
			lacking = append(lacking, a.String())
		case slices.Contains(e.Mute, a):
			mute = append(mute, a.String())
		default:
			refused = append(refused, a.String())
		}
	}
	if len(refused) > 0 {
		why = append(why, "the publisher's seeder ("+strings.Join(refused, ", ")+") did not accept a connection")
	}
	if len(mute) > 0 {
		why = append(why, "the publisher's seeder ("+strings.Join(mute, ", ")+") accepted connections but did not answer the BitTorrent handshake on them (is dist-server stopped or hung?)")
	}
	// A seeder that closes after the handshake has no room (a capped
	// publisher's six slots each keep their connection for a minute at
	// least: the library's worstBadConn, read, not measured) or does not
	// have the torrent. A tracker that lists peers for it (the publisher's
	// seeder is pinned in its own tracker for every torrent it seeds)
	// speaks for the first; one that lists none, or refuses it, for the
	// second. With no tracker's answer (none named, or all down) nothing
	// tells them apart.
	answered, listed := e.trackerAnswers()
	gone := len(lacking) > 0 && (e.Withdrawn() || answered && !listed)
	switch {
	case gone:
		why = append(why, "the publisher's seeder ("+strings.Join(lacking, ", ")+") is reachable but does not have this archive")
	case len(lacking) > 0:
		why = append(why, "the publisher's seeder ("+strings.Join(lacking, ", ")+") answered but closed the connection (it has no room for another peer, or no longer has this archive)")
	}
	switch {
	case e.WebErr != nil:
		why = append(why, e.WebErr.Error())
	case len(e.WebSeeds) == 0:
		why = append(why, "no web seed")
	}
	if len(why) == 0 {
		why = append(why, "no tracker, peer or web seed is named for it")
	}
	waited := fmt.Sprintf(" in %s", e.Idle.Round(time.Second))
	if e.Received {
		waited = fmt.Sprintf(": nothing received for %s", e.Idle.Round(time.Second))
	}
	msg := fmt.Sprintf("no source for %s%s: %s", e.Torrent, waited, strings.Join(why, "; "))
	busyURL, busyWhy := seedAnswer(e.WebErr, isBusy)
	switch {
	case e.Busy > 0 && busyWhy != nil:
		// The server is up and has the archive, and says it has no room
		// now: nothing to fix on this side (apt: "503 Service
		// Unavailable", and the user runs it again later).
		msg += fmt.Sprintf(" (%s answered only %d %s for %s, and no peer sent anything: the server is busy; try again later)",
			busyURL, busyWhy.code, http.StatusText(busyWhy.code), e.Busy.Round(time.Second))
	case e.Mirror && (e.Withdrawn() || gone):
		// A client's hint sent a mirror's operator to dist-client sync.
		msg += " (the primary probably withdrew it after signing the catalog this mirror holds: its next sync of the primary drops it)"
	case e.Withdrawn():
		msg += " (the package was withdrawn since your last sync: run dist-client sync)"
	case errors.Is(e.WebErr, errPieceMismatch) || errors.Is(e.WebErr, errCopyWithheld):
		// The server has the archive, and a piece of it is wrong: its
		// seeder, which checks its archives as it starts and when they
		// change, will not seed it either, and a sync would not help.
		msg += " (the server's copy of the archive is damaged: dist-server names it in its log, and does not seed it)"
	case e.RefusedURL(http.StatusForbidden) != "" || errors.Is(e, httpbound.ErrNotSent):
		// Said by dist-client's hint, as a sync's 403 or redirect is
		// (serverHint, through Is and RefusedURL): one wording, with the
		// client.yaml key and path, which the engine does not know (nor
		// a mirror's, which has none). The error named the seed and its
		// answer above; a guess that the package was withdrawn would
		// send the user the wrong way.
	case gone:
		// Without a tracker's word (an open tracker, or opentracker, knows
		// no peer rather than refusing), a seeder that is up without the
		// archive is the evidence: a catalog older than the publisher's
		// removal, or a seeder that has not picked up a new package yet.
		msg += " (it was probably withdrawn since your last sync: run dist-client sync)"
	}
	return msg
}

// seedAnswer is the first web seed of errs (a seedErrors) whose answer is
// a *webStatusError that is: its URL as messages show it (its password
// masked), and that answer; "" and nil for none.
func seedAnswer(errs error, is func(*webStatusError) bool) (string, *webStatusError) {
	var se seedErrors
	if !errors.As(errs, &se) {
		return "", nil
	}
	for _, s := range se {
		var w *webStatusError
		if errors.As(s.err, &w) && is(w) {
			return redact.URL(s.seed), w
		}
	}
	return "", nil
}

// trackerAnswers reports whether a tracker's last announce was answered,
// and whether such an answer listed peers.
func (e *NoSourceError) trackerAnswers() (answered, listed bool) {
	for _, t := range e.Trackers {
		if !t.At.IsZero() && t.Err == nil {
			answered = true
			listed = listed || t.Peers > 0
		}
	}
	return answered, listed
}

// Withdrawn reports whether a tracker said it does not serve the torrent:
// the publisher removed the package after the catalog the client holds.
func (e *NoSourceError) Withdrawn() bool {
	for _, t := range e.Trackers {
		var fe *trackerclient.FailureError
		if errors.As(t.Err, &fe) && fe.NotServed() {
			return true
		}
	}
	return false
}

// ErrNoSource matches every *NoSourceError with errors.Is.
var ErrNoSource = errors.New("no source")

// ErrUnreachable matches a *NoSourceError whose sources all refused the
// connection (Unreachable).
var ErrUnreachable = errors.New("every source refused the connection")

// Unreachable reports whether every tracker and every web seed tried
// refused the connection and no seeder answered: the publisher's server
// is down, or named wrongly. Peers connected that have none of the pieces
// still missing (Connected) do not change that: they are other clients
// left with what the publisher sent them before it went (killed
// mid-transfer). dist-client then gives the hint a sync gives when its
// server refuses ("is dist-server running?"); an install with every
// source down had none (a newcomer's run), nor had one whose publisher
// was killed mid-transfer while other clients downloaded too (a tester's
// run). Peers that withhold pieces they have are another story, told
// in the error.
func (e *NoSourceError) Unreachable() bool {
	if len(e.Withholding) > 0 || len(e.Lacking) > 0 || len(e.Mute) > 0 {
		return false
	}
	n := 0
	for _, t := range e.Trackers {
		if !errors.Is(t.Err, syscall.ECONNREFUSED) {
			return false
		}
		n++
	}
	if e.WebErr != nil {
		var se seedErrors
		if !errors.As(e.WebErr, &se) {
			return false
		}
		for _, s := range se {
			if !errors.Is(s.err, syscall.ECONNREFUSED) {
				return false
			}
			n++
		}
	}
	return n > 0
}

// Is matches ErrNoSource, ErrUnreachable when every source refused the
// connection, and a web seed's refusal as the sync's would
// match: httpbound.ErrUnauthorized or ErrForbidden when a seed answered
// 401 or 403, httpbound.ErrNotSent when such an answer came from where a
// redirect led (dist-client gives the sync's hint for them).
func (e *NoSourceError) Is(target error) bool {
	if target == nil {
		return false
	}
	if target == ErrNoSource {
		return true
	}
	if target == ErrUnreachable {
		return e.Unreachable()
	}
	_, w := seedAnswer(e.WebErr, func(w *webStatusError) bool {
		return target == httpbound.Refused(w.code) || target == httpbound.ErrNotSent && w.notSent != nil && httpbound.Refused(w.code) != nil
	})
	return w != nil
}

// RefusedURL is the first web seed that answered code (a 401 or 403), as
// messages show it (httpbound.RefusedURL); "" for none.
func (e *NoSourceError) RefusedURL(code int) string {
	u, _ := seedAnswer(e.WebErr, func(w *webStatusError) bool { return w.code == code })
	return u
}

// TrackerStatus returns what each tracker last said about a torrent, in
// the announce-list's order; nil when the engine does not announce it.
func (e *Engine) TrackerStatus(ih InfoHash) []TrackerStatus {
	if e.ann == nil {
		return nil
	}
	return e.ann.statuses(ih)
}
