package install

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/Masterminds/semver/v3"

	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/fetch"
	"github.com/distpac/distpac/internal/place"
	"github.com/distpac/distpac/internal/resolve"
	"github.com/distpac/distpac/internal/stage"
	"github.com/distpac/distpac/internal/state"
	"github.com/distpac/distpac/internal/units"
)

// pending is one item of a plan on its way in.
type pending struct {
	it       item
	old      *state.Record // the installed version it replaces
	oldFiles []state.File
	// oldPkg is the old version's extracted package, when its
	// uninstall.sh ran (a rollback runs its install.sh again).
	oldPkg string
	// note and oldNote are the notes (txn.noteScript) of the new
	// version's install.sh and the old one's uninstall.sh, when they ran.
	note, oldNote int64
	work          string // this item's part of the work directory
	pkgDir        string // the new version's extracted package
	tree          *stage.Tree
}

// run is one transaction of a plan: every item is staged, the staged trees
// are checked together and placed with one journaled step, and the records
// are committed at once.
type run struct {
	c       *Client
	tx      *txn
	work    string
	watch   *stage.Watch // one for every script of the run
	items   []item       // the plan, in order
	pending []*pending
	cleanup sync.WaitGroup // removals of extracted copies under way
	fetch   *fetch.Fetch   // the plan's downloads, under way while it stages
	// failed is the item whose own failure aborts the run (its index),
	// everyItem when it is the whole fetch's (another's download, a
	// stall, the daemon gone), or noItem when it is none in particular
	// (a conflict found at placement, the fetch's end interrupted).
	failed int
	// staged is set once every item of the plan is staged: a failure of
	// noItem then blames the last package staged (failedHere). -1 stood
	// for both: "none in particular", which othersUnchanged adds no line
	// for, and "after staging", which blames the last one staged.
	staged bool
}

// carryOut checks free space, downloads every archive of the plan and,
// while the downloads go on, stages each package in plan order, unpacking
// its archive as it arrives; then it checks and places them all,
// committing the records (and the marked ones) in one state transaction.
func (c *Client) carryOut(ctx context.Context, tx *txn, items []item, size downloadSize, marked []state.Record) error {
	if err := c.checkSpace(items, size.left()); err != nil {
		return err
	}
	tx.act()
	f, err := fetch.Start(ctx, c.fetchOptions(), planRows(items))
	if err != nil {
		return err
	}
	defer f.Stop()
	defer tx.noteDownloads(ctx, f)()
	work, err := c.newWork(c.Config.Prefix)
	if err != nil {
		return err
	}
	defer place.Discard(work)
	r := &run{c: c, tx: tx, work: work, watch: c.newWatch(c.Config.Prefix), fetch: f, items: items, failed: noItem}
	defer r.cleanup.Wait()
	// failed rolls back the run after item at (or everyItem, or noItem:
	// none in particular) failed with err.
	failed := func(at int, err error) error {
		r.failed = at
		f.Stop() // downloads still under way end before the rollback
		err = r.othersUnchanged(at, r.abort(ctx, err))
		// What the partial downloads keep is read after the rollback, once
		// for the count, the report and the warning: through the daemon,
		// their bytes not verified are freed (swarm's partholes) once the
		// daemon sees the install gone, which a count read at once could
		// precede.
		var kept fetch.Kept
		tx.downloaded, tx.report, kept = f.Result()
		// The archives still downloading are in the report with what came
		// (fetch's Incomplete); one that got nothing says so, rather than
		// leaving history --json an empty report.
		if ctx.Err() != nil && tx.downloaded == 0 && slices.ContainsFunc(tx.report.Archives, func(a fetch.ArchiveReport) bool { return a.Incomplete }) {
			tx.report.Note = "interrupted before any transfer"
		}
		c.sayKept(ctx.Err() != nil, kept)
		return err
	}
	for i, it := range items {
		// An archive still arriving is unpacked as it comes (fetch.Arriving),
		// but a version that replaces an installed one waits for its
		// whole archive: prepare runs the old version's uninstall.sh
		// first, which must not stop a service for the rest of a download
		// that may yet fail.
		wait := f.WaitStart
		if _, ok := r.replaces(it); ok {
			wait = f.Wait
		}
		if err := wait(ctx, it.row.Archive); err != nil {
			return failed(r.failedAt(i, err), err)
		}
		p, err := r.prepare(ctx, i, it)
		if p != nil {
			r.pending = append(r.pending, p)
		}
		if err != nil {
			return failed(i, err)
		}
	}
	r.staged = true
	if err := f.Finish(); err != nil {
		return failed(r.failedAt(noItem, err), err)
	}
	tx.downloaded, c.Report, _ = f.Result()
	tx.report = c.Report
	if err := c.step("staged"); err != nil {
		return r.abort(ctx, err)
	}
	if _, err := r.place(ctx, marked); err != nil {
		return r.abort(ctx, err)
	}
	for _, p := range r.pending {
		c.UI.Printf("%s\n", doneLine(p.old, p.it.row.Name, p.it.row.Version))
	}
	return nil
}

// sayKept says what a stopped fetch's partial downloads keep in the cache
// (the next plan counts it "kept from an interrupted download"), and of
// which packages: a failure says so too (a stall, an archive with no
// source, another package's script), not only Ctrl-C. It said "what was
// downloaded is kept ... and resumes with the next install or upgrade"
// after Ctrl-C whether anything was kept or not, and named no package:
// after an install whose script failed, only the part of the other
// package's archive was kept, which only an install of that one resumes.
func (c *Client) sayKept(interrupted bool, kept fetch.Kept) {
	n, of := kept.Bytes, kept.Of
	if n == 0 {
		return
	}
	prefix := ""
	if interrupted {
		prefix = "interrupted: "
	}
	what, them := of[0]+"'s archive", "it"
	if len(of) > 1 {
		what, them = "the archives of "+resolve.JoinAndOthers(of, 3), "them"
	}
	c.UI.Warnf("%s%s of %s is kept in %s: the next install or upgrade that needs %s resumes from there\n", prefix, units.FormatBytes(n), what, c.Paths.Cache(), them)
}

// fetchOptions are what a fetch needs of the client.
func (c *Client) fetchOptions() fetch.Options {
	return fetch.Options{Paths: c.Paths, Config: c.Config, UI: c.UI, Logger: c.logger(), StallTimeout: c.StallTimeout, ConfigFile: c.ConfigFile, Source: c.source}
}

// planRows are the catalog rows of a plan's items, in its order.
func planRows(items []item) []catalog.Package {
	out := make([]catalog.Package, len(items))
	for i, it := range items {
		out[i] = it.row
	}
	return out
}

// noteInterval is how often a command's history entry learns the bytes
// downloaded so far (state.NoteDownloaded): one small SQLite transaction
// a second while archives arrive, none once they stop growing.
const noteInterval = time.Second

// noteDownloads keeps the history entry's downloaded bytes up to date
// while f downloads, so that a command killed meanwhile (kill -9, a
// crash) leaves what arrived in its entry, not 0 B; its own end records
// the final count. It returns the function that stops it and waits.
func (t *txn) noteDownloads(ctx context.Context, f *fetch.Fetch) (stop func()) {
	if t.hist == 0 {
		return func() {}
	}
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(noteInterval)
		defer tick.Stop()
		noted := int64(0)
		note := func() {
			if n := f.Downloaded(); n > noted {
				// A failed write is retried at the next tick; the entry's
				// end records the count anyway.
				if t.st.NoteDownloaded(ctx, t.hist, n) == nil {
					noted = n
				}
			}
		}
		for {
			select {
			case <-tick.C:
				note()
			case <-f.Done():
				// Once more for the last bytes: the scripts that run
				// next may be killed too.
				note()
				return
			case <-quit:
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	return func() {
		close(quit)
		<-done
	}
}

// doneLine is the line that says what the command did to a package once
// it is placed: "installed NAME V", or, when it replaced an installed
// version, "upgraded NAME OLD -> NEW" (downgraded, replaced by another
// build, reinstalled), as the line before it began said (upOrDown).
// Upgrade ended with "installed NAME NEW", which hid the move it had made
// (a newcomer's run).
func doneLine(old *state.Record, name, version string) string {
	if old == nil {
		return "installed " + name + " " + version
	}
	done := map[string]string{"upgrading": "upgraded", "downgrading": "downgraded", "replacing": "replaced"}
	verb := upOrDown(old.Version, version)
	if verb == "reinstalling" {
		return "reinstalled " + name + " " + version
	}
	return done[verb] + " " + name + " " + old.Version + " -> " + version
}

func upOrDown(from, to string) string {
	ov, err1 := semver.StrictNewVersion(from)
	nv, err2 := semver.StrictNewVersion(to)
	switch {
	case from == to:
		return "reinstalling" // install --reinstall
	case err1 == nil && err2 == nil && nv.LessThan(ov):
		return "downgrading"
	case err1 == nil && err2 == nil && nv.Equal(ov):
		return "replacing" // another build: name@1.0.0+b over 1.0.0
	}
	return "upgrading"
}

// listSome names up to five paths.
func listSome(paths []string) string {
	if len(paths) <= 5 {
		return strings.Join(paths, ", ")
	}
	return strings.Join(paths[:5], ", ") + fmt.Sprintf(" and %d more", len(paths)-5)
}

// place checks the staged trees for conflicts, journals and applies the
// moves, and commits the records. On an error nothing is left moved.
func (r *run) place(ctx context.Context, marked []state.Record) ([]state.Record, error) {
	c, tx := r.c, r.tx
	skip := map[string]bool{}
	changes := make([]place.Change, len(r.pending))
	for i, p := range r.pending {
		if p.old != nil {
			skip[p.old.Name] = true
			changes[i].Old = &place.Installed{Name: p.old.Name, Version: p.old.Version, Prefix: p.old.Prefix, Files: p.oldFiles}
		}
		changes[i].New = &place.Staged{Name: p.it.row.Name, Version: p.it.row.Version, Prefix: c.Config.Prefix, Root: p.tree.Root, Files: p.tree.Files}
	}
	plan, err := place.Prepare(ctx, changes, place.Options{Work: r.work, Owners: tx.owners(ctx, skip), Named: tx.named(ctx, skip), Overwrite: c.Overwrite, Warn: c.UI.Warnf})
	if err != nil {
		var names []string
		for _, p := range r.pending {
			names = append(names, p.it.row.Name+" "+p.it.row.Version)
		}
		return nil, fmt.Errorf("install %s: %w", listSome(names), err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	var puts []state.Package
	var recs []state.Record
	for i, p := range r.pending {
		row := p.it.row
		rec := state.Record{
			Name: row.Name, Version: row.Version, Auto: p.it.step.Auto, Depends: row.Depends, Conflicts: row.Conflicts,
			Archive: row.Archive, SHA256: row.SHA256, Size: row.InstalledSize, Prefix: c.Config.Prefix,
			FilesKnown: true, HasUninstall: p.tree.HasUninstall, Untracked: capList(p.tree.Untracked), InstalledAt: now,
		}
		ch := state.HistoryChange{Name: row.Name, To: row.Version}
		if p.old != nil {
			rec.Auto = p.old.Auto
			ch.From = p.old.Version
		}
		tx.changes = append(tx.changes, ch)
		puts = append(puts, state.Package{Record: rec, Files: plan.Files[i]})
		recs = append(recs, rec)
	}
	tx.installed += plan.Bytes
	tx.changes = append(tx.changes, explicitChanges(marked, puts)...)
	var mark []state.Record
	for _, m := range marked {
		if !skip[m.Name] && !inPuts(puts, m.Name) {
			mark = append(mark, m)
		}
	}
	return recs, c.commitMoves(ctx, tx, plan.Journal, []string{c.Config.Prefix}, state.Change{Put: puts, Mark: mark, History: tx.historyEnd(state.ResultOK), Settle: tx.scripts})
}

func inPuts(puts []state.Package, name string) bool {
	for _, p := range puts {
		if p.Name == name {
			return true
		}
	}
	return false
}

// capList keeps at most as many untracked paths as a record may hold.
func capList(paths []string) []string {
	const max = 1000
	if len(paths) > max {
		return paths[:max]
	}
	return paths
}
