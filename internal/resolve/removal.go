package resolve

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Node is an installed package as the removal graph sees it.
type Node struct {
	Name    string
	Version string // for messages
	Auto    bool   // installed as a dependency, not asked for
	Depends []string
}

// NeededError refuses to remove Name because installed packages outside
// the removal depend on it.
type NeededError struct {
	Name       string
	Dependents []Node // sorted by name
	// Through lists the packages outside the removal that depend on Name
	// only through Dependents (a chain, a cycle), sorted: they must go
	// with it too.
	Through []string
	// Asked lists the other names of the uninstall refused, for the
	// command the message suggests.
	Asked []string
	// Mutual says Name itself depends on one of Dependents (a cycle): the
	// dependents cannot go first, only together with it.
	Mutual bool
}

// maxThroughListed bounds the packages of NeededError.Through named.
const maxThroughListed = 10

func (e *NeededError) Error() string {
	labels := make([]string, len(e.Dependents))
	names := make([]string, len(e.Dependents))
	for i, d := range e.Dependents {
		labels[i], names[i] = d.Name+" "+d.Version, d.Name
	}
	cmd := "dist-client uninstall " + strings.Join(slices.Concat(names, e.Through, []string{e.Name}, e.Asked), " ")
	if len(e.Through) > 0 {
		verb, via := "depend", "them"
		if len(labels) == 1 {
			verb, via = "depends", "it"
		}
		more := fmt.Sprintf("%d more installed packages", len(e.Through))
		if len(e.Through) == 1 {
			more = "1 more installed package"
		}
		head := fmt.Sprintf("cannot uninstall %s: %s %s on it, and %s through %s", e.Name, JoinAndOthers(labels, maxThroughListed), verb, more, via)
		if len(e.Dependents)+len(e.Through) <= maxThroughListed {
			return fmt.Sprintf("%s (uninstall them all together: %s)", head, cmd)
		}
		listed := strings.Join(e.Through[:min(len(e.Through), maxThroughListed)], ", ")
		if n := len(e.Through) - maxThroughListed; n > 0 {
			listed += fmt.Sprintf(" and %d more", n)
		}
		return fmt.Sprintf("%s (%s); uninstall them all together", head, listed)
	}
	if len(labels) > maxThroughListed {
		// 256 dependents named each twice (their labels, then the
		// command) made one line of 3,267 bytes (an attacker's run).
		how := "uninstall them first, or all together"
		if e.Mutual {
			how = "uninstall them all together"
		}
		return fmt.Sprintf("cannot uninstall %s: %d installed packages depend on it, %s (%s)",
			e.Name, len(labels), JoinAndOthers(labels, maxThroughListed), how)
	}
	if e.Mutual {
		// "uninstall cycb first" was refused the same way (a newcomer's
		// run with two packages that depend on each other).
		if len(labels) == 1 {
			return fmt.Sprintf("cannot uninstall %s: %s depends on it, and it on %s (uninstall both together: %s)", e.Name, labels[0], names[0], cmd)
		}
		return fmt.Sprintf("cannot uninstall %s: %s and %s depend on it, and what is uninstalled on them (uninstall them all together: %s)",
			e.Name, strings.Join(labels[:len(labels)-1], ", "), labels[len(labels)-1], cmd)
	}
	if len(labels) == 1 {
		return fmt.Sprintf("cannot uninstall %s: %s depends on it (uninstall %s first, or both together: %s)", e.Name, labels[0], names[0], cmd)
	}
	return fmt.Sprintf("cannot uninstall %s: %s and %s depend on it (uninstall them first, or all together: %s)",
		e.Name, strings.Join(labels[:len(labels)-1], ", "), labels[len(labels)-1], cmd)
}

// graph indexes installed packages by lower-case name (names are unique
// ignoring case).
type graph struct {
	nodes map[string]Node // by lower-case name
	names []string        // lower-case, sorted
}

func newGraph(installed []Node) *graph {
	g := &graph{nodes: make(map[string]Node, len(installed))}
	for _, n := range installed {
		k := strings.ToLower(n.Name)
		g.nodes[k] = n
		g.names = append(g.names, k)
	}
	sort.Strings(g.names)
	return g
}

// dependsOn reports whether a depends on b.
func (g *graph) dependsOn(a, b string) bool {
	for _, d := range g.nodes[a].Depends {
		if strings.EqualFold(d, b) {
			return true
		}
	}
	return false
}

// dependents lists packages not in skip that depend on name, sorted.
func (g *graph) dependents(name string, skip map[string]bool) []Node {
	var out []Node
	for _, k := range g.names {
		if k != name && !skip[k] && g.dependsOn(k, name) {
			out = append(out, g.nodes[k])
		}
	}
	return out
}

// mutual reports whether k itself depends on one of ds (the message then
// says "and it on ..."; another package of the removal that depends on
// one of them is named by the command it suggests).
func (g *graph) mutual(k string, ds []Node) bool {
	for _, d := range ds {
		if g.dependsOn(k, strings.ToLower(d.Name)) {
			return true
		}
	}
	return false
}

// through lists, sorted, the packages not in skip that depend on any of ds
// transitively, ds left out.
func (g *graph) through(ds []Node, skip map[string]bool) []string {
	seen := map[string]bool{}
	for k := range skip {
		seen[k] = true
	}
	queue := make([]string, 0, len(ds))
	for _, d := range ds {
		k := strings.ToLower(d.Name)
		seen[k] = true
		queue = append(queue, k)
	}
	var out []string
	for len(queue) > 0 {
		k := queue[0]
		queue = queue[1:]
		for _, n := range g.dependents(k, seen) {
			m := strings.ToLower(n.Name)
			seen[m] = true
			queue = append(queue, m)
			out = append(out, n.Name)
		}
	}
	sort.Strings(out)
	return out
}

// PlanRemoval returns the packages an uninstall of names removes, in the
// order to remove them: dependents before their dependencies. With cascade
// it adds the packages installed as dependencies that only the removed ones
// needed, transitively. A package that a package staying installed depends
// on is refused with a *NeededError. Names must be installed (any case);
// the result uses the installed spelling.
func PlanRemoval(installed []Node, names []string, cascade bool) ([]string, error) {
	g := newGraph(installed)
	remove := map[string]bool{}
	for _, n := range names {
		k := strings.ToLower(n)
		if _, ok := g.nodes[k]; !ok {
			return nil, fmt.Errorf("remove %s: not installed", n)
		}
		remove[k] = true
	}
	if cascade {
		for changed := true; changed; {
			changed = false
			for _, k := range g.names {
				if remove[k] || !g.nodes[k].Auto || len(g.dependents(k, remove)) > 0 {
					continue
				}
				for r := range remove {
					if g.dependsOn(r, k) {
						remove[k] = true
						changed = true
						break
					}
				}
			}
		}
	}
	keys := make([]string, 0, len(remove))
	for k := range remove {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if ds := g.dependents(k, remove); len(ds) > 0 {
			var asked []string
			for _, o := range keys {
				if o != k {
					asked = append(asked, g.nodes[o].Name)
				}
			}
			return nil, &NeededError{Name: g.nodes[k].Name, Dependents: ds, Through: g.through(ds, remove), Asked: asked, Mutual: g.mutual(k, ds)}
		}
	}
	var out []string
	seen := map[string]bool{}
	var visit func(k string)
	visit = func(k string) {
		if seen[k] {
			return
		}
		seen[k] = true
		for _, m := range keys {
			if g.dependsOn(m, k) {
				visit(m) // dependents first
			}
		}
		out = append(out, g.nodes[k].Name)
	}
	for _, k := range keys {
		visit(k)
	}
	return out, nil
}

// Orphans lists packages installed as dependencies that no installed
// package depends on, sorted: what pacman calls orphans.
func Orphans(installed []Node) []string {
	g := newGraph(installed)
	var out []string
	for _, k := range g.names {
		if g.nodes[k].Auto && len(g.dependents(k, nil)) == 0 {
			out = append(out, g.nodes[k].Name)
		}
	}
	return out
}
