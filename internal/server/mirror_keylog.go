package server

import (
	"errors"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/distpac/distpac/internal/catalogclient"
)

// keyReminderEvery is how often a mirror reminds that it still refuses
// its primary's catalog for a key change it logged in full. The full
// warning is some 450 bytes and a mirror syncs every minute: 650 KB of
// the same lines a day buried whatever else it logged. Nothing changes
// until an operator acts (gives --key, or has the primary publish a
// rotation statement), and the catalog held stays served until it
// expires (7 days by default), so an hour is soon enough to keep the
// refusal in view of anyone reading the last hour of the log, at 24 short
// lines a day.
const keyReminderEvery = time.Hour

// keyRefusals remembers the key refusals a mirror logged (a primary
// whose catalog the key held does not verify and no rotation statement
// follows to): each is logged in full once, then as a short reminder at
// most every keyReminderEvery, a line for each primary refusing, named
// with primary= as primaryFailures names a failing one (the refusal
// named none but inside its error's text, and a mirror follows up to 16
// primaries). Only the round's goroutine uses it.
type keyRefusals struct {
	// logged is, for each refusal (refusalKey: each refusing primary's
	// URL and error, which names the key held), when it was logged in
	// full and when last reminded of.
	logged map[string]struct{ full, last time.Time }
}

// note logs the refusal at now, by the primaries that refused (refused:
// failedPrimaries of the sync, those whose errors are key refusals), in
// full, as a reminder, or not at all.
func (k *keyRefusals) note(log *slog.Logger, now time.Time, refused []catalogclient.ServerError) {
	if k.logged == nil {
		k.logged = map[string]struct{ full, last time.Time }{}
	}
	text := refusalKey(refused)
	seen, ok := k.logged[text]
	switch {
	case !ok:
		// A new refusal forgets the older ones: the primary changed its
		// key again, or the mirror followed it and it changed anew.
		clear(k.logged)
		k.logged[text] = struct{ full, last time.Time }{now, now}
		for _, e := range refused {
			log.Warn("sync from the primary failed", append(primaryAttr(e.URL), "err", e.Err)...)
		}
	case now.Sub(seen.last) >= keyReminderEvery:
		seen.last = now
		k.logged[text] = seen
		for _, e := range refused {
			log.Warn("still refusing the primary's catalog: its key changed; see the warning logged then",
				append(primaryAttr(e.URL), "since", seen.full.Format(time.RFC3339))...)
		}
	}
}

// primaryAttr is the primary= attribute of a log line about the primary
// at URL u, none for "" (a failure that is no one primary's).
func primaryAttr(u string) []any {
	if u == "" {
		return nil
	}
	return []any{"primary", u}
}

// isKeyRefusal reports whether err is a refusal of a primary's catalog
// for its key: a signature the key held does not verify, and no rotation
// statement leading from it.
func isKeyRefusal(err error) bool {
	return errors.Is(err, catalogclient.ErrBadSignature) || errors.Is(err, catalogclient.ErrRotation)
}

// refusalKey is what tells one refusal from another: each refusing
// primary's URL and error without the time it took (ServerError's "after
// 12ms"), in a fixed order, so that the same refusal in every round is
// one (it was logged in full each round).
func refusalKey(refused []catalogclient.ServerError) string {
	lines := make([]string, len(refused))
	for i, e := range refused {
		lines[i] = e.URL + ": " + e.Err.Error()
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

// forget is called after a sync that succeeded: a refusal seen again
// after it is logged in full.
func (k *keyRefusals) forget() { clear(k.logged) }
