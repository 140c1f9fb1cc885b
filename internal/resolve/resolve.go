package resolve

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/Masterminds/semver/v3"
)

// Dep is one dependency or conflict: a package name and the versions it
// covers.
type Dep struct {
	Name       string
	Constraint *semver.Constraints // nil = any (non-prerelease) version
	Raw        string              // constraint text for messages, "" when nil
	// Build, in a request (Request.Deps), is the build metadata of the one
	// exact version asked for ("b" of name@1.0.0+b): of the versions the
	// constraint allows, which differ only in build metadata, only the one
	// with exactly this metadata is. "" lets build metadata not matter, as
	// in SemVer precedence. Ignored in dependencies and conflicts.
	Build string
	// Said, in a request, is how an explanation names it: "" for "you
	// asked for NAME CONSTRAINT". A plan that asks for a version nobody
	// asked for (install's kept-back line: why the newest version cannot
	// be had) names it "NAME V", and where it and one other constraint
	// alone clash ("..., and no version of NAME satisfies both") that
	// constraint says it alone, the line around naming the version.
	// Ignored in dependencies and conflicts.
	Said string
}

// Candidate is one version of a package in the catalog.
type Candidate struct {
	Name    string
	Version *semver.Version
	Depends []Dep
	// Conflicts lists packages that cannot be installed alongside this one;
	// a nil constraint means any version of that name.
	Conflicts []Dep
}

// Source gives the versions available for a name (the catalog), in any order.
type Source interface {
	Versions(name string) []Candidate
}

// Installed is one installed package.
type Installed struct {
	Name    string
	Version *semver.Version
	Auto    bool // installed as a dependency, not asked for
}

// Request is what to resolve.
type Request struct {
	Deps      []Dep       // what the user asked for
	Installed []Installed // what is installed now
	// Upgrade names installed packages allowed to move to a newer version;
	// the others stay where they are unless UpgradeAll is set.
	Upgrade    map[string]bool
	UpgradeAll bool
	// Free names installed packages that may move to a newer version when
	// the rest needs it, staying where they are otherwise (their installed
	// version is tried first): an install whose package needs newer
	// versions of what it depends on.
	Free map[string]bool
	// MaxSteps caps the number of versions tried; 0 means DefaultMaxSteps.
	MaxSteps int
	// Context, when set, stops the search once it ends (Ctrl-C, SIGTERM),
	// with its error: a search of a hostile catalog ran its million steps,
	// 2.5 minutes, deaf to both (an attacker's run).
	Context context.Context
}

// DefaultMaxSteps is the search cap used when Request.MaxSteps is 0.
const DefaultMaxSteps = 1_000_000

// ErrTooComplex is returned (wrapped) when the search exceeds its step cap.
var ErrTooComplex = errors.New("resolution too complex")

// Action says what a Step does to a package.
type Action int

// The actions of a plan. Keep never appears in Plan.Steps (only changes
// do); it is there for callers that list unchanged packages.
const (
	Install Action = iota
	Upgrade
	Downgrade
	// Replace moves an installed version to another build of it: the same
	// precedence, other build metadata, asked for by an exact request
	// (Dep.Build).
	Replace
	Keep
)

func (a Action) String() string {
	switch a {
	case Install:
		return "install"
	case Upgrade:
		return "upgrade"
	case Downgrade:
		return "downgrade"
	case Replace:
		return "replace"
	case Keep:
		return "keep"
	}
	return fmt.Sprintf("Action(%d)", int(a))
}

// Step is one change of the plan.
type Step struct {
	Name    string
	Version *semver.Version
	From    *semver.Version // installed version; nil unless upgrade or downgrade
	Auto    bool            // pulled in as a dependency, not requested
	Action  Action
}

// Plan is the packages that change, in install order: dependencies before
// their dependents, cycles broken and ties ordered by name.
type Plan struct {
	Steps []Step
}

// Resolve chooses versions for req against src. On failure it returns an
// *Explanation, or an error wrapping ErrTooComplex when the search gave up.
func Resolve(src Source, req Request) (*Plan, error) {
	for i, d := range req.Deps {
		if d.Name == "" {
			return nil, fmt.Errorf("resolve: request %d: empty package name", i+1)
		}
	}
	instSeen := map[string]*semver.Version{}
	for i, in := range req.Installed {
		if in.Name == "" || in.Version == nil {
			return nil, fmt.Errorf("resolve: installed package %d: missing name or version", i+1)
		}
		if v := instSeen[in.Name]; v != nil {
			return nil, fmt.Errorf("resolve: installed package %s listed twice (%s and %s)", in.Name, v, in.Version)
		}
		instSeen[in.Name] = in.Version
	}
	cs := &canonSource{src: src, spell: make(map[string]string, len(req.Installed))}
	for _, in := range req.Installed {
		cs.spell[strings.ToLower(in.Name)] = in.Name // the installed spelling first
	}
	req.Deps = cs.deps(req.Deps)
	s := newSolver(cs, req)
	f := s.setup()
	if f == nil {
		f = s.search(1)
	}
	if f != nil {
		if req.Context != nil && req.Context.Err() != nil {
			return nil, fmt.Errorf("resolve: %w", req.Context.Err())
		}
		if f.tooComplex {
			return nil, fmt.Errorf("%w: gave up after %d steps, stuck on %s", ErrTooComplex, s.steps, s.stuck())
		}
		return nil, s.explain(f)
	}
	return s.plan(), nil
}

// stuck names the packages the search tried most versions of, at most
// three, most first: where a search that gave up spent its steps.
func (s *solver) stuck() string {
	var ps []*pkg
	for _, p := range s.pkgs {
		if p.tries > 0 {
			ps = append(ps, p)
		}
	}
	slices.SortFunc(ps, func(a, b *pkg) int {
		if a.tries != b.tries {
			return b.tries - a.tries
		}
		return strings.Compare(a.name, b.name)
	})
	var names []string
	for _, p := range ps[:min(3, len(ps))] {
		names = append(names, fmt.Sprintf("%s (%d versions tried)", p.name, p.tries))
	}
	return JoinAnd(names)
}

// setup records the installed packages and the request at level 0, the
// choices no search can undo.
func (s *solver) setup() *failure {
	s.markAsked()
	requested := map[string]*semver.Constraints{}
	reqMatch := map[string]bool{}
	for _, d := range s.req.Deps {
		requested[d.Name] = nil
		if _, seen := reqMatch[d.Name]; !seen {
			reqMatch[d.Name] = true
		}
	}
	// A request the installed version does not meet unpins that package.
	for _, in := range s.req.Installed {
		for _, d := range s.req.Deps {
			if d.Name == in.Name && (!checkRelaxed(d.Constraint, in.Version) || !buildAllows(d, in.Version)) {
				reqMatch[d.Name] = false
			}
		}
	}
	var pinned, upgradable []*pkg
	for i := range s.req.Installed {
		in := &s.req.Installed[i] // names are unique: Resolve checked
		p := s.load(in.Name)
		p.inst = in
		p.instCand = p.ensureInstalled(in.Version, s.wantBuilds[in.Name] != nil)
		_, isReq := requested[in.Name]
		switch {
		case isReq && !reqMatch[in.Name]:
			// Moves to whatever the request allows; no floor.
		case s.req.UpgradeAll || s.req.Upgrade[in.Name]:
			upgradable = append(upgradable, p)
		case s.req.Free[in.Name]:
			// As an upgrade, but the search tries the installed version
			// first (tryOrder).
			p.preferInst = true
			upgradable = append(upgradable, p)
		default:
			p.pinned = true
			pinned = append(pinned, p)
		}
	}
	for name := range requested {
		s.load(name).requested = true
	}
	for _, p := range pinned {
		s.save(p)
		p.chosen = p.instCand
		p.level = 0
	}
	for _, p := range upgradable {
		floor := newBits(len(p.cands))
		for i, c := range p.cands {
			if UpgradeAllows(p.inst.Version, c.version) {
				floor.set(i)
			}
		}
		if f := s.restrict(p, &restriction{kind: rKeep, level: 0, allowed: floor}); f != nil {
			return f
		}
	}
	for _, p := range pinned {
		if f := s.apply(p.instCand, 0); f != nil {
			return f
		}
	}
	for _, d := range s.req.Deps {
		q := s.load(d.Name)
		allowed := s.match(q, d.Constraint)
		if d.Build != "" {
			allowed = allowed.and(buildMask(q, d))
		}
		r := &restriction{kind: rDep, dep: d, level: 0, allowed: allowed}
		if f := s.restrict(q, r); f != nil {
			return f
		}
	}
	return nil
}

// buildAllows reports whether v has the build metadata the request d names
// (any, when it names none).
func buildAllows(d Dep, v *semver.Version) bool {
	return d.Build == "" || v.Metadata() == d.Build
}

// buildMask returns the candidates of p that have the build metadata d
// names.
func buildMask(p *pkg, d Dep) bitset {
	m := newBits(len(p.cands))
	for i, c := range p.cands {
		if buildAllows(d, c.version) {
			m.set(i)
		}
	}
	return m
}

// plan turns the chosen versions into ordered steps.
func (s *solver) plan() *Plan {
	var names []string
	for name, p := range s.pkgs {
		if p.chosen != nil {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	deps := func(name string) []string {
		var out []string
		for _, d := range s.pkgs[name].chosen.cand.Depends {
			if q := s.pkgs[d.Name]; q != nil && q.chosen != nil && d.Name != name {
				out = append(out, d.Name)
			}
		}
		return out
	}
	plan := &Plan{}
	for _, name := range installOrder(names, deps) {
		p := s.pkgs[name]
		c := p.chosen
		st := Step{Name: name, Version: c.version, Auto: !p.requested, Action: Install}
		if p.inst != nil {
			if c == p.instCand {
				continue
			}
			st.From = p.inst.Version
			switch cmp := c.version.Compare(p.inst.Version); {
			case cmp > 0:
				st.Action = Upgrade
			case cmp < 0:
				st.Action = Downgrade
			default: // another build of the installed version
				st.Action = Replace
			}
			st.Auto = p.inst.Auto && !p.requested
		}
		plan.Steps = append(plan.Steps, st)
	}
	return plan
}

// UpgradeAllows reports whether an upgrade may move an installed version
// from to v: never below it, and to a pre-release only when from is one
// itself, as the constraint ">=from" would allow. Without the second rule
// upgrade would pick 2.0.0-rc.1 over a stable 1.2.0, although no
// constraint named a pre-release.
func UpgradeAllows(from, v *semver.Version) bool {
	if v.Compare(from) < 0 {
		return false
	}
	return v.Prerelease() == "" || from.Prerelease() != "" || v.Equal(from)
}

// checkRelaxed reports whether v meets c, treating v as acceptable even when
// it is a pre-release: used for installed versions, which must not be forced
// to move just because they are pre-releases.
func checkRelaxed(c *semver.Constraints, v *semver.Version) bool {
	if c == nil {
		return true
	}
	cc := *c
	cc.IncludePrerelease = true
	return cc.Check(v)
}
