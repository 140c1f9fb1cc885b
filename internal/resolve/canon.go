package resolve

import (
	"slices"
	"strings"
)

// canonSource spells every name a request or a dependency gives as the
// installed package of that name is spelled, or else as the source spells
// it: names are unique ignoring case (DESIGN.md §3), and the solver keys
// packages by their spelling, so `install Hello` with hello installed, or
// a package that depends on LibGreet with libgreet installed, planned a
// second copy that conflicted with the first's files.
type canonSource struct {
	src   Source
	spell map[string]string // lower-case name -> spelling; the installed ones from the start
}

func (c *canonSource) name(n string) string {
	k := strings.ToLower(n)
	if s, ok := c.spell[k]; ok {
		return s
	}
	s := n
	for _, v := range c.src.Versions(n) {
		if v.Name != "" && strings.EqualFold(v.Name, n) {
			s = v.Name
			break
		}
	}
	c.spell[k] = s
	return s
}

// deps returns ds with each name spelled by name (ds itself when none
// changes).
func (c *canonSource) deps(ds []Dep) []Dep {
	out := ds
	for i, d := range ds {
		if n := c.name(d.Name); n != d.Name {
			if &out[0] == &ds[0] {
				out = slices.Clone(ds)
			}
			out[i].Name = n
		}
	}
	return out
}

func (c *canonSource) Versions(name string) []Candidate {
	vs := c.src.Versions(name)
	out := make([]Candidate, len(vs))
	for i, v := range vs {
		v.Depends, v.Conflicts = c.deps(v.Depends), c.deps(v.Conflicts)
		out[i] = v
	}
	return out
}
