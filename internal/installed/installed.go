// Package installed answers what is installed, read-only: an installed
// package's files (files), the packages that placed a path (owner), the
// disk against the records (verify), and the history. It takes no lock and
// changes nothing: the state database is in WAL mode, so a query reads the
// last committed state while an install runs, and one command's bug here
// cannot touch what an install does. It reaches neither the network nor
// the engine (internal/deptest holds that), so these commands work with no
// server and no daemon.
package installed

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"

	"github.com/distpac/distpac/internal/paths"
	"github.com/distpac/distpac/internal/place"
	"github.com/distpac/distpac/internal/state"
)

// Reader reads one client's state.
type Reader struct {
	Paths  paths.Client
	Logger *slog.Logger
}

func (c *Reader) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Logger
}

// openRead opens the state for a query; nil when nothing was ever
// installed with this dist-client.
func (c *Reader) openRead(ctx context.Context) (*state.DB, error) {
	db, ok, err := state.OpenRead(ctx, c.Paths.Installed())
	if err != nil || !ok {
		return nil, err
	}
	return db, nil
}

// Files returns an installed package's record and the files it placed.
func (c *Reader) Files(ctx context.Context, name string) (r state.Record, files []state.File, err error) {
	err = state.View(ctx, c.Paths.Installed(), func(s *state.Snapshot) error {
		st, err := s.State(ctx)
		if err != nil {
			return err
		}
		var ok bool
		if r, ok = st.Get(name); !ok {
			return fmt.Errorf("%s: %w", name, state.ErrNotInstalled)
		}
		files, err = s.Files(ctx, r.Name)
		return err
	})
	return r, files, err
}

// ErrNotOwned is a path no installed package placed.
var ErrNotOwned = errors.New("no installed package owns it")

// Owners finds the packages that placed path (relative paths are taken
// from the working directory, as pacman -Qo does): one for a file or a
// symlink, every one by name for a directory that several placed (share/doc
// of two packages), as pacman -Qo names them. A path under a symlinked
// directory is also looked up through the link.
func (c *Reader) Owners(ctx context.Context, path string) (string, []state.Owner, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", nil, err
	}
	db, err := c.openRead(ctx)
	if err != nil {
		return abs, nil, err
	}
	if db == nil {
		return abs, nil, fmt.Errorf("%s: %w", abs, ErrNotOwned)
	}
	defer db.Close()
	p, o, err := owner(ctx, db, abs)
	if err != nil {
		return abs, nil, err
	}
	if o.Type != state.TypeDir {
		return abs, []state.Owner{o}, nil
	}
	all, err := db.DirOwners(ctx, p)
	if err != nil || len(all) == 0 { // the directory's owner is under a file of another package at the same path
		return abs, []state.Owner{o}, err
	}
	return abs, all, nil
}

// owner finds the recorded path abs is (itself, or through a symlinked
// directory) and its one owner, as state.OwnersOf merges them; where the
// path really leads is place's (the conflict check's) answer.
func owner(ctx context.Context, db *state.DB, abs string) (string, state.Owner, error) {
	asked := []string{abs}
	real := place.RealPath(abs)
	if real != abs {
		asked = append(asked, real)
	}
	found, err := db.OwnersOf(ctx, nil, asked)
	if err != nil {
		return "", state.Owner{}, err
	}
	for _, p := range asked {
		if o, ok := found[p]; ok {
			return p, o, nil
		}
	}
	// Recorded under a symlinked directory: the recorded paths of the same
	// name, resolved, the first by path (as the conflict check takes).
	named, err := db.OwnersNamed(ctx, nil, []string{filepath.Base(abs)})
	if err != nil {
		return "", state.Owner{}, err
	}
	for _, p := range slices.Sorted(maps.Keys(named)) {
		if place.RealPath(p) == real {
			return p, named[p], nil
		}
	}
	return "", state.Owner{}, fmt.Errorf("%s: %w", abs, ErrNotOwned)
}

// Verified is one package's verify result. Its paths are counted by type:
// one count of every path said "3 files" of a package of one file in two
// directories.
type Verified struct {
	Name        string          `json:"name"`
	Version     string          `json:"version"`
	Prefix      string          `json:"prefix"`
	Files       int             `json:"files"` // regular files
	Symlinks    int             `json:"symlinks"`
	Directories int             `json:"directories"`
	Problems    []place.Problem `json:"problems"` // of any recorded path
	// Untracked counts paths its install.sh wrote straight into the
	// prefix, which cannot be verified.
	Untracked int `json:"untracked,omitempty"`
	// Unknown is set for a package an older dist-client installed without
	// recording its files.
	Unknown bool `json:"files_unknown"`
}

// Verify compares the recorded files of the named packages (all when names
// is empty) with the disk: missing, changed content, changed mode or type,
// changed symlink target.
func (c *Reader) Verify(ctx context.Context, names []string) ([]Verified, error) {
	var recs []state.Record
	var files [][]state.File
	err := state.View(ctx, c.Paths.Installed(), func(s *state.Snapshot) error {
		st, err := s.State(ctx)
		if err != nil {
			return err
		}
		if len(names) == 0 {
			recs = st.Sorted()
		}
		for _, n := range names {
			r, ok := st.Get(n)
			if !ok {
				return fmt.Errorf("verify %s: %w", n, state.ErrNotInstalled)
			}
			recs = append(recs, r)
		}
		for _, r := range recs {
			f, err := s.Files(ctx, r.Name)
			if err != nil {
				return err
			}
			files = append(files, f)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// The disk is read after the snapshot's transaction ends: a long verify
	// would otherwise hold back the WAL's checkpoints.
	out := []Verified{}
	for i, r := range recs {
		v := Verified{Name: r.Name, Version: r.Version, Prefix: r.Prefix, Untracked: len(r.Untracked), Unknown: !r.FilesKnown, Problems: []place.Problem{}}
		for _, f := range files[i] {
			switch f.Type {
			case state.TypeDir:
				v.Directories++
			case state.TypeSymlink:
				v.Symlinks++
			default:
				v.Files++
			}
		}
		p, err := place.Verify(ctx, r.Prefix, files[i])
		if err != nil {
			return nil, err
		}
		if p != nil {
			v.Problems = p
		}
		out = append(out, v)
	}
	return out, nil
}

// History returns the transactions q selects, oldest first. An entry still
// "running" whose command no longer holds the client lock is shown
// interrupted: that process died (kill -9, a crash), and the next command
// that takes the lock records it so (recover); this read changes nothing.
func (c *Reader) History(ctx context.Context, q state.HistoryQuery) ([]state.HistoryEntry, error) {
	h, err := c.readHistory(ctx, q)
	running := map[int64]bool{}
	for _, x := range h {
		if x.Result == state.ResultRunning {
			running[x.ID] = true
		}
	}
	if err != nil || len(running) == 0 {
		return h, err
	}
	// Read before the lock is looked at: an entry running then belonged to
	// the lock's holder. If nothing holds the lock now, that command has
	// ended, and one that ended well recorded how before it let go, so a
	// second read shows it; an entry running in both died. (An entry new
	// in the second read is a command that took the lock since.)
	if held, err := state.Held(c.Paths.Lock()); err != nil || held {
		if err != nil {
			c.logger().Debug("history: cannot tell whether the running entries' commands live; shown as recorded", "err", err)
		}
		return h, nil
	}
	if h, err = c.readHistory(ctx, q); err != nil {
		return nil, err
	}
	for i := range h {
		if h[i].Result == state.ResultRunning && running[h[i].ID] {
			// The changes it was about to make, which the next command
			// rolls back (state.DB.MarkInterrupted).
			h[i].Result, h[i].Changes = state.ResultInterrupted, []state.HistoryChange{}
		}
	}
	return h, nil
}

// readHistory reads the entries q selects as recorded.
func (c *Reader) readHistory(ctx context.Context, q state.HistoryQuery) ([]state.HistoryEntry, error) {
	db, err := c.openRead(ctx)
	if err != nil || db == nil {
		return []state.HistoryEntry{}, err
	}
	defer db.Close()
	h, err := db.History(ctx, q)
	if h == nil {
		h = []state.HistoryEntry{}
	}
	return h, err
}
