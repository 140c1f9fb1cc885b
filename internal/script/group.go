package script

import (
	"errors"
	"syscall"
	"time"
)

// Group names a script's process group (its id is the script's pid, as
// Run starts it with Setpgid) so that another process, later, can tell
// whether it is still that script's: a pid is reused, so the leader's start
// time (clock ticks since boot) and the boot it ran in are kept beside it.
// Start and Boot are zero where the system does not tell them (not Linux).
type Group struct {
	PGID  int
	Start uint64
	Boot  string
}

// GroupState is what became of a Group.
type GroupState int

const (
	// GroupGone: no process of the group is left.
	GroupGone GroupState = iota
	// GroupOurs: the group's leader, the script itself, is still the
	// process that was identified (it may have exited and wait to be
	// reaped, which keeps its pid), and a process of the group runs.
	GroupOurs
	// GroupUnknown: processes of a group with this id run, but which ones
	// cannot be told (the leader is gone, or the system keeps no start
	// times): they may be the script's background jobs, or, after the pid
	// was reused, someone else's.
	GroupUnknown
)

// killWait bounds how long Kill waits for a killed group to go: SIGKILL
// cannot be caught, so only a process in uninterruptible sleep (a hung
// NFS read) outlasts it.
const killWait = 5 * time.Second

// ErrNotOurs: Kill found the group is not (or no longer verifiably) the
// script's.
var ErrNotOurs = errors.New("not verifiably the script's process group")

// ErrOwnGroup: Kill was asked for the group the calling process runs in.
var ErrOwnGroup = errors.New("the process group this dist-client runs in")

// Kill kills the group with SIGKILL, only when its leader is still the
// script identified (GroupOurs), and waits, a bounded time, for it to go.
func (g Group) Kill() error {
	if g.PGID == syscall.Getpgrp() {
		// This process runs in the script's group: a dist-client the
		// script ran, recovering after its parent was killed. Killing the
		// group would kill itself (the review's find).
		return ErrOwnGroup
	}
	if g.State() != GroupOurs {
		return ErrNotOurs
	}
	if err := syscall.Kill(-g.PGID, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return err
	}
	deadline := time.Now().Add(killWait)
	for g.alive() {
		if time.Now().After(deadline) {
			return errors.New("still running " + killWait.String() + " after SIGKILL")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

// alive reports whether a process of the group is left, other than a
// leader that exited and waits to be reaped.
func (g Group) alive() bool {
	if g.PGID <= 1 {
		return false
	}
	err := syscall.Kill(-g.PGID, 0)
	if err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	return !g.onlyZombies()
}
