package place

// A directory that an upgrade turns into a file or a symlink (a usrmerge-
// style move: lib/ becomes a symlink to lib64; a bundled directory becomes
// a link to a shared one). As pacman and dpkg do, the new version's entry
// wins over the old version's own entries, and only over those: the
// directory goes aside whole, by one journaled rename, when everything in
// it is something a package of the transaction leaves behind. Anything
// else in it (a file the user put there, an entry another package owns)
// stops the transaction and is named; nothing is deleted that no package
// of the transaction owns. A file of the old version that the user changed
// keeps the whole old directory, as NAME.distpac-save, as a changed file is
// kept on its own.

import (
	"os"
	"path"
	"path/filepath"
	"sort"

	"github.com/distpac/distpac/internal/state"
)

// replacedDir is a directory of the prefix that a new file or symlink
// takes the place of.
type replacedDir struct {
	rel string
	by  string         // "NAME VERSION" of the package whose entry replaces it
	typ state.FileType // what replaces it
	// changed is the first entry in it (absolute) that the user changed
	// since it was installed, and how ("" when none): the directory is
	// then kept.
	changed, what string
}

// replaceDir checks the directory at abs, recorded as a directory by an
// old version leaving and shipped as a file or symlink by n (its entry f):
// everything in it must be an entry leaving with the transaction. It adds
// the conflicts that stop the replacement, or marks abs to go aside whole.
func (p *prep) replaceDir(n *Staged, f state.File, abs, from string) {
	r := replacedDir{rel: f.Path, by: n.Name + " " + n.Version, typ: f.Type}
	ok := true
	var walk func(dir, rel string)
	walk = func(dir, rel string) {
		ents, err := os.ReadDir(dir)
		if err != nil {
			p.conflict("%s: %v%s", rel, err, from)
			ok = false
			return
		}
		for _, e := range ents {
			eabs, erel := filepath.Join(dir, e.Name()), path.Join(rel, e.Name())
			old, leaving := p.leaving[eabs]
			switch {
			case !leaving:
				p.strays = append(p.strays, stray{abs: eabs, rel: erel, n: n, f: f})
				ok = false
			case old.Type == state.TypeDir && e.Type().IsDir():
				// Leaving, unless a package that stays records it too.
				p.strays = append(p.strays, stray{abs: eabs, rel: erel, n: n, f: f, leaving: true})
				walk(eabs, erel)
			case old.Type == state.TypeDir:
				// The user put something else where the package made a
				// directory: it is theirs, and kept with the directory
				// (unless a package that stays records the directory).
				p.strays = append(p.strays, stray{abs: eabs, rel: erel, n: n, f: f, leaving: true})
				if r.changed == "" {
					r.changed, r.what = eabs, "not a directory now"
				}
			default:
				if what := Check(p.ctx, eabs, old); what != "" && what != "missing" && r.changed == "" {
					r.changed, r.what = eabs, what
				}
			}
		}
	}
	walk(abs, f.Path)
	if ok {
		if p.replaced == nil {
			p.replaced = map[string]replacedDir{}
		}
		p.replaced[abs] = r
	}
}

// stray is an entry in a directory that n's entry f would replace, which
// no package of the transaction takes away (its conflict names its owner,
// if any), or a directory in it that one does (leaving: a conflict only
// when a package that stays records it too) (strayConflicts).
type stray struct {
	abs, rel string
	n        *Staged
	f        state.File
	leaving  bool
}

// strayConflicts looks up the owners of the strays, in one call, and adds
// their conflicts.
func (p *prep) strayConflicts() error {
	if len(p.strays) == 0 {
		return nil
	}
	abs := make([]string, len(p.strays))
	for i, s := range p.strays {
		abs[i] = s.abs
	}
	if err := p.lookUpPaths(abs); err != nil {
		return err
	}
	for _, s := range p.strays {
		n, f := s.n, s.f
		if o, owned := p.owners[s.abs]; owned {
			p.conflict("%s is owned by %s %s, and %s %s replaces the directory %s with a %s", s.rel, o.Name, o.Version, n.Name, n.Version, f.Path, f.Type)
		} else if !s.leaving {
			p.conflict("%s is in the directory %s, which %s %s replaces with a %s, and no package owns it (move it out of %s first)", s.rel, f.Path, n.Name, n.Version, f.Type, f.Path)
		}
	}
	return nil
}

// underReplaced reports whether abs is a directory that goes aside whole,
// or is in one: its own step moves it with that directory.
func (p *prep) underReplaced(abs string) bool {
	if len(p.replaced) == 0 {
		return false
	}
	for d := abs; ; d = filepath.Dir(d) {
		if _, ok := p.replaced[d]; ok {
			return true
		}
		if filepath.Dir(d) == d {
			return false
		}
	}
}

// setAsideReplaced adds the steps that move each replaced directory aside
// whole: to a backup deleted after the commit, or kept as
// NAME.distpac-save when the user changed something in it.
func (p *prep) setAsideReplaced() {
	dirs := make([]string, 0, len(p.replaced))
	for d := range p.replaced {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs)
	for _, d := range dirs {
		r := p.replaced[d]
		if r.changed == "" {
			p.setAside(d, false)
			continue
		}
		save := p.setAside(d, true)
		p.o.Warn("%s was changed since it was installed: %s; %s replaces the directory %s with a %s, so the old directory is kept as %s\n", r.changed, r.what, r.by, r.rel, r.typ, save)
	}
}
