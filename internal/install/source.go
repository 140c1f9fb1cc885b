package install

import (
	"context"
	"errors"
	"fmt"

	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/manifest"
	"github.com/distpac/distpac/internal/resolve"
)

// source adapts the catalog to the resolver. It reads each name once and
// remembers rows so the plan can be carried out without another query.
type source struct {
	ctx  context.Context
	db   *catalog.DB
	rows map[string][]catalog.Package // by name as asked
	err  error
}

func newSource(ctx context.Context, db *catalog.DB) *source {
	return &source{ctx: ctx, db: db, rows: map[string][]catalog.Package{}}
}

func (s *source) Versions(name string) []resolve.Candidate {
	rows, ok := s.rows[name]
	if !ok {
		var err error
		rows, err = s.db.Versions(s.ctx, name)
		if err != nil && !errors.Is(err, catalog.ErrNotFound) && s.err == nil {
			s.err = err
		}
		s.rows[name] = rows
	}
	out := make([]resolve.Candidate, 0, len(rows))
	for _, r := range rows {
		c, err := candidate(r)
		if err != nil {
			if s.err == nil {
				s.err = err
			}
			continue
		}
		out = append(out, c)
	}
	return out
}

// preload reads the versions of names not read yet in one query (the
// resolver asks for every installed package's, one by one).
func (s *source) preload(names []string) {
	var todo []string
	for _, n := range names {
		if _, ok := s.rows[n]; !ok {
			todo = append(todo, n)
		}
	}
	if len(todo) == 0 {
		return
	}
	found, err := s.db.VersionsOf(s.ctx, todo)
	if err != nil {
		if s.err == nil {
			s.err = err
		}
		return
	}
	for _, n := range todo {
		s.rows[n] = found[n] // nil: not in the catalog, as Versions' ErrNotFound
	}
}

// row returns the catalog row the resolver chose.
func (s *source) row(name, version string) (catalog.Package, error) {
	for _, r := range s.rows[name] {
		if r.Name == name && r.Version == version {
			return r, nil
		}
	}
	return s.db.Get(s.ctx, name, version)
}

func candidate(r catalog.Package) (resolve.Candidate, error) {
	v, err := manifest.ParseVersion(r.Version)
	if err != nil {
		return resolve.Candidate{}, fmt.Errorf("catalog row %s: %w", r.ID(), err)
	}
	c := resolve.Candidate{Name: r.Name, Version: v}
	for _, d := range r.Depends {
		dep, err := manifest.ParseDependency(d)
		if err != nil {
			return resolve.Candidate{}, fmt.Errorf("catalog row %s: depends: %w", r.ID(), err)
		}
		c.Depends = append(c.Depends, toDep(dep))
	}
	for _, d := range r.Conflicts {
		dep, err := manifest.ParseDependency(d)
		if err != nil {
			return resolve.Candidate{}, fmt.Errorf("catalog row %s: conflicts: %w", r.ID(), err)
		}
		c.Conflicts = append(c.Conflicts, toDep(dep))
	}
	return c, nil
}

func toDep(d manifest.Dependency) resolve.Dep {
	return resolve.Dep{Name: d.Name, Constraint: d.Constraint, Raw: d.Raw, Build: d.Build}
}
