// Package state keeps the client's installed-package records and the lock
// that lets one process at a time change them.
//
// The records are one JSON file replaced atomically (temp file, fsync,
// rename), so a crash or kill -9 leaves either the old or the new state. A
// package is recorded only after its install script succeeded: a killed
// install leaves it unrecorded, and the next run can install it again.
package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gofrs/flock"

	"github.com/distpac/distpac/internal/fsutil"
)

// Record is one installed package.
type Record struct {
	Name        string    `json:"name"`
	Version     string    `json:"version"`
	Auto        bool      `json:"auto,omitempty"` // installed only as a dependency
	Depends     []string  `json:"depends,omitempty"`
	Conflicts   []string  `json:"conflicts,omitempty"`
	Archive     string    `json:"archive"`
	SHA256      string    `json:"sha256"`
	Size        int64     `json:"size"`
	InstalledAt time.Time `json:"installed_at"`
}

// State is every installed package, keyed by name.
type State struct {
	Packages map[string]Record `json:"packages"`
}

const version = 1

type file struct {
	Version  int      `json:"version"`
	Packages []Record `json:"packages"`
}

// Load reads the state; a missing file is an empty state.
func Load(path string) (*State, error) {
	s := &State{Packages: map[string]Record{}}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read installed state: %w", err)
	}
	var f file
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("read installed state %s: %w", path, err)
	}
	if f.Version != version {
		return nil, fmt.Errorf("read installed state %s: version %d, this dist-client reads %d", path, f.Version, version)
	}
	for _, r := range f.Packages {
		s.Packages[r.Name] = r
	}
	return s, nil
}

// Save replaces the state file atomically.
func (s *State) Save(path string) error {
	f := file{Version: version, Packages: s.Sorted()}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("save installed state: %w", err)
	}
	if err := fsutil.WriteFileAtomic(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("save installed state: %w", err)
	}
	return nil
}

// Sorted returns the records by name.
func (s *State) Sorted() []Record {
	out := make([]Record, 0, len(s.Packages))
	for _, r := range s.Packages {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Get finds a record by name, ignoring case.
func (s *State) Get(name string) (Record, bool) {
	if r, ok := s.Packages[name]; ok {
		return r, true
	}
	for n, r := range s.Packages {
		if strings.EqualFold(n, name) {
			return r, true
		}
	}
	return Record{}, false
}

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
