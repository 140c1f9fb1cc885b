package state

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gofrs/flock"

	"github.com/distpac/distpac/internal/fsutil"
)

// Lock is held by the one process changing client state.
type Lock struct{ fl *flock.Flock }

// ErrLockedByCaller: the lock is held by a process this one runs under.
var ErrLockedByCaller = errors.New("held by the dist-client")

// callerGrace is how long Acquire waits for a holder that is among this
// process's ancestors before ErrLockedByCaller; a test shortens it.
var callerGrace = 10 * time.Second

// Acquire takes the lock at path. When another process holds it, onWait is
// called once with that process's pid (0 if unknown) and Acquire waits until
// the lock is free or ctx ends; when the holder is a process this one runs
// under (a package's script started it) and still is after callerGrace, it
// fails with ErrLockedByCaller.
func Acquire(ctx context.Context, path string, onWait func(pid int)) (*Lock, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	// A FIFO there would take the lock and then hang the read of the
	// holder's PID, and the write of ours, for ever (an attacker's run).
	if err := fsutil.NotRegular(path); err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	fl := flock.New(path)
	ok, err := fl.TryLock()
	// A reader's probe (Held, for history) holds the lock for microseconds:
	// a try that meets it is tried again for a moment before saying that
	// another dist-client is at work.
	for deadline := time.Now().Add(50 * time.Millisecond); err == nil && !ok && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
		ok, err = fl.TryLock()
	}
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if !ok {
		pid := holder(path)
		if onWait != nil {
			onWait(pid)
		}
		// A command run from a package's script (install.sh calling
		// dist-client install) waited for the command running the script,
		// which waited for the script: both until the script's timeout,
		// 30 minutes (an attacker's run). One whose holder is still among
		// its ancestors after callerGrace gives up; a background job of a
		// script that ends meanwhile (its parents are then others, the
		// holder not waiting for it) waits on.
		wctx, cancel := context.WithCancelCause(ctx)
		defer cancel(nil)
		if pid > 0 && isAncestor(pid) {
			t := time.AfterFunc(callerGrace, func() {
				if isAncestor(pid) {
					cancel(fmt.Errorf("%w (pid %d), which started this one: it would wait for itself; a package's script cannot run dist-client on the installation it is changing", ErrLockedByCaller, pid))
				}
			})
			defer t.Stop()
		}
		ok, err = fl.TryLockContext(wctx, 100*time.Millisecond)
		if cause := context.Cause(wctx); err != nil && errors.Is(cause, ErrLockedByCaller) {
			return nil, fmt.Errorf("lock %s: %w", path, cause)
		}
		if err != nil {
			return nil, fmt.Errorf("lock %s: waited for the other dist-client: %w", path, err)
		}
		if !ok {
			return nil, fmt.Errorf("lock %s: not acquired", path)
		}
	}
	// The pid is informational (for the waiting message); the flock is the
	// lock, and the kernel drops it when the holder dies, even by kill -9.
	_ = os.WriteFile(path, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644)
	return &Lock{fl: fl}, nil
}

func holder(path string) int {
	// The kernel's table of locks names the holder itself; what it wrote
	// can be a dead process's (fsutil.LockHolder says when).
	if pid := fsutil.LockHolder(path); pid > 0 {
		return pid
	}
	b, err := fsutil.ReadRegular(path, 32, false) // a PID and a newline
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// Held reports whether a process holds the lock at path, without waiting
// for it or creating the file: it takes a shared lock, which the holder's
// exclusive one refuses, and drops it at once (as dist-server's running
// check does). The kernel drops a holder's lock when it dies, so a
// command's history entry still "running" while nothing holds the lock is
// a dead process's.
func Held(path string) (bool, error) {
	fl := flock.New(path, flock.SetFlag(os.O_RDONLY))
	ok, err := fl.TryRLock()
	switch {
	case errors.Is(err, os.ErrNotExist):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("lock %s: %w", path, err)
	case ok:
		return false, fl.Unlock()
	}
	return true, nil
}

// Holder reports whether a live process holds the lock at path and, when
// the system says, which (pid 0 when not), without taking the lock or
// waiting: dist-client status tells of a change under way with it, as a
// second install does ("another dist-client (pid N) is changing this
// installation"), and said nothing while an upgrade ran.
func Holder(path string) (pid int, held bool) {
	if !fsutil.LockBusy(path) {
		return 0, false
	}
	return holder(path), true
}

// Release lets the next process in.
func (l *Lock) Release() error { return l.fl.Unlock() }
