package fetch

// What a fetch through the daemon does when the daemon leaves it in the
// middle: it goes on from what the daemon verified, through a daemon that
// answers again (a restart) or with an engine of its own.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/daemon"
	"github.com/distpac/distpac/internal/swarm"
)

// maxHandovers bounds how many times one fetch goes on after its daemon
// left it: a daemon restarted again and again (a unit that fails after
// its start) does not keep an install waiting for ever.
const maxHandovers = 3

// exitWait bounds the wait for a daemon that said it is stopping to
// exit (its lock released, after its engine closed and freed peer_addr):
// its requests have shutdownWait (5 s) to end, and its engine closes
// after them. It exits within a second of the word in practice.
const exitWait = 10 * time.Second

// restartWait is how long, once the daemon that stopped has exited, a
// fetch waits for a daemon to answer on the socket again (systemctl
// restart, an upgrade's restart of the unit) before it downloads the rest
// with an engine of its own. systemd starts the new process as soon as
// the old one exits (which it does 6-80 ms after SIGTERM), and a daemon
// answers on its socket before it has set up what it seeds (Run): 60-200
// ms from exec to an answer, 5 starts on a shared 2-core machine with a
// 32 MiB archive cached. 3 s is 15 times the slowest, room for a loaded
// machine and a large catalog, and short beside the download it saves and
// beside the stall timeout (2 minutes).
const restartWait = 3 * time.Second

// restartPoll is how often the socket is looked at meanwhile: a look is a
// stat while nothing listens there.
const restartPoll = 50 * time.Millisecond

// carryOn goes on with what is left of the fetch when its daemon left it
// in the middle (err matching daemon.ErrStopping or daemon.ErrGone), at
// most maxHandovers times, and returns how that ended; any other err is
// returned as it is. It failed, and left the rest to a second install: a
// user restarting the unit or upgrading distpac while an install ran lost
// that install.
func (f *Fetch) carryOn(ctx context.Context, err error, cached []catalog.Package, ev Events) error {
	for range maxHandovers {
		stopping := errors.Is(err, daemon.ErrStopping)
		if !stopping && !errors.Is(err, daemon.ErrGone) || ctx.Err() != nil || f.o.Source != nil {
			return err
		}
		err = f.handOver(ctx, err, stopping, cached, ev)
		var stuck noHandover
		if errors.As(err, &stuck) {
			return stuck.error
		}
	}
	return err
}

// noHandover is handOver's error when nothing could go on with the fetch:
// the daemon's leaving, which carryOn returns as it is rather than try
// again with it.
type noHandover struct{ error }

// handOver downloads what is left of the fetch after its daemon left it
// (left, its error; stopping: it said it is stopping). A daemon that said
// it is stopping may be restarting: once it has exited, a daemon that
// answers on the socket within restartWait downloads the rest (it resumes
// from the verified pieces on disk, and keeps seeding them after the
// install). Otherwise, and once a daemon that vanished (killed, crashed:
// no word) has exited, an engine of this process downloads it, on
// peer_addr, which the daemon freed as it exited. A daemon that left with
// no word but still answers with its pid (its connection cut) is asked
// again; where one still runs after goneWait and does not answer, or no
// engine can start (the daemon, alive after all, holds peer_addr), the
// fetch fails with left, and why no engine started (noHandover: carryOn
// does not try again).
//
// Whoever binds peer_addr second hands over, rather than fails: a daemon
// that answers after the one that left (a restart, however late) or that
// holds the socket's lock (starting, or waiting for peer_addr) downloads
// the rest in place of an engine of this process (engineOrDaemon), and a
// daemon started while that engine runs waits for the install to end
// before it starts (internal/daemon's startEngine). The engine does not
// take another port instead: two engines of one cache would then download
// the same archive into one .part when the daemon is asked for it (by a
// command that takes no lock, or a daemon that was only slow to answer),
// which peer_addr's bind rules out.
func (f *Fetch) handOver(ctx context.Context, left error, stopping bool, cached []catalog.Package, ev Events) error {
	var rest []catalog.Package
	var finished int64
	f.mu.Lock()
	f.daemonPID, f.silent = 0, false // its waits say what they wait for
	for _, r := range f.need {
		if f.pending[r.Archive] {
			rest = append(rest, r)
		} else {
			finished += r.Size
		}
	}
	f.mu.Unlock()
	if len(rest) == 0 {
		return nil
	}
	what := "dist-client daemon stopped answering in the middle of the download (killed or crashed?)"
	var src Source
	var how string
	old := 0
	if d, ok := f.src.(daemonSource); ok {
		old = d.d.PID()
	}
	if !stopping {
		// The connection broke with no word. A daemon that is still
		// alive (a connection cut by something else, a handler that
		// failed) is asked again: an engine of this process beside it
		// would download into the same .part files, and with peer_addr
		// on port 0 nothing else keeps one from starting.
		exited, err := f.o.waitExit(ctx, old, goneWait)
		if err != nil {
			return err
		}
		// Asked even when its lock reads as released: where the lock
		// table names no holder (macOS, FreeBSD: Holder 0) or names it
		// in another pid namespace (a daemon in a container), waitExit
		// counts a live daemon as exited, and the engine started
		// beside it downloaded into its .part files. The daemon that
		// answers with its pid is alive; a killed one's socket refuses
		// the connection at once.
		d := daemon.Dial(ctx, f.o.Paths.DaemonSocket())
		if err := ctx.Err(); err != nil {
			return err // interrupted while it was asked
		}
		switch {
		case d != nil && d.PID() == old:
			what = "the connection to the dist-client daemon broke in the middle of the download"
			src = f.o.through(d)
			how = fmt.Sprintf("the daemon (pid %d), still running, was asked again and downloads the rest", old)
		case d != nil:
			// Another daemon answers: the one that left has exited
			// (a daemon holds its lock, which the socket's answerer
			// holds, until it has closed everything) and one started
			// since (kill -9 and a quick restart). It downloads the rest
			// and seeds it after the install; an engine of this process
			// failed on peer_addr, which the new daemon holds.
			src = f.o.through(d)
			how = startedSince(d.PID())
		case !exited:
			f.o.logger().Debug("the daemon left the download, is still running and does not answer", "pid", old)
			return noHandover{left}
		}
	} else {
		what = "dist-client daemon is stopping (restart?) in the middle of the download"
		d, err := f.o.waitRestart(ctx, old)
		if err != nil {
			return err // interrupted or stalled while waiting
		}
		if d != nil {
			src = f.o.through(d)
			how = fmt.Sprintf("the daemon that answered again (pid %d) downloads the rest, from what the stopped one had verified", d.PID())
		} else {
			how = fmt.Sprintf("no daemon answered again within %s; ", restartWait)
		}
	}
	if src == nil {
		s, err := f.o.engineOrDaemon(ctx, old)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err() // interrupted while a daemon was waited for
			}
			// Said beside the daemon's words: they alone ended in
			// "install again to finish", not why this install could not
			// (who holds peer_addr).
			return noHandover{fmt.Errorf("%w; this install cannot download the rest itself: %v", left, err)}
		}
		src = s
		if d, ok := s.(daemonSource); ok {
			how = startedSince(d.d.PID())
		} else {
			how += "this install downloads the rest itself, from what the daemon had verified"
		}
	}
	f.src.Close()
	f.src = src // Stop and Again read it once the fetch is done
	f.mu.Lock()
	f.handovers++
	if d, ok := src.(daemonSource); ok {
		f.daemonPID, f.heard = d.d.PID(), time.Now()
	}
	f.mu.Unlock()
	f.o.UI.Warnf("%s: %s\n", what, how)
	progress := ev.Progress
	ev.Progress = func(done int64, n int) { progress(finished+done, n) }
	return src.Fetch(ctx, rest, cached, ev)
}

// startedSince says that a daemon started after the one that left (pid)
// downloads the rest.
func startedSince(pid int) string {
	return fmt.Sprintf("the daemon started since (pid %d) downloads the rest, from what the one that left had verified", pid)
}

// waitRestart waits for the daemon of pid old, which said it is stopping,
// to exit (at most exitWait), then at most restartWait for another to
// answer on the socket, and returns that one; nil when none did, and an
// error when ctx ended meanwhile (Ctrl-C, the stall timeout).
func (o *Options) waitRestart(ctx context.Context, old int) (*daemon.Client, error) {
	start := time.Now()
	if _, err := o.waitExit(ctx, old, exitWait); err != nil {
		return nil, err
	}
	// The wait counts from before the line that says it began: whoever
	// holds this process once it reads the line (kill -STOP, as
	// TestDaemonBackAfterRestartWait does) finds the wait running from
	// then, not from when this process next ran. CI's loaded machine
	// once paused it between the two, and the test's held install found
	// its whole wait still ahead after SIGCONT; a 60 ms pause put there
	// fails the test every run.
	exited := time.Now()
	o.logger().Debug("the daemon that stopped has exited; waiting for one to answer again", "pid", old, "after", exited.Sub(start))
	return o.waitAnswer(ctx, old, false, exited)
}

// waitAnswer waits until restartWait after start for a daemon other than
// the one of pid old (0: none) to answer on the socket, and returns it;
// nil when none did, or, with whileLocked, as soon as no daemon holds the
// socket's lock (none is starting); an error when ctx ended meanwhile.
func (o *Options) waitAnswer(ctx context.Context, old int, whileLocked bool, start time.Time) (*daemon.Client, error) {
	sock := o.Paths.DaemonSocket()
	tick := time.NewTicker(restartPoll)
	defer tick.Stop()
	for range restartWait / restartPoll {
		dctx, cancel := context.WithDeadline(ctx, start.Add(restartWait))
		d := daemon.Dial(dctx, sock)
		cancel()
		if d != nil && d.PID() != old {
			o.logger().Debug("a daemon answered", "pid", d.PID(), "after", time.Since(start))
			return d, nil
		}
		if d != nil {
			d.Close() // the one that left
		}
		if time.Since(start) >= restartWait || whileLocked && !daemon.Locked(sock) {
			break
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-tick.C:
		}
	}
	o.logger().Debug("no daemon answered", "waited", time.Since(start))
	return nil, ctx.Err()
}

// goneWait bounds the wait for a daemon whose connection broke with no
// word to be seen gone: the kernel releases a killed process's lock as it
// closes its descriptors, the connection among them, within milliseconds.
const goneWait = 2 * time.Second

// waitExit waits at most limit for the daemon of pid old to exit (its
// lock released, after everything of it closed: Listener.Release) and
// says whether it did; an error when ctx ended meanwhile. Where the
// system does not say who holds the lock (daemon.Holder 0), or the pid is
// not known, it counts as exited.
func (o *Options) waitExit(ctx context.Context, old int, limit time.Duration) (bool, error) {
	sock := o.Paths.DaemonSocket()
	tick := time.NewTicker(restartPoll)
	defer tick.Stop()
	for range limit/restartPoll + 1 {
		if old == 0 || daemon.Holder(sock) != old {
			return true, nil
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-tick.C:
		}
	}
	return false, nil
}

// handedOver is, of what the source that finished r found verified on
// disk at its start (t.AlreadyHad), the part a daemon that left this
// fetch had verified (f.mu held): none before a handover; after one,
// what is beyond what the archive's partial download held when the fetch
// started (an earlier, interrupted download's).
func (f *Fetch) handedOver(r catalog.Package, t swarm.Transfer) int64 {
	if f.handovers == 0 {
		return 0
	}
	return max(0, t.AlreadyHad-f.startPart[r.Archive])
}
