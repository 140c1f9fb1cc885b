package place

// The steps Prepare lists: what is set aside, what is brought in, and the
// directories a change leaves empty.

import (
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/distpac/distpac/internal/state"
)

// takeAway sets aside the files and symlinks of an old version: a backup
// when unchanged, NAME.distpac-save when the user changed it. Its error
// is the context's.
func (p *prep) takeAway(old *Installed) error {
	for _, f := range old.Files {
		if f.Type == state.TypeDir {
			continue
		}
		abs := join(old.Prefix, f.Path)
		if p.underReplaced(abs) {
			continue // goes with its directory
		}
		if a, ok := p.aliases[abs]; ok && a.Type != state.TypeDir {
			// Another package's file, recorded under another spelling of
			// the path: deleting it broke that package.
			p.o.Warn("%s of %s %s is also %s of %s %s (the same %s through a symlink); left in place\n", abs, old.Name, old.Version, a.as, a.Name, a.Version, a.Type)
			continue
		}
		if err := p.guard.unsafe(abs); err != nil {
			// Neither read nor moved: where the name leads is another
			// user's choice (guard.go).
			p.o.Warn("%s of %s %s left in place: %v\n", abs, old.Name, old.Version, err)
			continue
		}
		what := Check(p.ctx, abs, f)
		if err := p.ctx.Err(); err != nil {
			return err
		}
		switch {
		case what == "":
			p.setAside(abs, false)
		case what == "missing":
		case isDir(abs):
			// The user's directory where the package's file or symlink
			// was (Check says "is a dir now"): theirs to keep where it is.
			p.o.Warn("%s was recorded as a %s of %s %s and is a directory now; left alone\n", abs, f.Type, old.Name, old.Version)
		case p.same[abs] && !strings.HasPrefix(what, "is a "):
			// The user's edit of a file the new version ships unchanged
			// (a configuration file, mostly): theirs stays, as dpkg and
			// pacman keep an edited configuration file the package did
			// not change. Before, it went aside as .distpac-save and the
			// package's copy came back at every upgrade.
			p.userKept[abs] = true
			p.o.Warn("%s was changed since %s %s installed it: %s; left as it is (the new version ships it unchanged; dist-client verify lists it as changed)\n", abs, old.Name, old.Version, what)
		default:
			save := p.setAside(abs, true)
			p.o.Warn("%s was changed since %s %s installed it: %s; kept as %s\n", abs, old.Name, old.Version, what, save)
		}
	}
	return nil
}

// sameAcross adds to p.same the files and symlinks that c's new version
// ships exactly as its old version recorded them, when c changes a
// package from one version to another in the same prefix. A reinstall of
// the same version is left out: it is how a user puts back the package's
// files (after dist-client verify), changed ones included.
func (p *prep) sameAcross(c Change) {
	if c.Old == nil || c.New == nil || c.Old.Name != c.New.Name || c.Old.Version == c.New.Version || c.Old.Prefix != c.New.Prefix {
		return
	}
	was := make(map[string]state.File, len(c.Old.Files))
	for _, f := range c.Old.Files {
		was[f.Path] = f
	}
	for _, f := range c.New.Files {
		o, ok := was[f.Path]
		if !ok || o.Type != f.Type {
			continue
		}
		switch f.Type {
		case state.TypeFile:
			ok = o.SHA256 == f.SHA256 && o.Size == f.Size && o.Mode == f.Mode
		case state.TypeSymlink:
			ok = o.Target == f.Target
		default:
			ok = false
		}
		if ok {
			p.same[join(c.New.Prefix, f.Path)] = true
		}
	}
}

// setAside adds the step that moves abs out of the way and returns where it
// goes.
func (p *prep) setAside(abs string, keep bool) string {
	var dst string
	if keep {
		dst = state.SaveName(abs, 0)
		for n := 1; exists(dst) || p.taken(dst); n++ {
			dst = state.SaveName(abs, n)
		}
	} else {
		dst = state.BackupName(abs, p.txid, len(p.ops))
	}
	p.ops = append(p.ops, state.Op{Kind: state.OpAway, Src: abs, Dst: dst, Ino: inode(abs)})
	p.away[abs] = true
	return dst
}

func (p *prep) taken(dst string) bool {
	for _, op := range p.ops {
		if op.Dst == dst {
			return true
		}
	}
	return false
}

// bringIn adds the renames of a staged tree and returns its records: a
// directory missing from the prefix moves whole, everything else entry by
// entry.
func (p *prep) bringIn(n *Staged) []state.File {
	out := make([]state.File, len(n.Files))
	moved := map[string]bool{} // directories moved whole; their entries come along
	inMoved := func(rel string) bool {
		for d := path.Dir(rel); d != "."; d = path.Dir(d) {
			if moved[d] {
				return true
			}
		}
		return false
	}
	for i, f := range n.Files {
		out[i] = f
		abs := join(n.Prefix, f.Path)
		if inMoved(f.Path) {
			out[i].Created = f.Type == state.TypeDir
			if f.Type == state.TypeDir {
				p.placed[abs] = true
			}
			continue
		}
		if f.Type == state.TypeDir && p.placed[abs] {
			// Another package of this plan brings it in first: shared, and
			// made by distpac.
			out[i].Created = true
			continue
		}
		if p.userKept[abs] {
			continue // the user's copy stays; the record is the package's
		}
		present := exists(abs) && !p.away[abs]
		if f.Type == state.TypeDir && present {
			// Not placed: what is there (maybe through the user's
			// symlink) is what is recorded.
			if fi, err := os.Stat(abs); err == nil {
				out[i].Mode = state.Perm(fi.Mode())
			}
			// Made by distpac if its owner (under any spelling: lib64/sub
			// of one package is lib/sub of another) says so.
			o, _, _ := p.ownerOf(abs)
			out[i].Created = o.Created || p.leaving[abs].Created
			continue
		}
		src := filepath.Join(n.Root, filepath.FromSlash(f.Path))
		p.ops = append(p.ops, state.Op{Kind: state.OpPlace, Src: src, Dst: abs, Ino: inode(src)})
		if f.Type == state.TypeDir {
			out[i].Created = true
			moved[f.Path] = true
			p.placed[abs] = true
		}
	}
	return out
}

// emptied adds the removal of the old versions' directories that distpac
// made, that nothing arriving or staying records, deepest first across all
// the changes (several packages leaving may share one); they go after the
// commit if empty.
func (p *prep) emptied(changes []Change) {
	dirs := map[string]bool{}
	for _, c := range changes {
		if c.Old == nil {
			continue
		}
		for _, f := range c.Old.Files {
			abs := join(c.Old.Prefix, f.Path)
			if f.Type != state.TypeDir || !f.Created {
				continue
			}
			if _, ok := p.arriving[abs]; ok {
				continue
			}
			if _, _, ok := p.ownerOf(abs); ok {
				continue
			}
			if p.underReplaced(abs) {
				continue // set aside whole; a path under it leads into the new entry now
			}
			if err := p.guard.unsafe(abs); err != nil {
				p.o.Warn("%s of %s %s left in place: %v\n", abs, c.Old.Name, c.Old.Version, err)
				continue
			}
			dirs[abs] = true
		}
	}
	sorted := make([]string, 0, len(dirs))
	for d := range dirs {
		sorted = append(sorted, d)
	}
	sort.Sort(sort.Reverse(sort.StringSlice(sorted)))
	for _, d := range sorted {
		p.ops = append(p.ops, state.Op{Kind: state.OpRmdir, Src: d})
	}
}
