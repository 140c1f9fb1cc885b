package install

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/distpac/distpac/internal/manifest"
	"github.com/distpac/distpac/internal/place"
	"github.com/distpac/distpac/internal/resolve"
	"github.com/distpac/distpac/internal/script"
	"github.com/distpac/distpac/internal/state"
)

// Uninstall removes installed packages: for each, dependents first, its
// uninstall.sh runs (extra cleanup), then the files it placed are removed
// from the prefix it was installed to, as one journaled step committed with
// its record. A package that another installed package (not also being
// removed) depends on is refused. With cascade, dependencies installed
// automatically that nothing else needs go too.
func (c *Client) Uninstall(ctx context.Context, names []string, cascade bool) (err error) {
	cmd := "uninstall "
	if cascade {
		cmd += "--cascade "
	}
	tx, err := c.begin(ctx, cmd+strings.Join(names, " "), false)
	if err != nil {
		return err
	}
	defer func() { tx.end(ctx, err) }()
	for _, n := range names {
		if _, ok := tx.recs.Get(n); !ok {
			return fmt.Errorf("uninstall %s: %w", n, ErrNotInstalled)
		}
	}
	order, err := resolve.PlanRemoval(nodes(tx.recs), names, cascade)
	if err != nil {
		return err
	}
	if extra := notNamed(order, names); len(extra) > 0 && c.Confirm != nil {
		ok, err := c.Confirm(fmt.Sprintf("Also remove %s, no longer needed?", strings.Join(extra, ", ")))
		if err != nil {
			return err
		}
		if !ok {
			return ErrDeclined
		}
	}
	files, owners, err := removalOwners(ctx, tx, order)
	if err != nil {
		return err
	}
	for i, n := range order {
		if err := c.removeOne(ctx, tx, tx.recs.Packages[n], files[i], owners[i]); err != nil {
			return err
		}
		delete(tx.recs.Packages, n)
	}
	if !cascade {
		if orphans := resolve.Orphans(nodes(tx.recs)); len(orphans) > 0 {
			c.UI.Printf("no longer needed (installed as dependencies): %s\n  remove them with: dist-client uninstall %s\n", strings.Join(orphans, ", "), strings.Join(orphans, " "))
		}
	}
	return nil
}

// notNamed lists the packages of order that names does not name.
func notNamed(order, names []string) []string {
	asked := map[string]bool{}
	for _, n := range names {
		asked[strings.ToLower(n)] = true
	}
	var out []string
	for _, n := range order {
		if !asked[strings.ToLower(n)] {
			out = append(out, n)
		}
	}
	return out
}

// nodes is the installed state as the removal graph sees it.
func nodes(st *state.State) []resolve.Node {
	var out []resolve.Node
	for _, r := range st.Sorted() {
		n := resolve.Node{Name: r.Name, Version: r.Version, Auto: r.Auto}
		for _, d := range r.Depends {
			if dep, err := manifest.ParseDependency(d); err == nil { // records are validated when read
				n.Depends = append(n.Depends, dep.Name)
			}
		}
		out = append(out, n)
	}
	return out
}

// removalOwners reads the files of each package of order and, for each, the
// owners of its paths among the packages installed when its turn comes: those
// that stay and those after it in order. One read of the state: reading
// every package's files for each step (state.Owners) made an uninstall of
// 1,500 packages quadratic, 36-43 s of CPU.
func removalOwners(ctx context.Context, tx *txn, order []string) ([][]state.File, []map[string]state.Owner, error) {
	leaving := make(map[string]bool, len(order))
	for _, n := range order {
		leaving[n] = true
	}
	cur, err := tx.st.Owners(ctx, leaving) // the packages that stay
	if err != nil {
		return nil, nil, err
	}
	files := make([][]state.File, len(order))
	owners := make([]map[string]state.Owner, len(order))
	for i := len(order) - 1; i >= 0; i-- {
		r := tx.recs.Packages[order[i]]
		if files[i], err = tx.st.Files(ctx, r.Name); err != nil {
			return nil, nil, err
		}
		owners[i] = map[string]state.Owner{}
		for _, f := range files[i] {
			abs := filepath.Join(r.Prefix, filepath.FromSlash(f.Path))
			if o, ok := cur[abs]; ok {
				owners[i][abs] = o
			}
		}
		for _, f := range files[i] {
			state.AddOwner(cur, state.Owner{Name: r.Name, Version: r.Version}, r.Prefix, f)
		}
	}
	return files, owners, nil
}

// removeOne runs r's uninstall.sh, then removes its recorded files from
// its recorded prefix and drops its record in one step. A file changed
// since it was installed is kept as NAME.distpac-save. owners are the
// other packages' owners of its paths.
func (c *Client) removeOne(ctx context.Context, tx *txn, r state.Record, files []state.File, owners map[string]state.Owner) error {
	c.UI.Printf("uninstalling %s %s\n", r.Name, r.Version)
	work, err := c.newWork("")
	if err != nil {
		return err
	}
	defer place.Discard(work)
	switch {
	case !r.FilesKnown && c.SkipUninstallScript:
		c.UI.Warnf("%s %s was installed by an older dist-client that recorded no files, and --skip-uninstall-script leaves out its uninstall.sh: nothing of it is removed but its record\n", r.Name, r.Version)
	case r.HasUninstall && c.SkipUninstallScript:
		c.UI.Warnf("not running the uninstall.sh of %s %s (--skip-uninstall-script); removing the files distpac recorded only\n", r.Name, r.Version)
	case r.HasUninstall || !r.FilesKnown:
		dir, err := c.unpack(ctx, r, filepath.Join(work, "pkg"))
		switch {
		case err != nil:
			c.UI.Warnf("%v; removing the files distpac recorded only\n", err)
		case script.Exists(dir, "uninstall.sh"):
			if err := c.runScript(ctx, "uninstall.sh", r, dir, ""); err != nil {
				way := "--skip-uninstall-script removes its files without running the script"
				if !r.FilesKnown {
					way = "--skip-uninstall-script drops its record without running the script; no files are recorded to remove"
				}
				return fmt.Errorf("uninstall %s %s: it stays installed (%s): %w", r.Name, r.Version, way, err)
			}
		}
	}
	if !r.FilesKnown && !c.SkipUninstallScript {
		c.UI.Warnf("%s %s was installed by an older dist-client that recorded no files; only its uninstall.sh removed anything\n", r.Name, r.Version)
	}
	old := &place.Installed{Name: r.Name, Version: r.Version, Prefix: r.Prefix, Files: files}
	plan, err := place.Prepare([]place.Change{{Old: old}}, place.Options{Work: work, Owners: owners, Warn: c.UI.Warnf})
	if err != nil {
		return err
	}
	tx.changes = append(tx.changes, state.HistoryChange{Name: r.Name, From: r.Version})
	if err := c.commitMoves(ctx, tx, plan.Journal, nil, state.Change{Remove: []string{r.Name}, History: tx.historyEnd(state.ResultRunning)}); err != nil {
		tx.changes = tx.changes[:len(tx.changes)-1]
		return fmt.Errorf("uninstall %s %s: %w", r.Name, r.Version, err)
	}
	// The extracted copy an older dist-client kept (name and version are
	// validated: this stays inside pkgs/).
	os.RemoveAll(filepath.Join(c.Paths.Packages(), r.Name+"-"+r.Version))
	c.UI.Printf("uninstalled %s %s\n", r.Name, r.Version)
	return nil
}
