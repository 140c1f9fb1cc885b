package resolve

import (
	"strings"

	"github.com/distpac/distpac/internal/manifest"
)

// noVersionText says why no version of p meets d, which none does
// (d.allowed is empty): the constraint contradicts itself, there is no
// stable version, no build of that version, or the versions there are.
func noVersionText(d *restriction, p *pkg) string {
	prefix := ""
	if d.from != nil || d.imp != nil {
		prefix = depPhrase(d, p.name) + ", but "
	}
	if d.dep.Constraint != nil && manifest.NeverMet(d.dep.Constraint) {
		return prefix + neverPhrase(d.dep)
	}
	if d.imp != nil && d.imp.mixed {
		return prefix + "no version of " + p.name + " is one of those " + available(p)
	}
	if d.dep.Constraint == nil {
		return prefix + p.name + " has no stable version " + available(p)
	}
	if builds := otherBuilds(p, d.dep); len(builds) > 0 {
		return prefix + "no version of " + p.name + " is exactly " + strings.TrimPrefix(rawOf(d.dep), "=") +
			" (build metadata must match; there are " + JoinAnd(builds) + ")"
	}
	if prefix == "" {
		return NoMatch(p.name, rawOf(d.dep)) + " " + available(p)
	}
	return prefix + "no version of " + p.name + " matches " + rawOf(d.dep) + " " + available(p)
}

// jointEmpty returns a small subset of deps that no version satisfies
// together, or nil when they all can be met at once.
func jointEmpty(deps []*restriction) []*restriction {
	if len(deps) < 2 {
		return nil
	}
	inter := func(set []*restriction) bool {
		m := set[0].allowed
		for _, d := range set[1:] {
			m = m.and(d.allowed)
		}
		return m.count() == 0
	}
	if !inter(deps) {
		return nil
	}
	set := append([]*restriction(nil), deps...)
	for i := 0; i < len(set) && len(set) > 2; {
		trial := append(append([]*restriction(nil), set[:i]...), set[i+1:]...)
		if inter(trial) {
			set = trial
			continue
		}
		i++
	}
	return set
}

func jointText(set []*restriction, name string) string {
	if len(set) == 2 {
		// A request named by the caller (Dep.Said) and one constraint:
		// the constraint alone says why.
		for i, d := range set {
			if d.from == nil && d.imp == nil && d.dep.Said != "" {
				return depPhrase(set[1-i], name)
			}
		}
	}
	parts := make([]string, len(set))
	for i, d := range set {
		parts[i] = depPhrase(d, name)
	}
	all := "both"
	if len(set) > 2 {
		all = "all of them"
	}
	return strings.Join(parts, ", ") + ", and no version of " + name + " satisfies " + all
}

// exclusionText explains a domain emptied by conflicts or an upgrade floor
// although the dependencies alone could be met.
func exclusionText(p *pkg, deps, restr []*restriction) string {
	var phrases []string
	seen := map[*restriction]bool{}
	for i := range p.cands {
		ok := true
		for _, d := range deps {
			if !d.allowed.has(i) {
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		for _, x := range restr {
			if x.kind != rDep && !x.allowed.has(i) {
				if !seen[x] {
					seen[x] = true
					if x.kind == rConflict {
						phrases = append(phrases, who(x.from)+" conflicts with "+withRaw(p.name, x.dep))
					} else {
						phrases = append(phrases, p.name+" "+p.inst.Version.String()+" is installed and would not be downgraded")
					}
				}
				break
			}
		}
	}
	var lead []string
	for _, d := range deps {
		if d.from != nil || d.imp != nil {
			lead = append(lead, depPhrase(d, p.name))
		}
	}
	msg := JoinAnd(limit(phrases, 3))
	if len(lead) > 0 {
		msg = strings.Join(limit(lead, 3), ", ") + ", but " + msg
	}
	return msg
}
