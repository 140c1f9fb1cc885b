package server

import "time"

// resignLogEvery bounds how often a running server logs that re-signing
// its catalog fails. It tries again every poll (PollInterval, 0.5 s), and
// logged each failure: a catalog at the last serial (catalog.ErrLastSerial)
// gave two 450-byte lines a second, 75 MB a day, until an operator acted
// (an operator's run). Ten minutes keeps the failure in view of anyone
// reading the log's last minutes, at 144 lines a day, and well inside a
// short catalog_valid_for (an hour; the catalog is re-signed at half of
// it); every failure still counts in distpac_errors_total.
const resignLogEvery = 10 * time.Minute

// repeatedFailure decides which failures of a run, one every poll, are
// logged: the first at once, then at most one every `every`, each saying
// how many were not logged since the line before (as connlimit's lines
// say the refusals between them). Only Run's goroutine uses it.
type repeatedFailure struct {
	every      time.Duration
	since      time.Time // the run's first failure; zero when none
	logged     time.Time // the last line
	failures   int       // in the run
	suppressed int       // not logged since the last line
}

// failed records a failure at now and reports whether to log it, with
// the attributes to add to its line: none for the run's first, else
// suppressed (the failures not logged since the last line) and
// failing_since.
func (f *repeatedFailure) failed(now time.Time) (bool, []any) {
	f.failures++
	if f.since.IsZero() {
		f.since, f.logged = now, now
		return true, nil
	}
	if now.Sub(f.logged) < f.every {
		f.suppressed++
		return false, nil
	}
	attrs := []any{"suppressed", f.suppressed, "failing_since", f.since.Format(time.RFC3339)}
	f.logged, f.suppressed = now, 0
	return true, attrs
}

// ended ends the run of failures, if any: it returns the attributes for
// the line that says so (failed_attempts, failing_since), nil when there
// was no run.
func (f *repeatedFailure) ended() []any {
	if f.since.IsZero() {
		return nil
	}
	attrs := []any{"failed_attempts", f.failures, "failing_since", f.since.Format(time.RFC3339)}
	*f = repeatedFailure{every: f.every}
	return attrs
}
