package state

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gofrs/flock"
)

// Lock is held by the one process changing client state.
type Lock struct{ fl *flock.Flock }

// Acquire takes the lock at path. When another process holds it, onWait is
// called once with that process's pid (0 if unknown) and Acquire waits until
// the lock is free or ctx ends.
func Acquire(ctx context.Context, path string, onWait func(pid int)) (*Lock, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	fl := flock.New(path)
	ok, err := fl.TryLock()
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if !ok {
		if onWait != nil {
			onWait(holder(path))
		}
		ok, err = fl.TryLockContext(ctx, 100*time.Millisecond)
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
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// Release lets the next process in.
func (l *Lock) Release() error { return l.fl.Unlock() }
