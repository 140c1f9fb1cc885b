package resolve

import (
	"context"
	"slices"
	"sort"

	"github.com/Masterminds/semver/v3"
)

// cand is one version of a package as the solver sees it.
type cand struct {
	pkg       *pkg
	idx       int // position in pkg.cands (newest first)
	cand      Candidate
	version   *semver.Version
	installed bool // the installed version of its package
	// asked: a pre-release the request names exactly (name@1.0.0-rc.1).
	// Constraints match it as they match an installed version (relaxed),
	// so that one command does what installing it first and the rest
	// second does (a dependent's ">=1" holds an installed 2.0.0-rc.1).
	asked   bool
	selfDep bool
	// tried is what the search keeps of a version it has tried; nil
	// until then, since a catalog's versions are many and few are tried
	// (a field each for its parts made BenchmarkResolve allocate 16% more).
	tried *tried
}

// relaxed reports whether constraints match c as they match an installed
// version: pre-releases inside their range included.
func (c *cand) relaxed() bool { return c.installed || c.asked }

// state returns c.tried, made when first asked for.
func (c *cand) state() *tried {
	if c.tried == nil {
		c.tried = &tried{}
	}
	return c.tried
}

// tried is what the search keeps of a version it has tried.
type tried struct {
	watch []*nogood // the learned nogoods that watch it (solver.held)
	// targets are the packages of its dependencies then its conflicts;
	// imposed what choosing it at level imposedAt adds (solver.imposed).
	targets   []*pkg
	imposed   []restriction
	imposedAt int
}

// label names the version in messages: "app 1.0.0". Built only when a
// message is, since formatting versions is costly on the hot path.
func (c *cand) label() string { return c.pkg.name + " " + c.version.String() }

type restrKind uint8

const (
	rDep      restrKind = iota // a dependency (or the request when from is nil): requires the package
	rConflict                  // a conflict: excludes versions without requiring anything
	rKeep                      // an installed package being upgraded: required, never downgraded
	// rImplied narrows a package to the versions that some required
	// package needs of it whichever of its versions is chosen (implied):
	// it requires the package without opening it for the search.
	rImplied
)

// restriction narrows the versions allowed for one package. It is
// immutable once made, so failures can keep pointers to it.
type restriction struct {
	kind    restrKind
	dep     Dep
	from    *cand // who imposed it; nil for the request and rKeep
	level   int   // decision level of from (0 for request and installed)
	allowed bitset
	imp     *implied // set for rImplied
}

func (r *restriction) requires() bool { return r.kind != rConflict }

// opens reports whether r makes its package one the search must choose a
// version of; an rImplied package is chosen once a version of the package
// that implied it depends on it.
func (r *restriction) opens() bool { return r.kind == rDep || r.kind == rKeep }

// implied is what a package (via) needs of another (q) whichever of its
// versions is chosen: every version of via depends on q, so once via is
// required q is too, and only versions that one of via's versions allows
// can do. Learning this when via becomes required, rather than when a
// version of it is chosen, is what lets the search see that ra (every
// version needs an rc 1.x) and rb (every version needs an rc 2.x) can
// never go together, instead of trying every version of ra with every
// version of rb.
type implied struct {
	via     *pkg
	q       *pkg
	allowed bitset // the union of what via's versions allow of q
	// dep is the dependency when every version of via states it alike
	// (the same constraint text), for messages; mixed when they differ.
	dep   Dep
	mixed bool
}

// pkg is everything the solver knows about one name.
type pkg struct {
	name          string
	cands         []*cand // newest first
	inst          *Installed
	instCand      *cand
	pinned        bool
	preferInst    bool // Request.Free: try the installed version first
	requested     bool
	masks         map[*semver.Constraints]bitset // dependency matches, per constraint
	conflictMasks map[*semver.Constraints]bitset
	seq           int // order in which the name was first required, for ties
	tries         int // versions of it the search tried: what a search that gives up was stuck on
	heapIdx       int // position in solver.open, -1 when not there
	// dropped are the versions the source lists that load left out
	// because another of the same precedence (differing only in build
	// metadata) stands for them, when a request names a build: for
	// messages.
	dropped []*semver.Version
	// implied is what this package needs of others whichever version is
	// chosen, computed the first time it is required (impliedDone).
	implied     []*implied
	impliedDone bool

	// Search state, saved on the trail before every change.
	restr    []*restriction
	domain   bitset
	domCount int
	reqCount int
	impCount int // rImplied restrictions
	chosen   *cand
	level    int
}

type snapshot struct {
	p        *pkg
	nrestr   int
	domain   bitset
	domCount int
	reqCount int
	impCount int
	chosen   *cand
	level    int
}

// failure says why a branch failed: cs holds the decision levels it depends
// on (level 0 is the request and installed state) and why the words.
type failure struct {
	cs         levelSet
	why        reason
	tooComplex bool
}

// maxFailDetail is how many failed versions of one package an explanation
// keeps; the rest are counted. The message shows at most four reasons
// anyway, and the whole tree was kept: a package of N versions each
// failing over another of N versions held N² reasons (300 MB at N=1000).
// So an explanation node holds at most 8 children, and what the search
// keeps of failures is at most maxNogoods learned reasons plus 8 per
// decision level on its stack, each a tree of at most 8 per level.
const maxFailDetail = 8

type solver struct {
	src       Source
	req       Request
	pkgs      map[string]*pkg
	trail     []snapshot
	decisions []*cand // decisions[level], level >= 1
	open      openHeap
	nNogoods  int
	steps     int
	maxSteps  int
	ctx       context.Context // Request.Context; nil: never stopped
	nextSeq   int
	checks    map[checkKey]bool
	// boundsMemo holds what solver.bounds found of each constraint.
	boundsMemo map[*semver.Constraints]*bounds
	// wantBuilds holds, by name, the build metadata the requests name
	// (Dep.Build).
	wantBuilds map[string]map[string]bool
}

func newSolver(src Source, req Request) *solver {
	s := &solver{
		src:        src,
		req:        req,
		pkgs:       map[string]*pkg{},
		decisions:  []*cand{nil},
		maxSteps:   req.MaxSteps,
		ctx:        req.Context,
		checks:     map[checkKey]bool{},
		boundsMemo: map[*semver.Constraints]*bounds{},
	}
	if s.maxSteps <= 0 {
		s.maxSteps = DefaultMaxSteps
	}
	for _, d := range req.Deps {
		if d.Build == "" {
			continue
		}
		if s.wantBuilds == nil {
			s.wantBuilds = map[string]map[string]bool{}
		}
		if s.wantBuilds[d.Name] == nil {
			s.wantBuilds[d.Name] = map[string]bool{}
		}
		s.wantBuilds[d.Name][d.Build] = true
	}
	return s
}

// load returns the package for name, asking the source once.
func (s *solver) load(name string) *pkg {
	if p := s.pkgs[name]; p != nil {
		return p
	}
	p := &pkg{name: name, seq: -1, heapIdx: -1, masks: map[*semver.Constraints]bitset{}}
	vs := s.src.Versions(name)
	backing := make([]cand, len(vs)) // one allocation for all versions
	p.cands = make([]*cand, 0, len(vs))
	for i, c := range vs {
		if c.Version == nil {
			continue
		}
		backing[i] = cand{pkg: p, cand: c, version: c.Version}
		p.cands = append(p.cands, &backing[i])
	}
	// Newest first; the first of equal versions wins so a sloppy source
	// cannot make the choice depend on map order.
	sort.SliceStable(p.cands, func(i, j int) bool { return p.cands[i].version.GreaterThan(p.cands[j].version) })
	if named := s.wantBuilds[name]; named != nil {
		p.cands, p.dropped = keepBuilds(p.cands, named)
	} else {
		uniq := p.cands[:0]
		for _, c := range p.cands {
			if len(uniq) > 0 && uniq[len(uniq)-1].version.Equal(c.version) {
				continue
			}
			uniq = append(uniq, c)
		}
		p.cands = uniq
	}
	p.reindex()
	s.pkgs[name] = p
	return p
}

func (p *pkg) reindex() {
	for i, c := range p.cands {
		c.idx = i
		c.selfDep = false
		for _, d := range c.cand.Depends {
			if d.Name == p.name {
				c.selfDep = true
			}
		}
	}
	p.domain = newBits(len(p.cands))
	for i := range p.cands {
		p.domain.set(i)
	}
	p.domCount = len(p.cands)
}

// keepBuilds is load's choice among versions of equal precedence (which
// differ only in build metadata) for a package a request names builds of:
// of each such group the builds named are kept (the first of each), or
// the first version when none is named. cands is sorted newest first;
// dropped lists the versions left out.
func keepBuilds(cands []*cand, named map[string]bool) (kept []*cand, dropped []*semver.Version) {
	kept = make([]*cand, 0, len(cands))
	for i := 0; i < len(cands); {
		j := i + 1
		for j < len(cands) && cands[j].version.Equal(cands[i].version) {
			j++
		}
		var group []*cand
		for _, c := range cands[i:j] {
			b := c.version.Metadata()
			if named[b] && !slices.ContainsFunc(group, func(k *cand) bool { return k.version.Metadata() == b }) {
				group = append(group, c)
			}
		}
		if len(group) == 0 {
			group = append(group, cands[i])
		}
		for _, c := range cands[i:j] {
			if !slices.Contains(group, c) {
				dropped = append(dropped, c.version)
			}
		}
		kept = append(kept, group...)
		i = j
	}
	return kept, dropped
}

// ensureInstalled returns the candidate for the installed version, adding
// one without dependencies when the catalog no longer lists it. With
// builds (a request names a build of this package) the candidate must be
// the installed build, not another of the same precedence, so that a
// request for another build moves it. Called before any restriction
// exists, so reindexing is safe.
func (p *pkg) ensureInstalled(v *semver.Version, builds bool) *cand {
	for _, c := range p.cands {
		if c.version.Equal(v) && (!builds || c.version.Metadata() == v.Metadata()) {
			c.installed = true
			return c
		}
	}
	c := &cand{pkg: p, cand: Candidate{Name: p.name, Version: v}, version: v, installed: true}
	i := sort.Search(len(p.cands), func(i int) bool { return p.cands[i].version.LessThan(v) })
	p.cands = append(p.cands, nil)
	copy(p.cands[i+1:], p.cands[i:])
	p.cands[i] = c
	p.reindex()
	return c
}
