package install

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"

	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/catalogclient"
	"github.com/distpac/distpac/internal/resolve"
	"github.com/distpac/distpac/internal/script"
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
// uninstall.sh runs and the new version's install.sh. If the new install
// fails, the old version is reinstalled and its record kept.
func (c *Client) Upgrade(ctx context.Context, names []string, dryRun bool) error {
	tx, err := c.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.end()
	st := tx.st
	req := resolve.Request{Installed: installedList(st), UpgradeAll: len(names) == 0, Upgrade: map[string]bool{}}
	for _, n := range names {
		r, ok := st.Get(n)
		if !ok {
			return fmt.Errorf("upgrade %s: %w", n, ErrNotInstalled)
		}
		req.Upgrade[r.Name] = true
	}
	items, err := tx.plan(ctx, req)
	if err != nil {
		return err
	}
	if len(items) == 0 {
		c.UI.Printf("everything is up to date (as of the last dist-client sync)\n")
		return nil
	}
	var total int64
	var lines []string
	for _, it := range items {
		s := it.step
		total += it.row.Size
		if s.From != nil {
			lines = append(lines, fmt.Sprintf("  %s %s -> %s", s.Name, s.From, s.Version))
		} else {
			lines = append(lines, fmt.Sprintf("  %s %s (new dependency)", s.Name, s.Version))
		}
	}
	c.UI.Printf("Upgrade plan (%d):\n%s\n", len(items), strings.Join(lines, "\n"))
	c.UI.Printf("Total download size: %s\n", units.FormatBytes(total))
	if dryRun {
		c.UI.Printf("dry run: nothing changed\n")
		return nil
	}
	return c.carryOut(ctx, st, items)
}

// upgradeOne replaces one installed version with another, restoring the old
// one if the new install script fails.
func (c *Client) upgradeOne(ctx context.Context, st *state.State, it item) error {
	old, ok := st.Packages[it.row.Name]
	if !ok {
		return fmt.Errorf("upgrade %s: %w", it.row.Name, ErrNotInstalled)
	}
	oldDir := c.pkgDir(old.Name, old.Version)
	if err := c.ensureExtracted(ctx, old); err != nil {
		return err
	}
	oldEnv := script.Env{Name: old.Name, Version: old.Version, PkgDir: oldDir, Prefix: c.Config.Prefix}
	verb := "upgrading"
	if ov, err1 := semver.StrictNewVersion(old.Version); err1 == nil {
		if nv, err2 := semver.StrictNewVersion(it.row.Version); err2 == nil && nv.LessThan(ov) {
			verb = "downgrading"
		}
	}
	c.UI.Printf("%s %s %s -> %s\n", verb, old.Name, old.Version, it.row.Version)
	if err := script.Run(ctx, "uninstall.sh", oldEnv, c.UI.ScriptOutput()); err != nil {
		return fmt.Errorf("upgrade %s: uninstall of %s: %w (nothing changed)", old.Name, old.Version, err)
	}
	// The old version's files are gone now: until the new version is
	// recorded, the package is not installed. A crash here leaves it
	// unrecorded (the next run can install it), never recorded without
	// its files.
	delete(st.Packages, old.Name)
	if err := st.Save(c.Paths.Installed()); err != nil {
		return err
	}
	it.step.Auto = old.Auto
	err := c.installOne(ctx, st, it)
	if err == nil {
		if oldDir != c.pkgDir(it.row.Name, it.row.Version) {
			os.RemoveAll(oldDir)
		}
		return nil
	}
	// installOne already ran the new version's uninstall.sh; put the old
	// version back, even if ctx was cancelled.
	restoreCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
	defer cancel()
	c.UI.Warnf("restoring %s %s\n", old.Name, old.Version)
	if rerr := script.Run(restoreCtx, "install.sh", oldEnv, c.UI.ScriptOutput()); rerr != nil {
		return fmt.Errorf("upgrade %s to %s failed, and restoring %s failed too (%v; its record is kept, reinstall it): %w", old.Name, it.row.Version, old.Version, rerr, err)
	}
	st.Packages[old.Name] = old
	if serr := st.Save(c.Paths.Installed()); serr != nil {
		return errors.Join(err, serr)
	}
	return fmt.Errorf("upgrade %s to %s failed, %s restored: %w", old.Name, it.row.Version, old.Version, err)
}

// ensureExtracted makes sure an installed version's files are on disk (to
// run its scripts), re-extracting from the cache when they were removed.
func (c *Client) ensureExtracted(ctx context.Context, r state.Record) error {
	dir := c.pkgDir(r.Name, r.Version)
	if _, err := os.Stat(filepath.Join(dir, "scripts", "uninstall.sh")); err == nil {
		return nil
	}
	// The extracted copy is gone: restore it from the cached archive.
	path := filepath.Join(c.Paths.Cache(), r.Archive)
	row := catalog.Package{Name: r.Name, Version: r.Version, Archive: r.Archive, SHA256: r.SHA256, InstalledSize: r.Size}
	if fi, err := os.Stat(path); err == nil {
		row.Size = fi.Size()
		if row.VerifyFile(path) == nil {
			return c.extract(ctx, row, dir)
		}
	}
	return fmt.Errorf("%s %s: its files are missing from %s and no verified archive is cached to restore them; remove its files by hand", r.Name, r.Version, dir)
}

// Clean removes cached archives that no installed package needs and
// leftovers of interrupted downloads, returning the bytes freed.
func (c *Client) Clean(ctx context.Context) (files int, freed int64, err error) {
	lock, err := c.Lock(ctx)
	if err != nil {
		return 0, 0, err
	}
	defer lock.Release()
	st, err := state.Load(c.Paths.Installed())
	if err != nil {
		return 0, 0, err
	}
	keep := map[string]bool{}
	for _, r := range st.Packages {
		keep[r.Archive] = true
	}
	entries, err := os.ReadDir(c.Paths.Cache())
	if errors.Is(err, os.ErrNotExist) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, err
	}
	for _, e := range entries {
		if keep[e.Name()] || e.IsDir() {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		if err := os.Remove(filepath.Join(c.Paths.Cache(), e.Name())); err != nil {
			return files, freed, err
		}
		files++
		freed += info.Size()
	}
	return files, freed, nil
}
