package install

import (
	"context"
	"fmt"
	"strings"

	"github.com/Masterminds/semver/v3"

	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/manifest"
	"github.com/distpac/distpac/internal/resolve"
	"github.com/distpac/distpac/internal/state"
	"github.com/distpac/distpac/internal/units"
)

// item is one package of a plan with its catalog row.
type item struct {
	step resolve.Step
	row  catalog.Package
}

// plan resolves req against the catalog and returns the changes with their
// catalog rows, in install order.
func planWith(ctx context.Context, db *catalog.DB, req resolve.Request) ([]item, error) {
	src := newSource(ctx, db)
	plan, err := resolve.Resolve(src, req)
	if src.err != nil {
		return nil, src.err
	}
	if err != nil {
		return nil, err
	}
	items := make([]item, 0, len(plan.Steps))
	for _, s := range plan.Steps {
		row, err := src.row(s.Name, s.Version.Original())
		if err != nil {
			return nil, fmt.Errorf("catalog: %s@%s: %w", s.Name, s.Version, err)
		}
		items = append(items, item{step: s, row: row})
	}
	return items, nil
}

func installedList(st *state.State) []resolve.Installed {
	var out []resolve.Installed
	for _, r := range st.Sorted() {
		v, err := semver.StrictNewVersion(r.Version)
		if err != nil {
			continue // never: records are validated when read
		}
		out = append(out, resolve.Installed{Name: r.Name, Version: v, Auto: r.Auto})
	}
	return out
}

// Install resolves the requests against the catalog and what is installed,
// then downloads and installs the plan.
func (c *Client) Install(ctx context.Context, requests []string) (err error) {
	var deps []resolve.Dep
	for _, r := range requests {
		d, err := manifest.ParseRequest(r)
		if err != nil {
			return fmt.Errorf("argument %q: %w", r, err)
		}
		deps = append(deps, toDep(d))
	}
	cmd := "install " + strings.Join(requests, " ")
	if c.DryRun {
		cmd = "" // a dry run changes nothing and is not recorded
	}
	tx, err := c.begin(ctx, cmd, true)
	if err != nil {
		return err
	}
	defer func() { c.Last = tx.summary(err); tx.end(ctx, err) }()
	items, err := planWith(ctx, tx.db, resolve.Request{Deps: deps, Installed: installedList(tx.recs)})
	if err != nil {
		return err
	}
	// Asking for a package by name makes it explicitly installed, as with
	// pacman and apt: a later --cascade must not take it away.
	var marked []state.Record
	for _, d := range deps {
		if r, ok := tx.recs.Get(d.Name); ok && r.Auto {
			r.Auto = false
			tx.recs.Packages[r.Name] = r
			marked = append(marked, r)
		}
	}
	if len(items) == 0 && c.DryRun {
		c.DryRunResult = &DryRun{Packages: []Availability{}}
		c.UI.Printf("dry run: nothing to do\n")
		return nil
	}
	if len(items) == 0 {
		for _, d := range deps {
			if r, ok := tx.recs.Get(d.Name); ok {
				c.UI.Printf("%s %s is already installed\n", r.Name, r.Version)
			}
		}
		if len(marked) > 0 {
			return tx.st.Commit(ctx, state.Change{Mark: marked, History: tx.historyEnd(state.ResultOK)})
		}
		return nil
	}
	c.printPlan(items)
	if c.DryRun {
		return c.dryRun(ctx, items)
	}
	return c.carryOut(ctx, tx, items, marked)
}

func (c *Client) printPlan(items []item) {
	var total, installed int64
	names := make([]string, 0, len(items))
	for _, it := range items {
		total += it.row.Size
		installed += it.row.InstalledSize
		n := it.row.Name + " " + it.row.Version
		if it.step.From != nil {
			n = it.row.Name + " " + it.step.From.String() + " -> " + it.row.Version
		}
		if it.step.Auto {
			n += " (dependency)"
		}
		names = append(names, n)
	}
	c.UI.Printf("Packages (%d): %s\n", len(items), strings.Join(names, ", "))
	c.UI.Printf("Total download size:  %s\n", units.FormatBytes(total))
	c.UI.Printf("Total installed size: %s\n", units.FormatBytes(installed))
}

// dryRun probes where the plan's archives would come from, prints it and
// fails with ErrWouldFail when the plan could not be carried out now.
func (c *Client) dryRun(ctx context.Context, items []item) error {
	dr := c.probe(ctx, items)
	c.DryRunResult = dr
	c.printDryRun(dr)
	if dr.WouldFail {
		return ErrWouldFail
	}
	return nil
}
