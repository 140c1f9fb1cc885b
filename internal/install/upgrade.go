package install

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/catalogclient"
	"github.com/distpac/distpac/internal/manifest"
	"github.com/distpac/distpac/internal/resolve"
	"github.com/distpac/distpac/internal/state"
	"github.com/distpac/distpac/internal/units"
)

// Upgradable lists installed packages that the catalog has newer allowed
// versions of, as the resolver would move them.
func (c *Client) Upgradable(ctx context.Context) ([]resolve.Step, error) {
	// A read: no lock, so it works while another dist-client installs.
	db, err := catalogclient.Open(ctx, c.Paths.Dir)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	st, err := state.Load(c.Paths.Installed())
	if err != nil {
		return nil, err
	}
	items, err := planWith(ctx, db, resolve.Request{Installed: installedList(st), UpgradeAll: true})
	if err != nil {
		return nil, err
	}
	var out []resolve.Step
	for _, it := range items {
		if it.step.From != nil {
			out = append(out, it.step)
		}
	}
	return out, nil
}

// Upgrade moves installed packages (all of them when names is empty) to the
// newest versions that satisfy every constraint. Everything is downloaded
// first; then, package by package in dependency order, the old version's
// uninstall.sh runs and the new version is staged; the new files replace
// the old ones (and the old ones the new version no longer ships go) in one
// step. If anything fails before that step, the old versions are restored.
func (c *Client) Upgrade(ctx context.Context, names []string, dryRun bool) (err error) {
	cmd := strings.TrimSpace("upgrade " + strings.Join(names, " "))
	if dryRun {
		cmd = "" // a dry run changes nothing and is not recorded
	}
	tx, err := c.begin(ctx, cmd, true)
	if err != nil {
		return err
	}
	defer func() { c.Last = tx.summary(err); tx.end(ctx, err) }()
	st := tx.recs
	req := resolve.Request{Installed: installedList(st), UpgradeAll: len(names) == 0, Upgrade: map[string]bool{}}
	for _, n := range names {
		r, ok := st.Get(n)
		if !ok {
			return fmt.Errorf("upgrade %s: %w", n, ErrNotInstalled)
		}
		if r.Held {
			c.UI.Warnf("%s is held at %s: not upgrading it (dist-client unhold %s)\n", r.Name, r.Version, r.Name)
			continue
		}
		req.Upgrade[r.Name] = true
	}
	// The packages the named ones depend on move with them: app 2.0.0
	// needing libfoo ^2 was out of reach of `upgrade app` while libfoo
	// stayed at 1.1.0, and upgrade said everything was up to date.
	if !req.UpgradeAll {
		for _, n := range dependencyClosure(ctx, tx.db, st, slices.Collect(maps.Keys(req.Upgrade))) {
			req.Upgrade[n] = true
		}
	}
	// Held packages stay where they are: upgrade everything else.
	var held []string
	if req.UpgradeAll {
		for _, r := range st.Sorted() {
			if r.Held {
				held = append(held, r.Name+" "+r.Version)
				continue
			}
			req.Upgrade[r.Name] = true
		}
		if len(held) > 0 {
			req.UpgradeAll = false
			c.UI.Printf("held, not upgraded: %s\n", strings.Join(held, ", "))
		}
	}
	items, err := planWith(ctx, tx.db, req)
	if err != nil {
		return err
	}
	if err := heldInPlan(st, items); err != nil {
		return err
	}
	if len(items) == 0 {
		if len(held) > 0 {
			// "up to date" would contradict the held line above (and list
			// --upgradable, which lists a held package with a newer version).
			c.UI.Printf("nothing else to upgrade (as of the last dist-client sync)\n")
		} else {
			c.UI.Printf("everything is up to date (as of the last dist-client sync)\n")
		}
		return nil
	}
	var lines []string
	for _, it := range items {
		s := it.step
		if s.From != nil {
			lines = append(lines, fmt.Sprintf("  %s %s -> %s", s.Name, s.From, s.Version))
		} else {
			lines = append(lines, fmt.Sprintf("  %s %s (new dependency)", s.Name, s.Version))
		}
	}
	c.UI.Printf("Upgrade plan (%d):\n%s\n", len(items), strings.Join(lines, "\n"))
	c.UI.Printf("Total download size: %s\n", units.FormatBytes(c.downloadSize(items)))
	if dryRun {
		return c.dryRun(ctx, items)
	}
	if err := c.confirmDownload(items); err != nil {
		return err
	}
	return c.carryOut(ctx, tx, items, nil)
}

// dependencyClosure returns the installed, unheld packages that names
// depend on, directly or through one another, in any version of them the
// catalog has (a new version may need what the installed one did not).
// `upgrade NAME` moves them with NAME, as `brew upgrade` moves a formula's
// dependencies, and an install the pinned dependencies make impossible is
// tried again with them free to move.
func dependencyClosure(ctx context.Context, db *catalog.DB, st *state.State, names []string) []string {
	src := newSource(ctx, db)
	seen := map[string]bool{}
	for _, n := range names {
		seen[manifest.NameKey(n)] = true
	}
	var out []string
	for queue := slices.Clone(names); len(queue) > 0; queue = queue[1:] {
		for _, c := range src.Versions(queue[0]) {
			for _, d := range c.Depends {
				if k := manifest.NameKey(d.Name); !seen[k] {
					seen[k] = true
					if r, ok := st.Get(d.Name); ok && !r.Held {
						out = append(out, r.Name)
						queue = append(queue, r.Name)
					}
				}
			}
		}
	}
	slices.Sort(out)
	return out
}
