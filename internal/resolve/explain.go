package resolve

import (
	"fmt"
	"slices"
	"strings"

	"github.com/distpac/distpac/internal/manifest"
)

// Explanation is the error Resolve returns when no choice of versions
// satisfies the request. Its message is plain English; the package doc
// lists the exact forms.
type Explanation struct {
	Verb    string   // "install", "upgrade" or "keep"
	Targets []string // requested names, in request order
	Cause   string   // the root cause
	// Missing names a package the catalog does not have at all when that
	// is the root cause ("no package named ..."): a dependency the
	// publisher may have added after the catalog was synced.
	Missing string
	// Unmatched names a package the catalog has, none of whose versions
	// meets a constraint, when that alone is why ("no version 1.6.0 of
	// hello"): most often a version published after the catalog was
	// synced, so it gets the hint Missing gets.
	Unmatched string
}

func (e *Explanation) Error() string {
	switch {
	case len(e.Targets) > 0:
		return "cannot " + e.Verb + " " + JoinAnd(limit(e.Targets, 5)) + ": " + e.Cause
	case e.Verb == "keep":
		return "cannot keep the installed packages: " + e.Cause
	}
	return "cannot " + e.Verb + ": " + e.Cause
}

func (s *solver) explain(f *failure) *Explanation {
	e := &Explanation{Verb: "install", Cause: shorten(f.why.text()), Missing: missingOf(f.why), Unmatched: unmatchedOf(f.why)}
	seen := map[string]bool{}
	for _, d := range s.req.Deps {
		if !seen[d.Name] {
			seen[d.Name] = true
			e.Targets = append(e.Targets, d.Name)
		}
	}
	if len(e.Targets) > 0 {
		return e
	}
	e.Verb = "upgrade"
	for _, in := range s.req.Installed {
		if s.req.Upgrade[in.Name] && !seen[in.Name] {
			seen[in.Name] = true
			e.Targets = append(e.Targets, in.Name)
		}
	}
	if len(e.Targets) == 0 && !s.req.UpgradeAll {
		e.Verb = "keep"
	}
	return e
}

type reason interface{ text() string }

// maxCause bounds the cause of an explanation: reasons nest (every
// version of a fails because every version of b …), each level listing up
// to four, and a message of kilobytes of version pairs hides the gist.
// Whole reasons are cut at a "; ".
const maxCause = 600

func shorten(cause string) string {
	if len(cause) <= maxCause {
		return cause
	}
	if i := strings.LastIndex(cause[:maxCause], "; "); i > 0 {
		return cause[:i] + "; …"
	}
	return cause[:maxCause] + "…"
}

// missingOf names the package the catalog lacks when that alone is why:
// directly, or as the reason every failed version of a package shares.
func missingOf(r reason) string {
	return soleCause(r, func(r *noMatchReason) string {
		if len(r.p.cands) == 0 {
			return r.p.name
		}
		return ""
	})
}

// unmatchedOf names the package when no version the catalog has meets a
// constraint on it (one that can be met: not manifest.NeverMet), and that
// alone is why, as missingOf.
func unmatchedOf(r reason) string {
	return soleCause(r, func(r *noMatchReason) string {
		if len(r.p.cands) == 0 {
			return ""
		}
		for _, d := range r.restr {
			if (d.kind == rDep || d.kind == rImplied) && d.allowed.count() == 0 &&
				d.dep.Constraint != nil && !manifest.NeverMet(d.dep.Constraint) {
				return r.p.name
			}
		}
		return ""
	})
}

// soleCause is the name leaf gives a noMatchReason, directly or as the
// name it gives the reason of every failed version of a package alike;
// "" when the failures differ.
func soleCause(r reason, leaf func(*noMatchReason) string) string {
	switch r := r.(type) {
	case *noMatchReason:
		return leaf(r)
	case *clashReason:
		// A dependency no version meets, whatever was chosen for it, is
		// told as one with no version left (noVersionText).
		if r.r.kind != rConflict && r.r.allowed.count() == 0 {
			return leaf(&noMatchReason{p: r.chosen.pkg, restr: []*restriction{r.r}})
		}
	case *exhaustedReason:
		name := ""
		for i, f := range r.fails {
			m := soleCause(f.why, leaf)
			if m == "" || i > 0 && m != name {
				return ""
			}
			name = m
		}
		return name
	}
	return ""
}

type valueFail struct {
	c   *cand
	why reason
}

// noMatchReason: p is required but no version is left.
type noMatchReason struct {
	p     *pkg
	restr []*restriction
}

// clashReason: r rules out the version already chosen for its package.
type clashReason struct {
	r      *restriction
	chosen *cand
	restr  []*restriction
}

// selfDepReason: c depends on its own name.
type selfDepReason struct{ c *cand }

// exhaustedReason: every allowed version of p failed.
type exhaustedReason struct {
	p       *pkg
	fails   []valueFail // the first maxFailDetail
	omitted int         // failed versions not kept
}

func (r *selfDepReason) text() string { return r.c.label() + " depends on itself" }

func (r *noMatchReason) text() string {
	p := r.p
	var deps []*restriction
	for _, x := range r.restr {
		if x.kind == rDep || x.kind == rImplied {
			deps = append(deps, x)
		}
	}
	if len(p.cands) == 0 {
		var needers []string
		seen := map[string]bool{}
		for _, d := range deps {
			var needer string
			switch {
			case d.imp != nil:
				needer = everyVersion(d.imp.via)
			case d.from != nil:
				needer = who(d.from)
			default:
				continue
			}
			if !seen[needer] {
				seen[needer] = true
				needers = append(needers, needer)
			}
		}
		msg := fmt.Sprintf("no package named %q", p.name)
		if len(needers) > 0 {
			msg += " (needed by " + JoinAnd(limit(needers, 3)) + ")"
		}
		return msg
	}
	for _, d := range deps {
		if d.allowed.count() == 0 {
			return noVersionText(d, p)
		}
	}
	if joint := jointEmpty(deps); joint != nil {
		return jointText(joint, p.name)
	}
	return exclusionText(p, deps, r.restr)
}

func (r *clashReason) text() string {
	q := r.chosen.pkg
	v := r.chosen.version.String()
	state := "selected " + v
	if r.chosen.installed && q.pinned {
		state = "installed " + v
	}
	if r.r.kind == rConflict {
		return r.r.from.label() + " conflicts with " + withRaw(q.name, r.r.dep) + " (" + state + ")"
	}
	if r.r.allowed.count() == 0 {
		// No version would do, installed or not: what upgrading it
		// cannot mend is not blamed on its being kept.
		return noVersionText(r.r, q)
	}
	if r.chosen.installed && q.pinned {
		return depPhrase(r.r, q.name) + ", but " + q.name + " " + v + " is installed and is not being upgraded"
	}
	var deps []*restriction
	for _, x := range r.restr {
		if x.kind == rDep || x.kind == rImplied {
			deps = append(deps, x)
		}
	}
	if joint := jointEmpty(deps); joint != nil {
		return jointText(joint, q.name)
	}
	return depPhrase(r.r, q.name) + ", but " + q.name + " " + v + " was selected"
}

// text groups the versions that failed for the same reason, so that "app
// 1.0.0 …" and "app 1.1.0 …" read as "every version of app (1.0.0, 1.1.0) …".
func (r *exhaustedReason) text() string {
	const hole = "\x00"
	type group struct {
		key   string
		cands []*cand
	}
	var groups []*group
	byKey := map[string]*group{}
	for _, f := range r.fails {
		key := strings.ReplaceAll(f.why.text(), f.c.label(), hole)
		g := byKey[key]
		if g == nil {
			g = &group{key: key}
			byKey[key] = g
			groups = append(groups, g)
		}
		g.cands = append(g.cands, f.c)
	}
	var out []string
	for _, g := range groups {
		// Oldest first reads naturally in a list: by place in the
		// catalog's order (idx, newest first), not in the order search
		// tried them, which puts an installed version first for a
		// Request.Free package (tryOrder).
		slices.SortFunc(g.cands, func(a, b *cand) int { return b.idx - a.idx })
		rev := make([]string, len(g.cands))
		for i, c := range g.cands {
			rev[i] = c.version.String()
		}
		var subject string
		switch {
		case len(rev) == 1:
			subject = r.p.name + " " + rev[0]
		case len(groups) == 1 && r.omitted == 0:
			subject = "every version of " + r.p.name + " (" + strings.Join(rev, ", ") + ")"
		default:
			subject = r.p.name + " " + JoinAnd(rev)
		}
		out = append(out, strings.ReplaceAll(g.key, hole, subject))
	}
	if len(out) > 4 {
		out = append(out[:4], fmt.Sprintf("and %d more", len(out)-4))
	}
	if r.omitted > 0 {
		out = append(out, fmt.Sprintf("%d more versions of %s fail too", r.omitted, r.p.name))
	}
	return strings.Join(out, "; ")
}
