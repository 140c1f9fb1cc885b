package install

import (
	"context"
	"fmt"
	"strings"

	"github.com/distpac/distpac/internal/catalogclient"
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
