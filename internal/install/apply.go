package install

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/Masterminds/semver/v3"

	"github.com/distpac/distpac/internal/place"
	"github.com/distpac/distpac/internal/script"
	"github.com/distpac/distpac/internal/stage"
	"github.com/distpac/distpac/internal/state"
)

// pending is one item of a plan on its way in.
type pending struct {
	it       item
	old      *state.Record // the installed version it replaces
	oldFiles []state.File
	// oldPkg is the old version's extracted package, when its
	// uninstall.sh ran (a rollback runs its install.sh again).
	oldPkg string
	work   string // this item's part of the work directory
	pkgDir string // the new version's extracted package
	tree   *stage.Tree
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
	fetch   *fetching      // the plan's downloads, under way while it stages
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
	f, err := c.startFetch(ctx, items)
	if err != nil {
		return err
	}
	defer f.stop()
	defer tx.noteDownloads(ctx, f)()
	work, err := c.newWork(c.Config.Prefix)
	if err != nil {
		return err
	}
	defer place.Discard(work)
	r := &run{c: c, tx: tx, work: work, watch: c.newWatch(c.Config.Prefix), fetch: f, items: items}
	defer r.cleanup.Wait()
	// failed rolls back the run after item at (-1: none in particular)
	// failed with err.
	failed := func(at int, err error) error {
		f.stop() // downloads still under way end before the rollback
		tx.downloaded = f.downloadedBytes()
		tx.report = f.reportCopy()
		if ctx.Err() != nil && f.partial() {
			c.UI.Warnf("interrupted: what was downloaded is kept in %s and resumes with the next install or upgrade\n", c.Paths.Cache())
		}
		return r.othersUnchanged(at, r.abort(ctx, err))
	}
	for i, it := range items {
		// An archive still arriving is unpacked as it comes (arriving.go),
		// but a version that replaces an installed one waits for its
		// whole archive: prepare runs the old version's uninstall.sh
		// first, which must not stop a service for the rest of a download
		// that may yet fail.
		wait := f.waitStart
		if _, ok := r.replaces(it); ok {
			wait = f.wait
		}
		if err := wait(ctx, it.row.Archive); err != nil {
			return failed(i, err)
		}
		p, err := r.prepare(ctx, i, it)
		if p != nil {
			r.pending = append(r.pending, p)
		}
		if err != nil {
			return failed(i, err)
		}
	}
	if err := f.finish(); err != nil {
		return failed(-1, err)
	}
	tx.downloaded = f.downloadedBytes()
	c.Report = f.reportCopy()
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

// noteInterval is how often a command's history entry learns the bytes
// downloaded so far (state.NoteDownloaded): one small SQLite transaction
// a second while archives arrive, none once they stop growing.
const noteInterval = time.Second

// noteDownloads keeps the history entry's downloaded bytes up to date
// while f downloads, so that a command killed meanwhile (kill -9, a
// crash) leaves what arrived in its entry, not 0 B; its own end records
// the final count. It returns the function that stops it and waits.
func (t *txn) noteDownloads(ctx context.Context, f *fetching) (stop func()) {
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
			if n := f.downloadedBytes(); n > noted {
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
			case <-f.done:
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

// replaces returns the installed version item i replaces, if it does.
func (r *run) replaces(it item) (state.Record, bool) {
	old, ok := r.tx.recs.Get(it.row.Name)
	return old, ok && it.step.From != nil
}

// prepare stages item i: for an upgrade the old version's uninstall.sh runs
// first (today's order, which scripts of the old contract rely on), then
// the new version is extracted and its install.sh run into the staging
// root. The returned pending is set even on error, for the rollback.
func (r *run) prepare(ctx context.Context, i int, it item) (*pending, error) {
	c := r.c
	p := &pending{it: it, work: filepath.Join(r.work, strconv.Itoa(i))}
	if err := os.MkdirAll(p.work, 0o755); err != nil {
		return nil, fmt.Errorf("staging: %w", err)
	}
	row := it.row
	if old, ok := r.replaces(it); ok {
		p.old = &old
		files, err := r.tx.st.Files(ctx, old.Name)
		if err != nil {
			return nil, err
		}
		p.oldFiles = files
		if verb := upOrDown(old.Version, row.Version); verb == "reinstalling" {
			c.UI.Printf("%s %s %s\n", verb, old.Name, old.Version)
		} else {
			c.UI.Printf("%s %s %s -> %s\n", verb, old.Name, old.Version, row.Version)
		}
		switch {
		case !old.HasUninstall && old.FilesKnown:
			// no uninstall.sh to run
		case c.SkipUninstallScript:
			ifAny := ""
			if !old.HasUninstall {
				ifAny = ", if it has one"
			}
			c.UI.Warnf("not running the uninstall.sh of %s %s%s (--skip-uninstall-script)\n", old.Name, old.Version, ifAny)
		default:
			dir, err := c.unpack(ctx, old, filepath.Join(p.work, "old"))
			if err != nil {
				return nil, fmt.Errorf("upgrade %s: %w (nothing changed)", old.Name, err)
			}
			if script.Exists(dir, "uninstall.sh") {
				if err := c.runScript(ctx, "uninstall.sh", old, dir, ""); err != nil {
					return nil, fmt.Errorf("upgrade %s: nothing changed (--skip-uninstall-script replaces %s without running its uninstall.sh): %w", old.Name, old.Version, err)
				}
				p.oldPkg = dir
			}
		}
	} else {
		c.UI.Printf("installing %s %s\n", row.Name, row.Version)
	}
	p.pkgDir = filepath.Join(p.work, "pkg")
	if err := r.extract(ctx, row, p.pkgDir); err != nil {
		return p, err
	}
	start := time.Now()
	tree, err := stage.Build(ctx, p.pkgDir, p.work, c.stageOptions(row.Name, row.Version, r.watch))
	p.tree = tree
	if err != nil {
		return p, fmt.Errorf("install %s %s: %w", row.Name, row.Version, err)
	}
	c.logger().Debug("staged", "package", row.Name, "version", row.Version, "files", len(tree.Files), "install_sh", tree.Scripted, "took", time.Since(start).Round(time.Millisecond))
	if len(tree.Untracked) > 0 {
		c.UI.Warnf("install.sh of %s %s wrote straight into the prefix, outside $DISTPAC_DESTDIR: %s; distpac does not track these (write them under $DISTPAC_DESTDIR$DISTPAC_PREFIX)\n",
			row.Name, row.Version, listSome(tree.Untracked))
	} else if tree.Scripted {
		// Staged: the extracted copy is not needed any more. It goes while
		// the next package stages (10,000 files take 40 ms to delete); a
		// rollback that runs its uninstall.sh extracts it again.
		r.cleanup.Go(func() { os.RemoveAll(p.pkgDir) })
	}
	return p, nil
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

// othersUnchanged adds to err, when item at of a plan of several packages
// failed while it was fetched or staged, a last line that names the plan's
// other packages as not installed either: the error names the one that
// failed, and its script's output ends it (a newcomer's run took
// "install failinst 0.1.0: install.sh exited with status 3" to mean the
// other packages asked for were installed). at < 0 adds nothing.
func (r *run) othersUnchanged(at int, err error) error {
	if at < 0 || at >= len(r.items) {
		return err
	}
	var others []string
	for i, it := range r.items {
		if i != at {
			others = append(others, it.row.Name+" "+it.row.Version)
		}
	}
	switch len(others) {
	case 0:
		return err
	case 1:
		return fmt.Errorf("%w\n%s, of the same transaction, was not installed either", err, others[0])
	}
	return fmt.Errorf("%w\n%s, of the same transaction, were not installed either", err, listSome(others))
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
	var mark []state.Record
	for _, m := range marked {
		if !skip[m.Name] && !inPuts(puts, m.Name) {
			mark = append(mark, m)
		}
	}
	return recs, c.commitMoves(ctx, tx, plan.Journal, []string{c.Config.Prefix}, state.Change{Put: puts, Mark: mark, History: tx.historyEnd(state.ResultOK)})
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

// abort undoes a transaction that failed before its commit, last package
// first. Every package whose install.sh ran, failed or not, has its
// uninstall.sh run to undo what the script did: what it staged is
// discarded with the work directory, but not what it did outside it (a
// service started, a file in ~/.config, files written straight into the
// prefix). Then the old version an upgrade replaced is installed again
// when its uninstall.sh ran, or the new version's did (over the old one's
// live files), so that its install.sh and files redo what either undid.
// A cleanup script that fails is named in the error beside the cause;
// nothing is recorded either way.
func (r *run) abort(ctx context.Context, cause error) error {
	c := r.c
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
	defer cancel()
	r.cleanup.Wait() // extracted copies on their way out are gone
	var restored []*pending
	var cleanups, errs []error
	for i := len(r.pending) - 1; i >= 0; i-- {
		p := r.pending[i]
		row := p.it.row
		ran := p.tree != nil && p.tree.Scripted
		hasUninstall := ran && p.tree.HasUninstall
		if ran && len(p.tree.Untracked) > 0 && !hasUninstall {
			c.UI.Warnf("install.sh of %s %s wrote straight into the prefix, outside $DISTPAC_DESTDIR, and the package has no uninstall.sh to undo it: %s stay\n", row.Name, row.Version, listSome(p.tree.Untracked))
		}
		if hasUninstall {
			if i == len(r.pending)-1 {
				c.UI.Warnf("install of %s %s failed; running its uninstall.sh to clean up\n", row.Name, row.Version)
			} else {
				c.UI.Warnf("undoing the install of %s %s; running its uninstall.sh\n", row.Name, row.Version)
			}
			rec := state.Record{Name: row.Name, Version: row.Version, Prefix: c.Config.Prefix, Archive: row.Archive, SHA256: row.SHA256, Size: row.InstalledSize}
			dir := p.pkgDir
			var err error
			if !script.Exists(dir, "uninstall.sh") {
				// Its extracted copy went once it was staged.
				dir, err = c.unpack(cctx, rec, filepath.Join(p.work, "again"))
			}
			if err == nil {
				err = c.runScript(cctx, "uninstall.sh", rec, dir, "")
			}
			if err != nil {
				cleanups = append(cleanups, fmt.Errorf("the uninstall.sh of %s %s, run to clean up, failed too: %w", row.Name, row.Version, err))
			}
			if p.old != nil && p.oldPkg == "" {
				// The old version was not taken down (it has no
				// uninstall.sh, or --skip-uninstall-script): the new
				// version's uninstall.sh ran over its live files and
				// whatever it runs, so it is put back as after its own
				// uninstall.sh.
				if dir, err := c.unpack(cctx, *p.old, filepath.Join(p.work, "old-again")); err != nil {
					errs = append(errs, restoreFailed(*p.old, err))
				} else {
					p.oldPkg = dir
				}
			}
		}
		if p.oldPkg != "" {
			c.UI.Warnf("restoring %s %s\n", p.old.Name, p.old.Version)
			if err := c.restore(cctx, r.tx, *p.old, p.oldFiles, p.oldPkg); err != nil {
				errs = append(errs, restoreFailed(*p.old, err))
				continue
			}
			restored = append(restored, p)
		}
	}
	if len(cleanups) > 0 {
		// Each on a line of its own: the cause and each script's error
		// end with the script's last lines of output.
		cause = fmt.Errorf("%w\n%w", cause, errors.Join(cleanups...))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w; %w", errors.Join(errs...), cause)
	}
	if len(restored) == 1 && restored[0] == r.pending[len(r.pending)-1] {
		// The upgrade that failed is the one undone.
		p := restored[0]
		return fmt.Errorf("upgrade %s to %s failed, %s restored: %w", p.old.Name, p.it.row.Version, p.old.Version, cause)
	}
	if len(restored) > 0 {
		names := make([]string, len(restored))
		for i, p := range restored {
			names[i] = p.old.Name + " " + p.old.Version
		}
		return fmt.Errorf("%w (restored %s)", cause, strings.Join(names, ", "))
	}
	return cause
}
