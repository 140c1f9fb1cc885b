package install

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/Masterminds/semver/v3"

	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/resolve"
	"github.com/distpac/distpac/internal/state"
)

// withdrawnReinstall is the error of a reinstall of r, a version the
// catalog no longer lists, naming the versions it lists, or none: the
// hint said `dist-client search NAME` lists them, which listed nothing
// of a package withdrawn whole (a newcomer's run).
func withdrawnReinstall(ctx context.Context, db *catalog.DB, r state.Record) error {
	head := fmt.Sprintf("cannot reinstall %s %s: the catalog no longer lists it (the publisher withdrew it)", r.Name, r.Version)
	vs, err := db.Versions(ctx, r.Name)
	if err != nil && !errors.Is(err, catalog.ErrNotFound) {
		return fmt.Errorf("%s; %w", head, err)
	}
	var other []string // newest first
	for _, p := range slices.Backward(vs) {
		other = append(other, p.Version)
	}
	if len(other) == 0 {
		return fmt.Errorf("%s, nor any version of %s: keep this one as it is, or uninstall it", head, r.Name)
	}
	return fmt.Errorf("%s; install another version (the catalog lists %s: dist-client install %s@VERSION), or keep this one as it is",
		head, resolve.JoinAndOthers(other, 5), r.Name)
}

// addReinstalls adds the requested packages that are installed at the
// version the plan keeps as moves to that same version: their files are
// staged and placed again, their scripts run again (pacman -S of an
// installed package; apt install --reinstall). A version the catalog no
// longer lists cannot be: an error says so (it was a warning, then
// "already installed (--reinstall installs it again)" and exit 0: a
// newcomer's run).
func (c *Client) addReinstalls(ctx context.Context, tx *txn, items []item, deps []resolve.Dep) ([]item, error) {
	planned := plannedNames(items)
	for _, d := range deps {
		r, ok := tx.recs.Get(d.Name)
		if !ok || planned[r.Name] {
			continue
		}
		row, err := tx.db.Get(ctx, r.Name, r.Version)
		if errors.Is(err, catalog.ErrNotFound) {
			return nil, withdrawnReinstall(ctx, tx.db, r)
		}
		if err != nil {
			return nil, fmt.Errorf("reinstall %s %s: %w", r.Name, r.Version, err)
		}
		v, err := semver.StrictNewVersion(r.Version)
		if err != nil {
			continue
		}
		items = append(items, item{step: resolve.Step{Name: r.Name, Version: v, From: v, Auto: r.Auto}, row: row})
		planned[r.Name] = true
	}
	return items, nil
}
