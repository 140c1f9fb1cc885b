package fetch

// When a fetch gives up on downloads that stalled (--stall-timeout), and
// the error that says what each source did meanwhile.

import (
	"context"
	"fmt"
	"time"

	"github.com/distpac/distpac/internal/resolve"
	"github.com/distpac/distpac/internal/stall"
	"github.com/distpac/distpac/internal/swarm"
)

// defaultStall is the stall timeout when Options.StallTimeout is 0.
const defaultStall = 2 * time.Minute

// stallFloor is the least rate, in bytes a second over the stall timeout,
// that counts as progress (stall.MinRate, which says why 1 KiB/s): a
// fetch fails once its sources together sent less than stallFloor × the
// timeout (120 KiB in 2 minutes) since the timeout was last pushed back.
// Bytes count as they come: a peer's chunk (64 KiB from distpac, 16 KiB
// from other clients) and a web seed's body bytes, a piece whole or not
// (swarm.Sources).
//
// The watchdog counted the engine's completed bytes, which take a peer's
// chunks as they come but a web seed's bytes only once a piece is whole
// (64 KiB pieces up to 64 MiB archives, 1 MiB up to 4 GiB, 4 MiB past it):
// a web seed at under a piece per timeout (546 B/s at 64 KiB pieces, 34
// KiB/s at 4 MiB) failed the install with "no data received" though it
// sent, and one at 16 KiB/s of 64 KiB pieces failed an install with a 3 s
// timeout (TestStallCountsWebSeedBytes). A download_rate_limit under
// 2 KiB/s lowers the floor to half the limit, which a capped download
// keeps.
const stallFloor = stall.MinRate

// stallRate is the floor for a client whose download_rate_limit is limit
// bytes a second (0: none).
func stallRate(limit int64) int64 {
	if limit > 0 {
		return max(1, min(stallFloor, limit/2))
	}
	return stallFloor
}

// errStalled is the cause a stalled fetch's context ends with.
var errStalled = swarm.ErrStalled

// stallAfter is the stall timeout in force.
func (o *Options) stallAfter() time.Duration {
	if o.StallTimeout <= 0 {
		return defaultStall
	}
	return o.StallTimeout
}

// newStallWatch watches a fetch under the options' stall timeout and
// floor.
func (o *Options) newStallWatch(ctx context.Context) (*stall.Watch, time.Duration, int64) {
	after := o.stallAfter()
	var limit int64
	if o.Config != nil {
		limit = int64(o.Config.DownloadRateLimit)
	}
	rate := stallRate(limit)
	w := stall.New(ctx, after, errStalled)
	w.Floor(max(1, int64(float64(rate)*after.Seconds())))
	return w, after, rate
}

// stalled is a stalled fetch's error (err) with the archives it was
// still downloading, named as every other download error names its
// archive ("download hello-1.0.0.tar.zst: …"): it reached the user as
// "dist-client: only 4 B received in 6s …", with no package (f.mu held).
// It is the whole fetch's failure, not an ArchiveError of one of them
// (install's failedAt).
func (f *Fetch) stalled(err error) error {
	var left []string
	for _, r := range f.need {
		if f.pending[r.Archive] {
			left = append(left, r.Archive)
		}
	}
	if len(left) == 0 {
		return err
	}
	return fmt.Errorf("download %s: %w", resolve.JoinAndOthers(left, 3), err)
}

// daemonSilence is how long a daemon that downloads for the fetch may
// send no event before a stall is its own, not its sources': it sends
// progress at least every maxProgressEvery (5 s) whatever arrives.
const daemonSilence = 10 * time.Second

// stallError is the error of a fetch whose stall watch ended it (f.mu
// held): what its sources did in the window (swarm.StallError), or,
// when the daemon it downloads through has sent nothing for
// daemonSilence, that the daemon stopped answering. A daemon stopped
// with SIGSTOP (or hung) failed the install at the stall timeout with
// "no data received for 2m0s from any peer or web seed: … 5 peers
// connected, which sent nothing", its last event's figures, blaming
// peers that were serving the rest of the swarm.
func (f *Fetch) stallError(after time.Duration, rate int64) error {
	if d, ok := f.src.(daemonSource); ok {
		if quiet := time.Since(f.heard); quiet > daemonSilence {
			return &daemonSilent{pid: d.d.PID(), quiet: quiet}
		}
	}
	return f.stall.Err(after, rate)
}

// daemonSilent is a stall of a daemon that sent nothing, not even
// progress, for quiet: its process is stopped or hung.
type daemonSilent struct {
	pid   int
	quiet time.Duration
}

func (e *daemonSilent) Error() string {
	return fmt.Sprintf("dist-client daemon (pid %d) has sent nothing, not even progress, for %s: it is stopped (kill -CONT %d resumes it) or hung (restart it; its log may say why)",
		e.pid, e.quiet.Round(time.Second), e.pid)
}

// Is matches swarm.ErrStalled, as every stall of a fetch does.
func (e *daemonSilent) Is(target error) bool { return target == errStalled }
