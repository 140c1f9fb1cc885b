package fetch

// What an install says while the daemon it downloads through is silent:
// stopped (SIGSTOP, a debugger) or hung.

import (
	"context"
	"fmt"
	"time"
)

// silenceWarnAfter is how long the daemon may send nothing, not even
// progress, before the install warns that it waits on it: daemonSilence,
// after which a stall is the daemon's own (it sends progress at least
// every maxProgressEvery, 5 s, whatever arrives).
const silenceWarnAfter = daemonSilence

// watchSilence warns, once per silence, when the daemon the fetch
// downloads through (f.daemonPID) has sent nothing for after, and the next
// progress says it answers again (heardAgain). An install whose output is
// not a terminal said nothing while its daemon was stopped with SIGSTOP
// until the stall error (2 minutes by default), and a terminal's showed
// only a bar that stood still (a tester's run). It returns when the fetch
// ends.
//
// Its own ticks tell when this process was held itself (SIGSTOP of the
// install, a suspended machine): a tick later than after/2 counts the
// silence from then, and does not blame the daemon for it.
func (f *Fetch) watchSilence(ctx context.Context, after time.Duration) {
	every := max(after/10, 10*time.Millisecond)
	tick := time.NewTicker(every)
	defer tick.Stop()
	last, held := time.Now(), time.Time{}
	for {
		select {
		case <-f.done:
			return
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		now := time.Now()
		if now.Sub(last) > every+after/2 {
			held = now
		}
		last = now
		f.mu.Lock()
		pid, quiet := f.daemonPID, now.Sub(later(f.heard, held))
		warn := pid != 0 && quiet > after && !f.silent
		if warn {
			f.silent = true
		}
		f.mu.Unlock()
		if warn {
			f.o.UI.Warnf("dist-client daemon (pid %d) has sent nothing, not even progress, for %s: it is stopped (kill -CONT %d resumes it) or hung; the install waits for it up to --stall-timeout (%s)\n",
				pid, quiet.Round(time.Second), pid, f.o.stallAfter())
		}
	}
}

// heardAgain notes progress from the source; after a silence warned of,
// it says that the daemon answers again (f.mu held: the line is printed
// by the caller, with what it returns).
func (f *Fetch) heardAgain(now time.Time) (said string) {
	if f.silent {
		f.silent = false
		said = fmt.Sprintf("dist-client daemon (pid %d) answers again, after %s of silence\n", f.daemonPID, now.Sub(f.heard).Round(time.Second))
	}
	f.heard = now
	return said
}

// later is the later of a and b.
func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
