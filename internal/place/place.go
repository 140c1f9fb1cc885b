// Package place moves staged package trees into the prefix and recorded
// files out of it, as one journaled step (DESIGN.md §6).
//
// Prepare checks everything before the prefix is touched: a staged path
// that another package owns, or that exists in the prefix without an owner
// (unless --overwrite allows it), stops the transaction with every conflict
// named. It then lists the steps: each file leaving the prefix is renamed
// aside (beside itself, so never across filesystems; a file the user changed
// since it was installed is kept as NAME.distpac-save, or left where it is
// when the new version of an upgrade ships it unchanged; a directory that the
// new version replaces with a file or symlink goes aside whole, when it holds
// nothing but what leaves: replace.go), then each staged
// tree is renamed in (a directory missing from the prefix moves with one
// rename, whatever it holds). The caller journals the steps (state.DB),
// applies them, and commits the records; Undo reverses applied steps and
// Finish deletes the set-aside files once the records are committed. Both
// are idempotent, so recovery after a kill -9 at any step is the same call.
package place

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/distpac/distpac/internal/state"
)

// Installed is a package's recorded files, leaving the prefix (an uninstall,
// or the old version of an upgrade).
type Installed struct {
	Name, Version string
	Prefix        string
	Files         []state.File
}

// Staged is a staged tree entering the prefix.
type Staged struct {
	Name, Version string
	Prefix        string
	Root          string // directory holding the tree (may not exist: empty tree)
	Files         []state.File
}

// Change is one package's part of a transaction: Old leaves, New arrives;
// either may be nil.
type Change struct {
	Old *Installed
	New *Staged
}

// Options for Prepare.
type Options struct {
	// Work is the transaction's work directory, on the prefix's
	// filesystem; it holds the staged trees.
	Work string
	// Owners maps those of the absolute paths asked that packages the
	// transaction does not change record to their owners
	// (state.DB.OwnersOf); nil when no other package records anything.
	// Prepare asks once for every path the changes bring or take away,
	// and once more for what it finds in a directory a file replaces.
	Owners func(abs []string) (map[string]state.Owner, error)
	// Named maps the paths recorded by packages the transaction does not
	// change whose last element is one of bases to their owners
	// (state.DB.OwnersNamed); nil when none. Prepare asks once, for the
	// entries on disk that no package records by their literal path,
	// to find those recorded under another spelling (alias.go).
	Named func(bases []string) (map[string]state.Owner, error)
	// Overwrite lists globs of unowned paths that may be replaced
	// (pacman's --overwrite), matched against the path relative to the
	// prefix and the absolute path; a glob matching a directory matches
	// everything under it.
	Overwrite []string
	// Warn reports a changed file kept as .distpac-save.
	Warn func(format string, args ...any)
}

// Plan is a prepared transaction.
type Plan struct {
	Journal state.Journal
	// Files are the records of each change's New tree, with Created set
	// on the directories distpac makes; nil for a removal.
	Files [][]state.File
	Bytes int64 // regular file bytes placed
}

// Prepare checks the changes against the prefix and the owners and lists
// the steps. Nothing on disk changes. It ends with ctx's error when ctx is
// done while it reads the files leaving (an upgrade reads each one whole
// to tell a changed file from the package's).
func Prepare(ctx context.Context, changes []Change, o Options) (*Plan, error) {
	if o.Warn == nil {
		o.Warn = func(string, ...any) {}
	}
	txid := strings.TrimPrefix(filepath.Base(o.Work), "txn-")
	p := &prep{ctx: ctx, o: o, txid: txid, owners: map[string]state.Owner{}, leaving: map[string]state.File{}, arriving: map[string]int{}, away: map[string]bool{}, placed: map[string]bool{},
		same: map[string]bool{}, userKept: map[string]bool{}, aliases: map[string]alias{}, real: realPaths{}, guard: newGuard()}
	for i, c := range changes {
		if c.Old != nil {
			for _, f := range c.Old.Files {
				p.leaving[join(c.Old.Prefix, f.Path)] = f
			}
		}
		p.sameAcross(c)
		if c.New != nil {
			for _, f := range c.New.Files {
				abs := join(c.New.Prefix, f.Path)
				if j, ok := p.arriving[abs]; ok && j != i && !(f.Type == state.TypeDir && p.arrivingType(changes, j, abs) == state.TypeDir) {
					p.conflict("%s is in both %s %s and %s %s", f.Path, changes[j].New.Name, changes[j].New.Version, c.New.Name, c.New.Version)
				}
				p.arriving[abs] = i
			}
		}
	}
	p.sameArriving(changes)
	if err := p.lookUp(changes); err != nil {
		return nil, err
	}
	if err := p.lookUpAliases(changes); err != nil {
		return nil, err
	}
	for _, c := range changes {
		if c.New != nil {
			p.check(c.New, len(changes) > 1)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err // a Check of replaceDir was cut short
	}
	if err := p.strayConflicts(); err != nil {
		return nil, err
	}
	if len(p.conflicts) > 0 {
		return nil, &ConflictError{Conflicts: p.conflicts}
	}
	// Files leaving, then unowned files replaced, then the new trees.
	for _, c := range changes {
		if c.Old != nil {
			if err := p.takeAway(c.Old); err != nil {
				return nil, err
			}
		}
	}
	p.setAsideReplaced()
	for _, abs := range p.overwrite {
		p.setAside(abs, false)
	}
	plan := &Plan{Journal: state.Journal{Work: o.Work}, Files: make([][]state.File, len(changes))}
	for i, c := range changes {
		if c.New != nil {
			plan.Files[i] = p.bringIn(c.New)
			for _, f := range c.New.Files {
				plan.Bytes += f.Size
			}
		}
	}
	p.emptied(changes)
	plan.Journal.Ops = p.ops
	return plan, nil
}

// prep is the state of one Prepare.
type prep struct {
	ctx    context.Context // Prepare's: reading a file stops when it is done
	o      Options
	txid   string
	owners map[string]state.Owner // of the paths looked up (Options.Owners)
	// aliases: owners of paths brought in or taken away that a package
	// records under another spelling (alias.go); real: directories
	// resolved (realPaths).
	aliases  map[string]alias
	real     realPaths
	guard    *guard                // which paths sit in directories others could swap
	leaving  map[string]state.File // absolute path -> recorded entry leaving
	arriving map[string]int        // absolute path -> change index
	away     map[string]bool       // absolute paths set aside by a step
	// placed: directories an earlier change of the plan moves in whole;
	// a later change that ships the same directory finds it there.
	placed    map[string]bool
	overwrite []string // unowned paths --overwrite replaces
	// replaced: directories of the prefix that a new file or symlink
	// takes the place of; each goes aside whole (replace.go).
	replaced map[string]replacedDir
	// same: files and symlinks that a change to another version ships as
	// the version it replaces did (type, content, mode or target), by
	// absolute path; userKept: those of them the user changed, left as
	// they are (keepUsers).
	same     map[string]bool
	userKept map[string]bool
	// strays: entries found in directories that a new file or symlink
	// would replace (replace.go), checked against their owners at once.
	strays    []stray
	conflicts []string
	ops       []state.Op
}

// lookUp asks Options.Owners for every path the changes bring in (a
// conflict when another package owns it; a directory it shares keeps
// that package's Created) and every directory they take away (left in
// place when another package records it).
func (p *prep) lookUp(changes []Change) error {
	var abs []string
	for _, c := range changes {
		if c.New != nil {
			for _, f := range c.New.Files {
				abs = append(abs, join(c.New.Prefix, f.Path))
			}
		}
		if c.Old != nil {
			for _, f := range c.Old.Files {
				if f.Type == state.TypeDir && f.Created {
					abs = append(abs, join(c.Old.Prefix, f.Path))
				}
			}
		}
	}
	return p.lookUpPaths(abs)
}

// lookUpPaths adds the owners of abs to p.owners.
func (p *prep) lookUpPaths(abs []string) error {
	if p.o.Owners == nil || len(abs) == 0 {
		return nil
	}
	found, err := p.o.Owners(abs)
	if err != nil {
		return err
	}
	for k, o := range found {
		p.owners[k] = o
	}
	return nil
}

func (p *prep) arrivingType(changes []Change, i int, abs string) state.FileType {
	for _, f := range changes[i].New.Files {
		if join(changes[i].New.Prefix, f.Path) == abs {
			return f.Type
		}
	}
	return ""
}

func join(prefix, rel string) string { return filepath.Join(prefix, filepath.FromSlash(rel)) }

// isDir reports whether p is a directory, not through a symlink.
func isDir(p string) bool {
	fi, err := os.Lstat(p)
	return err == nil && fi.IsDir()
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// inode is p's inode number (0 when it cannot be read).
func inode(p string) uint64 {
	fi, err := os.Lstat(p)
	if err != nil {
		return 0
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Ino
	}
	return 0
}
