package place

// What stops a transaction: a staged path that another package owns, that
// two packages of the plan bring, or that is in the prefix without an
// owner (unless --overwrite allows it). Prepare names every one before it
// lists a step.

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/distpac/distpac/internal/state"
)

// ConflictError lists the paths that stop a transaction.
type ConflictError struct {
	Conflicts []string
}

// maxListed bounds the conflicts named in one error.
const maxListed = 20

func (e *ConflictError) Error() string {
	if len(e.Conflicts) == 1 {
		return e.Conflicts[0] + "; nothing was changed"
	}
	list := e.Conflicts
	more := ""
	if len(list) > maxListed {
		more = fmt.Sprintf("; and %d more", len(list)-maxListed)
		list = list[:maxListed]
	}
	return fmt.Sprintf("%d file conflicts, nothing was changed: %s%s", len(e.Conflicts), strings.Join(list, "; "), more)
}

func (p *prep) conflict(format string, args ...any) {
	p.conflicts = append(p.conflicts, fmt.Sprintf(format, args...))
}

// check finds the conflicts of one staged tree; of several (named), each
// conflict names the package that brings the file: two that bring the
// same owned file were two identical lines.
func (p *prep) check(n *Staged, named bool) {
	var from, fromIn string // " (from app 1.0.0)", and as a first clause in parentheses
	if named {
		from, fromIn = fmt.Sprintf(" (from %s %s)", n.Name, n.Version), fmt.Sprintf("from %s %s; ", n.Name, n.Version)
	}
	missing := map[string]bool{} // staged directories absent from the prefix
	for _, f := range n.Files {
		abs := join(n.Prefix, f.Path)
		isDir := f.Type == state.TypeDir
		if err := p.guard.unsafe(abs); err != nil {
			// Placed there, it would go where another user says (guard.go).
			p.conflict("%s: %v%s", f.Path, err, from)
			continue
		}
		if o, as, ok := p.ownerOf(abs); ok && !(isDir && o.Type == state.TypeDir) {
			if as != "" {
				p.conflict("%s is owned by %s %s, as %s (the same %s through a symlink)%s", f.Path, o.Name, o.Version, as, o.Type, from)
			} else {
				p.conflict("%s is owned by %s %s%s", f.Path, o.Name, o.Version, from)
			}
			continue
		}
		if missing[path.Dir(f.Path)] {
			missing[f.Path] = isDir // nothing can be under a missing directory
			continue
		}
		fi, err := os.Lstat(abs)
		if os.IsNotExist(err) {
			missing[f.Path] = isDir
			continue
		}
		if err != nil {
			p.conflict("%s: %v%s", f.Path, err, from)
			continue
		}
		if old, ok := p.leaving[abs]; ok && old.Type == state.TypeDir && fi.IsDir() && !isDir {
			// The old version's directory becomes a file or symlink.
			p.replaceDir(n, f, abs, from)
			missing[f.Path] = false
			continue
		}
		if old, ok := p.leaving[abs]; ok && old.Type != state.TypeDir && !fi.IsDir() {
			// The old version's file or symlink, set aside first. A
			// directory arriving in its place is then missing: what the
			// old symlink leads to is not where its entries go.
			missing[f.Path] = isDir
			continue
		}
		switch {
		case isDir && fi.IsDir():
			// shared directory
		case isDir && fi.Mode()&os.ModeSymlink != 0 && isDirThrough(abs):
			// the user's symlink to a directory (a package's was caught above)
		case fi.IsDir():
			p.conflict("%s is a directory in the prefix; %s %s has a %s there", f.Path, n.Name, n.Version, f.Type)
		case p.overwritable(n.Prefix, f.Path, abs):
			p.overwrite = append(p.overwrite, abs)
		default:
			p.conflict("%s exists in the prefix and no package owns it (%s--overwrite '%s' replaces it)", f.Path, fromIn, f.Path)
		}
	}
}

func isDirThrough(abs string) bool {
	fi, err := os.Stat(abs)
	return err == nil && fi.IsDir()
}

// overwritable matches rel and abs against the --overwrite globs.
func (p *prep) overwritable(prefix, rel, abs string) bool {
	for _, g := range p.o.Overwrite {
		for _, name := range []string{rel, filepath.ToSlash(abs)} {
			for q := name; q != "." && q != "/" && q != ""; q = path.Dir(q) {
				if ok, _ := path.Match(g, q); ok {
					return true
				}
			}
		}
	}
	return false
}
