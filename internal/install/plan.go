package install

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/Masterminds/semver/v3"

	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/fetch"
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
	names := make([]string, 0, len(req.Installed)+len(req.Deps))
	for _, in := range req.Installed {
		names = append(names, in.Name)
	}
	for _, d := range req.Deps {
		names = append(names, d.Name)
	}
	src.preload(names)
	req.Context = ctx
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
			return err // it names the request ("request \"hello@abc\": ...")
		}
		deps = append(deps, toDep(d))
	}
	cmd := c.commandLine("install", append(c.flagWords(), requests...)...)
	if c.DryRun {
		cmd = "" // a dry run changes nothing and is not recorded
	}
	tx, err := c.begin(ctx, cmd, true)
	if err != nil {
		return err
	}
	defer func() { c.Last = tx.summary(err); tx.end(ctx, err) }()
	req := resolve.Request{Deps: deps, Installed: installedList(tx.recs)}
	items, err := planWith(ctx, tx.db, req)
	var why *resolve.Explanation
	if errors.As(err, &why) {
		// Installed packages stay where they are unless they must move: a
		// version that needs newer dependencies (app 2.0.0 and libfoo ^2,
		// libfoo 1.1.0 installed) may move them, as pacman and apt do.
		names := make([]string, len(deps))
		for i, d := range deps {
			names[i] = d.Name
		}
		if req.Free = dependencyClosure(ctx, tx.db, tx.recs, names, false); len(req.Free) > 0 {
			if again, err2 := planWith(ctx, tx.db, req); err2 == nil {
				items, err = again, nil
			}
		}
	}
	if err != nil {
		return err
	}
	tx.kept = keptBack(ctx, tx.db, req, items, deps, nil)
	for _, k := range tx.kept {
		c.UI.Printf("not the newest: %s %s cannot be installed: %s; %s %s is the newest that can\n", k.Name, k.Newest, k.Why, k.Name, k.Version)
	}
	// Asking for a package by name makes it explicitly installed, as apt
	// install does (pacman -S keeps the reason unless --asexplicit): a
	// later --cascade must not take away what the user asked for. The
	// mark is recorded with the install, and said once it is: said here,
	// an install refused (a held package) or failed (a script) claimed a
	// mark it did not make (a newcomer's run).
	var marked []state.Record
	for _, d := range deps {
		if r, ok := tx.recs.Get(d.Name); ok && r.Auto {
			r.Auto = false
			tx.recs.Packages[r.Name] = r
			marked = append(marked, r)
		}
	}
	sayMarked := func() {
		for _, r := range marked {
			c.UI.Printf("%s: now installed explicitly (it was a dependency)\n", r.Name)
		}
	}
	if err := heldInPlan(tx.recs, items); err != nil {
		return err
	}
	if c.Reinstall {
		var err error
		if items, err = c.addReinstalls(ctx, tx, items, deps); err != nil {
			return err
		}
	}
	c.sayInstalled(ctx, tx, deps, items)
	if len(items) == 0 {
		// A dry run says what the install would, then "nothing to do".
		switch {
		case c.DryRun:
			c.DryRunResult = &DryRun{Packages: []Availability{}}
			c.UI.Printf("dry run: nothing to do\n")
		case len(marked) > 0:
			tx.act()
			tx.changes = explicitChanges(marked, nil)
			if err := tx.st.Commit(ctx, state.Change{Mark: marked, History: tx.historyEnd(state.ResultOK)}); err != nil {
				tx.changes = nil
				return err
			}
			sayMarked()
		}
		return nil
	}
	if err := c.checkPlacing(tx.recs, items); err != nil {
		return err
	}
	size := c.downloadSizes(items)
	c.printPlan(items, size, tx.recs)
	if c.DryRun {
		return c.dryRun(ctx, tx.st, items, size)
	}
	if err := c.confirmDownload(size); err != nil {
		return err
	}
	if err := c.carryOut(ctx, tx, items, size, marked); err != nil {
		return err
	}
	sayMarked()
	return nil
}

func (c *Client) printPlan(items []item, size downloadSize, recs *state.State) {
	names := make([]string, 0, len(items))
	for _, it := range items {
		n := it.row.Name + " " + it.row.Version
		switch {
		case it.step.From != nil && upOrDown(it.step.From.String(), it.row.Version) == "reinstalling":
			// "app 1.0.0 -> 1.0.0" read as a move (a newcomer's
			// --reinstall); apt says "1 reinstalled".
			n += " (reinstall)"
		case it.step.From != nil:
			n = it.row.Name + " " + it.step.From.String() + " -> " + it.row.Version
		}
		if it.step.Auto {
			n += " (dependency)"
		}
		names = append(names, n)
	}
	c.UI.Printf("Packages (%d): %s\n", len(items), strings.Join(names, ", "))
	c.printSizes(items, size, recs)
}

// printSizes ends a plan, install's and upgrade's alike (upgrade's had no
// installed size: a newcomer's run): what it downloads, what the packages
// take unpacked (what the catalog declares, which the free-space check
// counts) and, when it replaces installed versions, how much that changes
// what is installed, as pacman's "Net Upgrade Size".
func (c *Client) printSizes(items []item, size downloadSize, recs *state.State) {
	var installed, net int64
	replaces := false
	for _, it := range items {
		installed += it.row.InstalledSize
		net += it.row.InstalledSize
		if r, ok := recs.Get(it.row.Name); ok && it.step.From != nil {
			net -= r.Size
			replaces = replaces || r.Version != it.row.Version // a reinstall alone changes nothing
		}
	}
	c.UI.Printf("Total download size:  %s\n", size)
	c.UI.Printf("Total installed size: %s\n", units.FormatBytes(installed))
	if replaces {
		c.UI.Printf("Net upgrade size:     %s\n", signedBytes(net))
	}
}

// signedBytes is n with its sign: "+1.2 KiB", "-300 B", "0 B".
func signedBytes(n int64) string {
	switch {
	case n > 0:
		return "+" + units.FormatBytes(n)
	case n < 0:
		return "-" + units.FormatBytes(-n)
	}
	return units.FormatBytes(0)
}

// dryRun probes where the plan's archives would come from, prints it and
// fails with ErrWouldFail when the plan could not be carried out now.
func (c *Client) dryRun(ctx context.Context, st *state.DB, items []item, size downloadSize) error {
	dr := c.probe(ctx, st, items, size)
	c.DryRunResult = dr
	c.printDryRun(dr)
	if dr.WouldFail {
		return ErrWouldFail
	}
	return nil
}

// heldInPlan refuses a plan that would move a held package.
func heldInPlan(recs *state.State, items []item) error {
	for _, it := range items {
		if r, ok := recs.Get(it.row.Name); ok && r.Held && it.step.From != nil {
			return fmt.Errorf("%s is held at %s and this would move it to %s: dist-client unhold %s first", r.Name, r.Version, it.row.Version, r.Name)
		}
	}
	return nil
}

// confirmDownloadOver is the download size from which a plan is confirmed
// on a terminal first.
const confirmDownloadOver = 100 << 20

// ErrDeclined: the user answered no; nothing changed.
var ErrDeclined = errors.New("not confirmed; nothing changed")

// downloadSize is what a plan downloads: its archives not in the cache (a
// reinstall or an upgrade back to a cached version costs none), how much
// of them an interrupted download left (their .part files' data), and
// the size of the plan's archives the cache holds whole.
type downloadSize struct{ total, kept, cached int64 }

// left is what is still to download.
func (s downloadSize) left() int64 { return s.total - s.kept }

// String is the plan's "Total download size": what is left, and of how
// much when an interrupted download left some (as apt's "Need to get
// 13.9 MB/30.0 MB"); the plan said the whole 30.0 MiB of a resumed
// download (a newcomer's run). Archives in the cache are said to be
// there: a plan whose every archive was cached said "0 B" and no more
// (a newcomer's reinstall, and an install after an uninstall), where apt
// says "Need to get 0 B/19.1 MB of archives".
func (s downloadSize) String() string {
	size := units.FormatBytes(s.left())
	var notes []string
	if s.kept > 0 {
		size += " of " + units.FormatBytes(s.total)
		notes = append(notes, units.FormatBytes(s.kept)+" kept from an interrupted download")
	}
	if s.cached > 0 {
		notes = append(notes, units.FormatBytes(s.cached)+" already in the cache")
	}
	if len(notes) == 0 {
		return size
	}
	return size + " (" + strings.Join(notes, "; ") + ")"
}

// downloadSizes looks at the cache once for a plan: the plan's line, its
// question and the space check all use the result.
func (c *Client) downloadSizes(items []item) downloadSize {
	var s downloadSize
	for _, it := range items {
		if fetch.Cached(c.Paths.Cache(), it.row) {
			s.cached += it.row.Size
			continue
		}
		s.total += it.row.Size
		s.kept += fetch.KeptBytes(c.Paths.Cache(), it.row)
	}
	return s
}

// confirmDownload asks before a plan that downloads more than
// confirmDownloadOver, when the client has a way to ask (a terminal
// without --yes).
func (c *Client) confirmDownload(size downloadSize) error {
	total := size.left()
	if c.Confirm == nil || total <= confirmDownloadOver {
		return nil
	}
	ok, err := c.Confirm(fmt.Sprintf("Download %s?", units.FormatBytes(total)))
	if err != nil {
		return err
	}
	if !ok {
		return ErrDeclined
	}
	return nil
}

// sayInstalled says of each package asked for that the plan leaves where
// it is that it is installed, before the plan, as apt's "is already the
// newest version": `install app lib` with app installed named only lib,
// where `install app` alone said app was installed (a newcomer's run).
func (c *Client) sayInstalled(ctx context.Context, tx *txn, deps []resolve.Dep, items []item) {
	planned := plannedNames(items)
	for _, d := range deps {
		if r, ok := tx.recs.Get(d.Name); ok && !planned[r.Name] {
			planned[r.Name] = true // named twice, said once
			c.UI.Printf("%s\n", alreadyInstalled(ctx, tx.db, d, r))
			tx.already = append(tx.already, r.Name+" "+r.Version)
		}
	}
}

// alreadyInstalled says that r, asked for by d, is installed and what
// to do: a name asked alone whose catalog has a version upgrade would
// move it to names that version and `upgrade`, as pacman -S and apt
// install would have moved it (a newcomer read "hello 1.0.0 is already
// installed" with 1.1.0 published and no word of it); otherwise
// --reinstall.
func alreadyInstalled(ctx context.Context, db *catalog.DB, d resolve.Dep, r state.Record) string {
	msg := fmt.Sprintf("%s %s is already installed", r.Name, r.Version)
	if d.Constraint == nil && db != nil {
		if newer := newestUpgrade(ctx, db, r); newer != "" {
			return fmt.Sprintf("%s; %s is newer: dist-client upgrade %s moves it there (--reinstall installs %s again)", msg, newer, r.Name, r.Version)
		}
	}
	return msg + " (--reinstall installs it again)"
}

// newestUpgrade is the newest version of r's package in the catalog that
// an upgrade may move r to (resolve.UpgradeAllows) and is above it, or ""
// (none, or a version that does not parse).
func newestUpgrade(ctx context.Context, db *catalog.DB, r state.Record) string {
	from, err := semver.StrictNewVersion(r.Version)
	if err != nil {
		return ""
	}
	vs, err := db.Versions(ctx, r.Name)
	if err != nil {
		return ""
	}
	for i := len(vs) - 1; i >= 0; i-- { // highest first
		v, err := semver.StrictNewVersion(vs[i].Version)
		if err == nil && v.GreaterThan(from) && resolve.UpgradeAllows(from, v) {
			return vs[i].Version
		}
	}
	return ""
}

// plannedNames is the set of the packages items changes.
func plannedNames(items []item) map[string]bool {
	planned := make(map[string]bool, len(items))
	for _, it := range items {
		planned[it.row.Name] = true
	}
	return planned
}
