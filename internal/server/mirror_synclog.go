package server

import (
	"log/slog"
	"time"

	"github.com/distpac/distpac/internal/catalogclient"
)

// failReminderEvery is how often a mirror reminds that a primary still
// fails its syncs, after it logged the first failure. It logged every
// failed sync, each --interval (a minute by default): a primary down for
// a weekend left some 3,000 lines of the same failure. The failure shows
// live in dist-server status and distpac_mirror_sync_failing, and the
// catalog held stays served until it expires; as for a key refusal
// (keyReminderEvery), a reminder an hour keeps it in the last hour of the
// log, where anyone looking reads it.
const failReminderEvery = time.Hour

// primaryFailures remembers the primaries that fail their syncs, by URL
// (masked, as catalogclient names them): a primary's first failed sync is
// logged in full, then a short reminder at most every failReminderEvery
// while it keeps failing, and that it recovered once it answers again.
// Only the round's goroutine uses it.
type primaryFailures struct {
	down map[string]*failRun
}

// failRun is a primary's failed syncs in a row.
type failRun struct {
	since, reminded time.Time
	syncs           int
}

// note logs, for a round at now, the primaries that failed its sync
// (failed) and those that answered it (answered: served a catalog, said
// it was unchanged, or were behind the catalog held); a primary the sync
// did not try (passed over after one failed, or listed after the one
// that served) is neither. A failure of URL "" is the sync's as a whole,
// no one primary's (failedPrimaries: the primaries' keys disagree on
// first use): it is logged without a primary, and ends once any primary
// answers. It reports whether a primary recovered.
func (f *primaryFailures) note(log *slog.Logger, now time.Time, failed []catalogclient.ServerError, answered []string) (recovered bool) {
	if f.down == nil {
		f.down = map[string]*failRun{}
	}
	for _, u := range answered {
		run, ok := f.down[u]
		if !ok {
			continue
		}
		delete(f.down, u)
		recovered = true
		log.Info("sync from the primary recovered", "primary", u, "failed_syncs", run.syncs, "since", run.since.Format(time.RFC3339))
	}
	if len(answered) > 0 {
		delete(f.down, "")
	}
	for _, e := range failed {
		// A primary's failure names it; the sync's as a whole names
		// none (it said primary="").
		whose, who := "primary", []any{"primary", e.URL}
		if e.URL == "" {
			whose, who = "primaries", nil
		}
		run, ok := f.down[e.URL]
		switch {
		case !ok:
			f.down[e.URL] = &failRun{since: now, reminded: now, syncs: 1}
			log.Warn("sync from the "+whose+" failed", append(who, "err", e.Err)...)
		default:
			run.syncs++
			if now.Sub(run.reminded) >= failReminderEvery {
				run.reminded = now
				log.Warn("sync from the "+whose+" still fails; see the warning logged then", append(who,
					"since", run.since.Format(time.RFC3339), "failed_syncs", run.syncs, "err", e.Reason())...)
			}
		}
	}
	return recovered
}
