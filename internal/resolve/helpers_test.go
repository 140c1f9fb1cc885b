package resolve

import (
	"strings"
	"testing"

	"github.com/Masterminds/semver/v3"
)

// catalog is a tiny in-memory Source.
type catalog map[string][]Candidate

func (c catalog) Versions(name string) []Candidate { return c[name] }

func mkCatalog(cands ...Candidate) catalog {
	c := catalog{}
	for _, x := range cands {
		c[x.Name] = append(c[x.Name], x)
	}
	return c
}

// pv builds a candidate "name version" with deps; a dep starting with "!"
// is a conflict.
func pv(nameVer string, deps ...string) Candidate {
	name, ver, _ := strings.Cut(nameVer, " ")
	c := Candidate{Name: name, Version: semver.MustParse(ver)}
	for _, d := range deps {
		if strings.HasPrefix(d, "!") {
			c.Conflicts = append(c.Conflicts, mustDep(d[1:]))
		} else {
			c.Depends = append(c.Depends, mustDep(d))
		}
	}
	return c
}

func mustDep(s string) Dep {
	name, raw, _ := strings.Cut(s, " ")
	d := Dep{Name: name, Raw: raw}
	if raw != "" {
		c, err := semver.NewConstraint(raw)
		if err != nil {
			panic(err)
		}
		d.Constraint = c
	}
	return d
}

// buildDep is the request name@version for one exact version, as
// manifest.ParseRequest makes it: the constraint "=version" and, when the
// version has build metadata, Build.
func buildDep(name, version string) Dep {
	d := mustDep(name + " =" + version)
	d.Build = semver.MustParse(version).Metadata()
	return d
}

func reqOf(deps ...string) Request {
	r := Request{}
	for _, d := range deps {
		r.Deps = append(r.Deps, mustDep(d))
	}
	return r
}

// inst parses "name version" or "name version auto".
func inst(specs ...string) []Installed {
	var out []Installed
	for _, s := range specs {
		f := strings.Fields(s)
		out = append(out, Installed{Name: f[0], Version: semver.MustParse(f[1]), Auto: len(f) > 2 && f[2] == "auto"})
	}
	return out
}

func fmtPlan(p *Plan) []string {
	var out []string
	for _, s := range p.Steps {
		line := s.Action.String() + " " + s.Name + " "
		if s.From != nil {
			line += s.From.String() + "->"
		}
		line += s.Version.String()
		if s.Auto {
			line += " auto"
		}
		out = append(out, line)
	}
	return out
}

func mustResolve(t *testing.T, src Source, req Request) []string {
	t.Helper()
	p, err := Resolve(src, req)
	if err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	return fmtPlan(p)
}
