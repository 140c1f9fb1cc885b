package daemon

// What a daemon does when an install of its data home holds peer_addr:
// it waits for that install to end, with its socket given up, and then
// starts (startEngine).

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"syscall"
	"time"

	"github.com/distpac/distpac/internal/config"
	"github.com/distpac/distpac/internal/fsutil"
	"github.com/distpac/distpac/internal/state"
	"github.com/distpac/distpac/internal/swarm"
)

// peerWaitLimit bounds a daemon's wait for an install that holds
// peer_addr: past it the daemon exits with an error (the systemd unit
// starts it again 5 s later, which waits again: one journal line an hour
// at most). An install holds peer_addr for its download and its scripts,
// each bounded (its stall timeout, the scripts' 30 minutes), but a large
// download at a capped rate may take hours.
const peerWaitLimit = time.Hour

// peerWaitPoll is how often a waiting daemon tries peer_addr again: a try
// is an engine's start that fails at its listen (well under a
// millisecond), and the daemon starts within this of the install's end.
// A new install that finds the daemon not answering yet waits up to 3 s
// for it (internal/fetch), so the daemon is up well within that.
const peerWaitPoll = 250 * time.Millisecond

// peerFreeGrace is how long peer_addr may stay taken with no dist-client
// at work in the data home, or with one at work that holds no listener
// on it, before the daemon counts it another program's: an install that
// ends closes its engine before it lets the state lock go, but one killed
// lets both go as it dies, in no set order, and the next dist-client may
// take the lock while the ended one's listener is still closing.
const peerFreeGrace = 2 * time.Second

// startEngine starts the daemon's engine on peer_addr. Where a dist-client
// of this data home is at work while peer_addr is taken, that is an
// install downloading with an engine of its own (no daemon answered it,
// or the one it downloaded through left in the middle: internal/fetch):
// the daemon then gives its socket up (ln.Close, keeping the lock, so no
// second daemon starts), says once per install that it waits for it, and
// tries peer_addr every peerWaitPoll, at most peerWaitLimit; once it binds,
// it takes the socket back and returns the Listener at its path. It
// exited instead, and the unit's Restart=on-failure started it again
// every 5 s with a journal line each until the install ended, for hours
// of a long download.
//
// The socket is given up rather than kept unanswered while it waits: every
// command that asks a daemon (status, an install) would wait for one that
// cannot answer (Dial's 2 s), and an install would hand its download to a
// daemon with no engine. With no socket, commands find no daemon; an
// install finds its lock held and waits up to 3 s for it to answer before
// it starts an engine of its own (internal/fetch), and the daemon, whose
// try comes every peerWaitPoll, answers within that once peer_addr is free.
//
// ctx ending (Ctrl-C, SIGTERM) stops the wait at once: a nil engine and
// no error. Any other failure to bind is an error, as before.
func startEngine(ctx context.Context, o Options, ln *Listener) (*swarm.Engine, *Listener, error) {
	cfg, cp := o.Config, o.Paths
	newEngine := func() (*swarm.Engine, error) {
		return swarm.New(EngineConfig(cfg, cp.Cache(), cp.Dir, o.Logger))
	}
	engine, err := newEngine()
	if err == nil {
		return engine, ln, nil
	}
	pid, busy := atWork(cp.Lock())
	if !busy || !errors.Is(err, syscall.EADDRINUSE) {
		return nil, ln, config.InUse("peer_addr", true, err)
	}
	if err := heldElsewhere(err, pid, cfg.PeerAddr); err != nil {
		return nil, ln, err
	}
	ln.Close()
	start := time.Now()
	lastBusy := start
	said := -1
	// elsewhere is since when peer_addr has been taken while the
	// dist-client at work holds no listener on it (zero: it has not).
	// The install waited for ends by closing its engine, and the next
	// dist-client takes the lock as it lets it go; on a loaded machine
	// the engine's listener outlived the lock for a poll, and the daemon
	// exited blaming another program (e2e TestDaemonWaitsForInstall,
	// once in a clean clone's make test). Only past peerFreeGrace is it
	// another program's.
	var elsewhere time.Time
	tick := time.NewTicker(peerWaitPoll)
	defer tick.Stop()
	for range peerWaitLimit/peerWaitPoll + 1 {
		if busy {
			lastBusy = time.Now()
			if pid != said && elsewhere.IsZero() {
				said = pid
				o.printf("dist-client daemon: waiting for %s to finish: it downloads on peer_addr %s itself, having found no daemon answering; the daemon starts once it is done (waiting at most %s)\n",
					who(pid), cfg.PeerAddr, peerWaitLimit)
			}
		} else if time.Since(lastBusy) >= peerFreeGrace {
			return nil, ln, config.InUse("peer_addr", true, err)
		}
		if time.Since(start) >= peerWaitLimit {
			break
		}
		select {
		case <-ctx.Done():
			o.printf("daemon stopping; it had not started: peer_addr %s was still in use\n", cfg.PeerAddr)
			return nil, ln, nil
		case <-tick.C:
		}
		if engine, err = newEngine(); err == nil {
			o.Logger.Info("peer_addr is free again: starting", "peer_addr", cfg.PeerAddr, "waited", time.Since(start).Round(time.Millisecond))
			back, err := ln.Reopen()
			if err != nil {
				engine.Close()
				return nil, ln, err
			}
			return engine, back, nil
		}
		if !errors.Is(err, syscall.EADDRINUSE) {
			return nil, ln, config.InUse("peer_addr", true, err)
		}
		pid, busy = atWork(cp.Lock())
		herr := heldElsewhere(err, pid, cfg.PeerAddr)
		switch {
		case !busy || herr == nil:
			elsewhere = time.Time{}
		case elsewhere.IsZero():
			elsewhere = time.Now()
		case time.Since(elsewhere) >= peerFreeGrace:
			return nil, ln, herr
		}
	}
	return nil, ln, fmt.Errorf("%w: %s still holds peer_addr %s after %s of waiting: start the daemon again once it has ended (the systemd unit does, within 5 s)",
		err, who(said), cfg.PeerAddr, peerWaitLimit)
}

// atWork says whether a dist-client holds the client lock at path (an
// install, an upgrade), and its pid where the system says (0 elsewhere).
func atWork(path string) (int, bool) {
	if pid := fsutil.LockHolder(path); pid > 0 {
		return pid, true
	}
	held, _ := state.Held(path)
	return 0, held
}

// heldElsewhere is the error for peer_addr (peerAddr) taken, err, while
// pid, the dist-client at work in this data home, holds no listener on
// it (holdsListener): another program has it, and waiting for that
// dist-client to end would not free it. An install holds the client
// lock from its start (resolving, waiting for its turn, running its
// scripts) whether or not its engine is up, and the daemon said it
// waited for that install to finish, up to an hour, blaming it for
// another program's port. nil when pid holds it, or when that cannot be
// told (pid unknown, not Linux, /proc unreadable): the daemon waits.
func heldElsewhere(err error, pid int, peerAddr string) error {
	if pid <= 0 {
		return nil
	}
	_, p, serr := net.SplitHostPort(peerAddr)
	port, perr := strconv.Atoi(p)
	if serr != nil || perr != nil || port <= 0 {
		return nil
	}
	if holds, known := holdsListener(pid, port); holds || !known {
		return nil
	}
	return fmt.Errorf("%w; it is not %s, at work in this data home, which holds no listener on it", config.InUse("peer_addr", true, err), who(pid))
}

// who names the dist-client of pid (0: not known).
func who(pid int) string {
	if pid > 0 {
		return fmt.Sprintf("dist-client (pid %d)", pid)
	}
	return "another dist-client"
}
