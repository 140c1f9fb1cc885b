package install

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/distpac/distpac/internal/manifest"
	"github.com/distpac/distpac/internal/place"
	"github.com/distpac/distpac/internal/resolve"
	"github.com/distpac/distpac/internal/script"
	"github.com/distpac/distpac/internal/state"
)

// Uninstall removes installed packages as one transaction, as Install
// installs several: everything is checked first (each is installed, no
// package that stays depends on one, each uninstall.sh can be extracted);
// then each uninstall.sh runs, dependents first (extra cleanup); then the
// files every package placed are removed from the prefix it was installed
// to, in one journaled step committed with all the records. A failure at
// any point (a script, a file that cannot be moved, Ctrl-C) removes
// nothing: the packages whose uninstall.sh ran are installed again by
// their install.sh, and the error names what stays. A package that
// another installed package (not also being removed) depends on is
// refused. With cascade, dependencies installed automatically that nothing
// else needs go too.
func (c *Client) Uninstall(ctx context.Context, names []string, cascade bool) (err error) {
	var words []string
	if cascade {
		words = append(words, "--cascade")
	}
	if c.SkipUninstallScript {
		words = append(words, "--skip-uninstall-script")
	}
	tx, err := c.begin(ctx, c.commandLine("uninstall", append(words, names...)...), false)
	if err != nil {
		return err
	}
	var orphans []string
	defer func() {
		if c.DryRun {
			c.RemovalPlan.refused(err)
		} else {
			c.Last = tx.summary(err)
			c.Last.NoLongerNeeded = orphans
		}
		tx.end(ctx, err)
	}()
	if c.DryRun {
		c.RemovalPlan = &RemovalPlan{Packages: []WouldUninstall{}}
	}
	for _, n := range names {
		if _, ok := tx.recs.Get(n); !ok {
			return fmt.Errorf("uninstall %s: %w", n, state.ErrNotInstalled)
		}
	}
	order, err := resolve.PlanRemoval(nodes(tx.recs), names, cascade)
	if err != nil {
		return err
	}
	if c.DryRun { // apt-get -s remove, pacman -Rp: what would go, nothing uninstalled
		recs := make([]state.Record, len(order))
		for i, n := range order {
			recs[i] = tx.recs.Packages[n]
		}
		if err := checkPrefixes(recs); err != nil { // refused as the removal would be (a review)
			return err
		}
		for _, r := range recs {
			w := WouldUninstall{Name: r.Name, Version: r.Version, Prefix: r.Prefix,
				NoLongerNeeded: !slices.ContainsFunc(names, func(m string) bool { return strings.EqualFold(m, r.Name) })}
			c.RemovalPlan.Packages = append(c.RemovalPlan.Packages, w)
			why := ""
			if w.NoLongerNeeded {
				why = " (no longer needed)"
			}
			c.UI.Printf("would uninstall %s %s%s, from %s\n", r.Name, r.Version, why, r.Prefix)
		}
		c.UI.Printf("dry run: nothing uninstalled\n")
		return nil
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
	recs := make([]state.Record, len(order))
	for i, n := range order {
		recs[i] = tx.recs.Packages[n]
	}
	tx.act()
	if err := c.remove(ctx, tx, recs); err != nil {
		return err
	}
	for _, n := range order {
		delete(tx.recs.Packages, n)
	}
	if !cascade {
		if orphans = resolve.Orphans(nodes(tx.recs)); len(orphans) > 0 {
			c.UI.Printf("no longer needed (installed as dependencies): %s\n  remove them with: dist-client uninstall %s\n", strings.Join(orphans, ", "), strings.Join(orphans, " "))
		}
	}
	return nil
}

// RemovalPlan is what `uninstall --dry-run --json` prints: the packages
// the uninstall would remove, dependents first, or, when it would be
// refused, none, WouldFail and the reason (as install --dry-run --json
// says would_fail).
type RemovalPlan struct {
	Packages  []WouldUninstall `json:"packages"`
	WouldFail bool             `json:"would_fail"`
	Error     string           `json:"error,omitempty"`
	Hint      string           `json:"hint,omitempty"` // as Summary.Hint
}

// WouldUninstall is one package a dry run would remove.
type WouldUninstall struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Prefix  string `json:"prefix"` // the prefix it was installed to, which the files go from
	// NoLongerNeeded: not named, but a dependency --cascade takes with it.
	NoLongerNeeded bool `json:"no_longer_needed"`
}

// refused records in p the error that ended the dry run, if any.
func (p *RemovalPlan) refused(err error) {
	if p != nil && err != nil {
		p.Packages, p.WouldFail, p.Error = []WouldUninstall{}, true, err.Error()
	}
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

// removing is one package of an uninstall on its way out.
type removing struct {
	rec   state.Record
	files []state.File
	// pkgDir is its extracted package when its uninstall.sh is to run;
	// ran says it did (a rollback runs its install.sh again).
	pkgDir string
	ran    bool
	note   int64 // of its uninstall.sh (txn.noteScript)
}

// remove takes recs (dependents first) out of the prefix and the state in
// one transaction: their uninstall.sh scripts run, then their files go in
// one journaled step committed with the removal of every record. Until the
// commit, a failure leaves every package installed (keepAll).
func (c *Client) remove(ctx context.Context, tx *txn, recs []state.Record) error {
	work, err := c.newWork("")
	if err != nil {
		return err
	}
	defer place.Discard(work)
	// The files go from where they were recorded, which may not be the
	// prefix the command checked (clientcli): refused, as that one would
	// be, when others can change it.
	if err := checkPrefixes(recs); err != nil {
		return err
	}
	// First what can be known without changing anything: each package's
	// files, and its uninstall.sh extracted, before any script runs.
	rs := make([]*removing, len(recs))
	for i, r := range recs {
		x := &removing{rec: r}
		if x.files, err = tx.st.Files(ctx, r.Name); err != nil {
			return err
		}
		if x.pkgDir, err = c.uninstallScript(ctx, r, filepath.Join(work, strconv.Itoa(i))); err != nil {
			return err
		}
		rs[i] = x
	}
	for _, x := range rs {
		r := x.rec
		c.UI.Printf("uninstalling %s %s\n", r.Name, r.Version)
		if x.pkgDir != "" {
			started, mark, err := c.noteScript(ctx, tx, state.ScriptUninstall, r, &x.note)
			if err != nil {
				return c.keepAll(ctx, tx, rs, fmt.Errorf("uninstall %s %s: %w", r.Name, r.Version, err))
			}
			if err := c.runScript(ctx, "uninstall.sh", r, x.pkgDir, "", started, mark); err != nil {
				way := "--skip-uninstall-script removes its files without running the script"
				if !r.FilesKnown {
					way = "--skip-uninstall-script drops its record without running the script; no files are recorded to remove"
				}
				if len(rs) == 1 {
					return fmt.Errorf("uninstall %s %s: it stays installed (%s): %w", r.Name, r.Version, way, err)
				}
				return c.keepAll(ctx, tx, rs, fmt.Errorf("the uninstall.sh of %s %s failed (%s): %w", r.Name, r.Version, way, err))
			}
			x.ran = true
			tx.scriptRan(ctx, x.note)
		}
		if !r.FilesKnown && !c.SkipUninstallScript {
			c.UI.Warnf("%s %s was installed by an older dist-client that recorded no files; only its uninstall.sh removed anything\n", r.Name, r.Version)
		}
	}
	if err := ctx.Err(); err != nil {
		return c.keepAll(ctx, tx, rs, err) // Ctrl-C after the last script
	}
	changes := make([]place.Change, len(rs))
	names := make([]string, len(rs))
	leaving := make(map[string]bool, len(rs))
	n0 := len(tx.changes)
	for i, x := range rs {
		r := x.rec
		changes[i].Old = &place.Installed{Name: r.Name, Version: r.Version, Prefix: r.Prefix, Files: x.files}
		names[i] = r.Name
		leaving[r.Name] = true
		tx.changes = append(tx.changes, state.HistoryChange{Name: r.Name, From: r.Version})
	}
	var owned map[string]state.Owner // the untracked paths that packages staying own
	err = func() (err error) {
		owned, err = tx.st.OwnersOf(ctx, leaving, untracked(rs))
		if err != nil {
			return err
		}
		plan, err := place.Prepare(ctx, changes, place.Options{Work: work, Owners: tx.owners(ctx, leaving), Named: tx.named(ctx, leaving), Warn: c.UI.Warnf})
		if err != nil {
			return err
		}
		return c.commitMoves(ctx, tx, plan.Journal, nil, state.Change{Remove: names, History: tx.historyEnd(state.ResultOK), Settle: tx.scripts})
	}()
	if err != nil {
		tx.changes = tx.changes[:n0]
		return c.keepAll(ctx, tx, rs, err)
	}
	for _, x := range rs {
		// The extracted copy an older dist-client kept (name and version
		// are validated: this stays inside pkgs/).
		os.RemoveAll(filepath.Join(c.Paths.Packages(), x.rec.Name+"-"+x.rec.Version))
		c.UI.Printf("uninstalled %s %s\n", x.rec.Name, x.rec.Version)
		if left := stillThere(x.rec, owned); len(left) > 0 {
			c.UI.Warnf("install.sh of %s %s wrote straight into the prefix, and these are still there, untracked: %s (remove them by hand if nothing else needs them)\n", x.rec.Name, x.rec.Version, listSome(left))
		}
	}
	return nil
}

// untracked lists the absolute paths that the install.sh of the packages
// leaving wrote straight into the prefix.
func untracked(rs []*removing) []string {
	var out []string
	for _, x := range rs {
		for _, p := range x.rec.Untracked { // relative and checked (state.CheckRelPath)
			out = append(out, filepath.Join(x.rec.Prefix, filepath.FromSlash(p)))
		}
	}
	return out
}

// stillThere lists what r's install.sh wrote straight into the prefix
// (the old contract; distpac records the paths but not the files) and its
// uninstall, script or not, left in place, leaving out what a package
// that stays owns (owners, by absolute path): without a word, an
// uninstall that skipped or lacked the script left them unnoticed.
func stillThere(r state.Record, owners map[string]state.Owner) []string {
	var left []string
	for _, p := range r.Untracked { // relative and checked (state.CheckRelPath)
		abs := filepath.Join(r.Prefix, filepath.FromSlash(p))
		if _, owned := owners[abs]; owned {
			continue
		}
		if _, err := os.Lstat(abs); err == nil {
			left = append(left, p)
		}
	}
	return left
}

// uninstallScript extracts r's package into dir when its uninstall.sh is
// to run, and returns where; "" when no script runs (none, or
// --skip-uninstall-script), with a warning when one cannot.
func (c *Client) uninstallScript(ctx context.Context, r state.Record, dir string) (string, error) {
	switch {
	case !r.FilesKnown && c.SkipUninstallScript:
		c.UI.Warnf("%s %s was installed by an older dist-client that recorded no files, and --skip-uninstall-script leaves out its uninstall.sh: nothing of it is removed but its record\n", r.Name, r.Version)
	case r.HasUninstall && c.SkipUninstallScript:
		c.UI.Warnf("not running the uninstall.sh of %s %s (--skip-uninstall-script); removing the files distpac recorded only\n", r.Name, r.Version)
	case r.HasUninstall || !r.FilesKnown:
		pkgDir, err := c.unpack(ctx, r, dir)
		switch {
		case ctx.Err() != nil:
			return "", ctx.Err()
		case err != nil:
			c.UI.Warnf("%v; removing the files distpac recorded only\n", err)
		case script.Exists(pkgDir, "uninstall.sh"):
			return pkgDir, nil
		}
	}
	return "", nil
}

// keepAll ends an uninstall that failed before its commit: nothing was
// removed, and each package whose uninstall.sh ran is installed again, as
// an upgrade that fails restores the old version (last first). The error
// says so, then why.
func (c *Client) keepAll(ctx context.Context, tx *txn, rs []*removing, cause error) error {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
	defer cancel()
	var all, restored, failed []string
	for _, x := range rs {
		all = append(all, x.rec.Name+" "+x.rec.Version)
	}
	for i := len(rs) - 1; i >= 0; i-- {
		x := rs[i]
		if !x.ran {
			continue
		}
		c.UI.Warnf("restoring %s %s: its uninstall.sh ran; installing it again\n", x.rec.Name, x.rec.Version)
		if err := c.restore(cctx, tx, x.rec, x.files, x.pkgDir, x.note); err != nil {
			failed = append(failed, restoreFailed(x.rec, err).Error())
			continue
		}
		restored = append(restored, x.rec.Name+" "+x.rec.Version)
	}
	slices.Reverse(restored)
	head := fmt.Sprintf("uninstall %s: nothing was removed", resolve.JoinAnd(all))
	switch len(all) {
	case 1:
	case 2:
		head += ", both stay installed"
	default:
		head += fmt.Sprintf(", all %d stay installed", len(all))
	}
	if len(restored) > 0 {
		head += fmt.Sprintf(" (%s, whose uninstall.sh had run, installed again)", resolve.JoinAnd(restored))
	}
	for _, f := range failed {
		head += "; " + f
	}
	return fmt.Errorf("%s: %w", head, cause)
}
