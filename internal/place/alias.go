package place

// One entry, two spellings: the user's symlink lib64 -> lib makes
// lib64/libx.so and lib/libx.so one file, and a prefix reached through a
// symlink makes plink/bin/tool and real/bin/tool one file. The records
// hold paths as they were spelled at install; a look-up by the literal
// path alone said "no package owns it" of another package's file, which
// --overwrite then replaced and an uninstall deleted. As pacman does
// since 4.1, an entry is also known by its real path: its directories
// resolved (the last element is the entry itself, a symlink included).
// Prepare asks for the owners of the real path of every path it brings
// in or takes away (through the index, as for the literal one), and for
// the recorded paths of the same name whose real path is the same
// (Options.Named: a scan of the records) only for the paths that need it:
// those it brings in that are on disk with no owner, and those it takes
// away that a symlink leads through.

import (
	"path/filepath"
	"sort"

	"github.com/distpac/distpac/internal/state"
)

// alias is the owner of an entry that a package records under another
// spelling of its path.
type alias struct {
	state.Owner
	as string // the path as recorded, absolute
}

// RealPath is abs with the directories of it that exist resolved, as the
// kernel follows them: where the entry abs names really is. Its last
// element is kept as it is. dist-client owner asks it of one path; Prepare
// of many, through its cache.
func RealPath(abs string) string { return realPaths{}.path(abs) }

// realPaths caches the directories resolved (dir), each once per
// Prepare.
type realPaths map[string]string

func (p *prep) realPath(abs string) string { return p.real.path(abs) }

func (rp realPaths) path(abs string) string {
	return filepath.Join(rp.dir(filepath.Dir(abs)), filepath.Base(abs))
}

// dir resolves the deepest directory of d that exists and keeps the rest.
// It is bounded: each call goes up one element (EvalSymlinks itself
// follows at most 255 links).
func (rp realPaths) dir(d string) string {
	if r, ok := rp[d]; ok {
		return r
	}
	r, err := filepath.EvalSymlinks(d)
	if err != nil {
		r = d
		if parent := filepath.Dir(d); parent != d {
			r = filepath.Join(rp.dir(parent), filepath.Base(d))
		}
	}
	rp[d] = r
	return r
}

// lookUpAliases finds the owners of the entries the changes bring in or
// take away under other spellings of their paths (p.aliases): through the
// real path of each, and, for the entries brought in that are on disk and
// that no package records by the literal path (a file would be said
// unowned; a directory recorded as not made by distpac, and left behind
// when emptied), and the files taken away that a symlink leads through,
// among the recorded paths of the same name.
func (p *prep) lookUpAliases(changes []Change) error {
	var asked, named []string
	for _, c := range changes {
		if c.New != nil {
			for _, f := range c.New.Files {
				abs := join(c.New.Prefix, f.Path)
				asked = append(asked, abs)
				if _, owned := p.owners[abs]; !owned && exists(abs) {
					named = append(named, abs)
				}
			}
		}
		if c.Old != nil {
			for _, f := range c.Old.Files {
				abs := join(c.Old.Prefix, f.Path)
				switch {
				case f.Type == state.TypeDir && f.Created:
					asked = append(asked, abs)
				case f.Type != state.TypeDir:
					asked = append(asked, abs)
					// Only a path that a symlink leads through may be
					// another package's under a third spelling: the checks
					// above, at each install, keep two packages from
					// owning one real file, so a leaving file spelled as
					// it really is has no other owner. Asking for every
					// leaving file scanned all the records at each
					// uninstall and upgrade: 0.55 s at 100,000 recorded
					// files, and an EvalSymlinks for each same-named one
					// (a review).
					if exists(abs) && p.realPath(abs) != abs {
						named = append(named, abs)
					}
				}
			}
		}
	}
	if err := p.aliasesByRealPath(asked); err != nil {
		return err
	}
	return p.aliasesByName(named)
}

// aliasesByRealPath looks up the real paths of asked that differ from
// the literal ones.
func (p *prep) aliasesByRealPath(asked []string) error {
	if p.o.Owners == nil {
		return nil
	}
	spelled := map[string][]string{} // real path -> the paths asked that lead there
	var reals []string
	for _, abs := range asked {
		if r := p.realPath(abs); r != abs {
			if _, ok := spelled[r]; !ok {
				reals = append(reals, r)
			}
			spelled[r] = append(spelled[r], abs)
		}
	}
	if len(reals) == 0 {
		return nil
	}
	found, err := p.o.Owners(reals)
	if err != nil {
		return err
	}
	for r, o := range found {
		for _, abs := range spelled[r] {
			p.addAlias(abs, alias{Owner: o, as: r})
		}
	}
	return nil
}

// aliasesByName looks up, for the paths of named that have no owner yet,
// the recorded paths of the same last element, and keeps those whose real
// path is the same.
func (p *prep) aliasesByName(named []string) error {
	if p.o.Named == nil {
		return nil
	}
	var bases []string
	seen := map[string]bool{}
	for _, abs := range named {
		if _, ok := p.aliases[abs]; ok {
			continue
		}
		if b := filepath.Base(abs); !seen[b] {
			seen[b] = true
			bases = append(bases, b)
		}
	}
	if len(bases) == 0 {
		return nil
	}
	found, err := p.o.Named(bases)
	if err != nil {
		return err
	}
	recorded := make([]string, 0, len(found))
	for c := range found {
		recorded = append(recorded, c)
	}
	sort.Strings(recorded) // the first by path, whatever the map's order
	byReal := map[string]string{}
	for _, c := range recorded {
		if r := p.realPath(c); byReal[r] == "" {
			byReal[r] = c
		}
	}
	for _, abs := range named {
		if c, ok := byReal[p.realPath(abs)]; ok {
			p.addAlias(abs, alias{Owner: found[c], as: c})
		}
	}
	return nil
}

func (p *prep) addAlias(abs string, a alias) {
	if had, ok := p.aliases[abs]; ok && (had.Type != state.TypeDir || a.Type == state.TypeDir) {
		return // a file or symlink over a directory, else the first found
	}
	p.aliases[abs] = a
}

// ownerOf is the owner of abs that a package of the transaction must not
// replace: by the literal path, else under another spelling (as, the path
// recorded; "" for the literal one).
func (p *prep) ownerOf(abs string) (o state.Owner, as string, ok bool) {
	if o, ok := p.owners[abs]; ok {
		return o, "", true
	}
	if a, ok := p.aliases[abs]; ok {
		return a.Owner, a.as, true
	}
	return state.Owner{}, "", false
}

// sameArriving adds a conflict for an entry that two changes bring in
// under two spellings of one real path (the literal ones are caught
// where p.arriving is filled): one of them would find the other's in
// place when the moves are applied.
func (p *prep) sameArriving(changes []Change) {
	type arrival struct {
		i   int
		rel string
		typ state.FileType
	}
	seen := map[string]arrival{}
	for i, c := range changes {
		if c.New == nil {
			continue
		}
		for _, f := range c.New.Files {
			abs := join(c.New.Prefix, f.Path)
			r := p.realPath(abs)
			had, ok := seen[r]
			switch {
			case !ok:
				seen[r] = arrival{i, f.Path, f.Type}
			case had.i != i && join(changes[had.i].New.Prefix, had.rel) != abs && !(f.Type == state.TypeDir && had.typ == state.TypeDir):
				h := changes[had.i].New
				p.conflict("%s of %s %s is %s of %s %s, through a symlink (%s)", f.Path, c.New.Name, c.New.Version, had.rel, h.Name, h.Version, r)
			}
		}
	}
}
