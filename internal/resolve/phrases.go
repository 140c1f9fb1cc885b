package resolve

// How an explanation names things: a restriction's origin, a dependency
// as written, the versions of a package and lists of them ("1.0.0, 1.1.0
// or 2.0.0"). The reasons in explain.go build their sentences from these.

import (
	"fmt"
	"slices"
	"strings"

	"github.com/Masterminds/semver/v3"

	"github.com/distpac/distpac/internal/manifest"
)

// who names the origin of a restriction inside a sentence.
func who(c *cand) string {
	if c.installed && c.pkg.pinned {
		return "installed " + c.label()
	}
	return c.label()
}

func rawOf(d Dep) string {
	if d.Raw != "" {
		return d.Raw
	}
	if d.Constraint != nil {
		return d.Constraint.String()
	}
	return ""
}

func withRaw(name string, d Dep) string {
	if raw := rawOf(d); raw != "" {
		return name + " " + raw
	}
	return name
}

func depPhrase(r *restriction, name string) string {
	switch {
	case r.imp != nil:
		return everyVersion(r.imp.via) + " depends on " + impliedWhat(r.imp)
	case r.from == nil && r.dep.Said != "":
		return r.dep.Said
	case r.from == nil:
		return "you asked for " + withRaw(name, r.dep)
	}
	return who(r.from) + " depends on " + withRaw(name, r.dep)
}

// everyVersion names all versions of p: "app 1.0.0" when there is one,
// "every version of app (1.0.0, 1.1.0)" or, past four, "every version of
// app (300, 1.0.0 to 1.0.299)".
func everyVersion(p *pkg) string {
	if len(p.cands) == 1 {
		return who(p.cands[0])
	}
	vs := versions(p)
	if len(vs) <= 4 {
		list := make([]string, len(vs))
		for i, v := range vs {
			list[i] = v.String()
		}
		return "every version of " + p.name + " (" + strings.Join(list, ", ") + ")"
	}
	return fmt.Sprintf("every version of %s (%d, %s to %s)", p.name, len(vs), vs[0], vs[len(vs)-1])
}

// impliedWhat is what the versions of im.via need of im.q: their
// constraint when they all state the same one, else the versions of q
// that one of them allows, as runs: "rc (one of 1.0.0 to 1.0.299)".
func impliedWhat(im *implied) string {
	if !im.mixed {
		return withRaw(im.q.name, im.dep)
	}
	var runs []string
	n := len(im.q.cands)
	for i := n - 1; i >= 0; i-- { // oldest first
		if !im.allowed.has(i) {
			continue
		}
		j := i
		for j > 0 && im.allowed.has(j-1) {
			j--
		}
		run := im.q.cands[i].version.String()
		if j < i {
			run += " to " + im.q.cands[j].version.String()
		}
		runs = append(runs, run)
		i = j
	}
	if len(runs) == 0 {
		return im.q.name + " (versions it does not have)"
	}
	return im.q.name + " (one of " + joinOr(limit(runs, 3)) + ")"
}

func joinOr(xs []string) string {
	if len(xs) < 2 {
		return JoinAnd(xs)
	}
	return strings.Join(xs[:len(xs)-1], ", ") + " or " + xs[len(xs)-1]
}

// versions lists the versions of p, oldest first, with the builds load
// left out when a request names a build (ordered by their text, as the
// catalog orders them).
func versions(p *pkg) []*semver.Version {
	out := make([]*semver.Version, 0, len(p.cands)+len(p.dropped))
	for i := len(p.cands) - 1; i >= 0; i-- {
		out = append(out, p.cands[i].version)
	}
	if len(p.dropped) > 0 {
		out = append(out, p.dropped...)
		slices.SortFunc(out, func(a, b *semver.Version) int {
			if c := a.Compare(b); c != 0 {
				return c
			}
			return strings.Compare(a.String(), b.String())
		})
	}
	return out
}

func available(p *pkg) string {
	var vs []string
	for _, v := range versions(p) {
		vs = append(vs, v.String())
	}
	return Available(vs)
}

// Available is "(available: 1.0.0, 1.1.0)" for the versions there are, in
// order: the first three and the last five of more than ten. What install
// and info say of a name whose versions do not match.
func Available(versions []string) string {
	if len(versions) > 10 {
		versions = append(append(versions[:3:3], "..."), versions[len(versions)-5:]...)
	}
	return "(available: " + strings.Join(versions, ", ") + ")"
}

// NoMatch says that no version of name meets raw, the constraint of a
// request: "no version 1.6.0 of hello" when it asks for one version (a
// request's bare version is "=1.6.0", manifest.ParseRequest), "no version
// of hello matches >=2" for a range. What install and info say.
func NoMatch(name, raw string) string {
	if v, ok := strings.CutPrefix(raw, "="); ok {
		if _, err := manifest.ParseVersion(v); err == nil {
			return "no version " + v + " of " + name
		}
	}
	return "no version of " + name + " matches " + raw
}

// otherBuilds lists the versions of p that the constraint of a request for
// one build (Dep.Build) allows, all of them other builds; nil for any
// other dependency.
func otherBuilds(p *pkg, d Dep) []string {
	if d.Build == "" || d.Constraint == nil {
		return nil
	}
	var out []string
	for _, v := range versions(p) {
		if d.Constraint.Check(v) {
			out = append(out, v.String())
		}
	}
	return out
}

// neverPhrase says that no version can ever meet d (manifest.NeverMet).
func neverPhrase(d Dep) string {
	return "no version of " + d.Name + " can ever match " + rawOf(d) + ": the constraint contradicts itself"
}

// JoinAnd is "a", "a and b", "a, b and c": a list in a message (the
// install transaction's too).
func JoinAnd(xs []string) string {
	switch len(xs) {
	case 0:
		return ""
	case 1:
		return xs[0]
	}
	return strings.Join(xs[:len(xs)-1], ", ") + " and " + xs[len(xs)-1]
}

// JoinAndOthers is JoinAnd of the first n of xs and, past them, "1 other"
// or "N others": names in a message that stays short whatever their number.
func JoinAndOthers(xs []string, n int) string {
	if len(xs) <= n {
		return JoinAnd(xs)
	}
	more, others := len(xs)-n, "others"
	if more == 1 {
		others = "other"
	}
	return JoinAnd(append(xs[:n:n], fmt.Sprintf("%d %s", more, others)))
}

func limit(xs []string, n int) []string {
	if len(xs) <= n {
		return xs
	}
	return append(xs[:n:n], fmt.Sprintf("%d more", len(xs)-n))
}
