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
	"syscall"
	"time"

	"github.com/Masterminds/semver/v3"

	"github.com/distpac/distpac/internal/catalog"
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
	pending []*pending
	cleanup sync.WaitGroup // removals of extracted copies under way
}

// carryOut checks free space, downloads every archive of the plan, stages
// every package, then checks and places them all, committing the records
// (and the marked ones) in one state transaction.
func (c *Client) carryOut(ctx context.Context, tx *txn, items []item, marked []state.Record) error {
	if err := c.checkSpace(items); err != nil {
		return err
	}
	n, err := c.fetch(ctx, items)
	tx.downloaded = n
	if err != nil {
		return err
	}
	work, err := c.newWork(c.Config.Prefix)
	if err != nil {
		return err
	}
	defer place.Discard(work)
	r := &run{c: c, tx: tx, work: work, watch: c.newWatch(c.Config.Prefix)}
	defer r.cleanup.Wait()
	for i, it := range items {
		p, err := r.prepare(ctx, i, it)
		if p != nil {
			r.pending = append(r.pending, p)
		}
		if err != nil {
			return r.abort(ctx, err)
		}
	}
	if err := c.step("staged"); err != nil {
		return r.abort(ctx, err)
	}
	puts, err := r.place(ctx, marked)
	if err != nil {
		return r.abort(ctx, err)
	}
	for _, p := range puts {
		c.UI.Printf("installed %s %s\n", p.Name, p.Version)
	}
	return nil
}

// newWork makes a transaction's work directory on prefix's filesystem: in
// the data home when it is there too, else in the prefix itself. An empty
// prefix means the data home (a removal stages nothing).
func (c *Client) newWork(prefix string) (string, error) {
	root := c.Paths.Staging()
	if prefix != "" {
		if err := os.MkdirAll(prefix, 0o755); err != nil {
			return "", fmt.Errorf("prefix: %w", err)
		}
		if !sameFS(c.Paths.Dir, prefix) {
			root = filepath.Join(prefix, state.StagingDirName)
		}
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", fmt.Errorf("staging: %w", err)
	}
	work, err := os.MkdirTemp(root, "txn-")
	if err != nil {
		return "", fmt.Errorf("staging: %w", err)
	}
	return work, nil
}

func sameFS(a, b string) bool {
	var sa, sb syscall.Stat_t
	return syscall.Stat(a, &sa) == nil && syscall.Stat(b, &sb) == nil && sa.Dev == sb.Dev
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
	if old, ok := r.tx.recs.Get(row.Name); ok && it.step.From != nil {
		p.old = &old
		files, err := r.tx.st.Files(ctx, old.Name)
		if err != nil {
			return nil, err
		}
		p.oldFiles = files
		c.UI.Printf("%s %s %s -> %s\n", upOrDown(old.Version, row.Version), old.Name, old.Version, row.Version)
		if old.HasUninstall || !old.FilesKnown {
			dir, err := c.unpack(ctx, old, filepath.Join(p.work, "old"))
			if err != nil {
				return nil, fmt.Errorf("upgrade %s: %w (nothing changed)", old.Name, err)
			}
			if script.Exists(dir, "uninstall.sh") {
				if err := c.runScript(ctx, "uninstall.sh", old, dir, ""); err != nil {
					return nil, fmt.Errorf("upgrade %s: uninstall of %s: %w (nothing changed)", old.Name, old.Version, err)
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
	tree, err := stage.Build(ctx, p.pkgDir, p.work, c.stageOptions(row.Name, row.Version, r.watch))
	p.tree = tree
	if err != nil {
		return p, fmt.Errorf("install %s %s: %w", row.Name, row.Version, err)
	}
	if len(tree.Untracked) > 0 {
		c.UI.Warnf("install.sh of %s %s wrote straight into the prefix, outside $DISTPAC_DESTDIR: %s; distpac does not track these (write them under $DISTPAC_DESTDIR$DISTPAC_PREFIX)\n",
			row.Name, row.Version, listSome(tree.Untracked))
	} else if tree.Scripted {
		// Staged: the extracted copy is not needed any more. It goes while
		// the next package stages (10,000 files take 40 ms to delete).
		r.cleanup.Go(func() { os.RemoveAll(p.pkgDir) })
	}
	return p, nil
}

func upOrDown(from, to string) string {
	ov, err1 := semver.StrictNewVersion(from)
	nv, err2 := semver.StrictNewVersion(to)
	if err1 == nil && err2 == nil && nv.LessThan(ov) {
		return "downgrading"
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

func (c *Client) stageOptions(name, version string, w *stage.Watch) stage.Options {
	return stage.Options{
		Name: name, Version: version, Prefix: c.Config.Prefix, Out: c.UI.ScriptOutput(),
		Watch: w, ScriptTimeout: c.ScriptTimeout,
	}
}

// newWatch watches prefix for files scripts write straight into it,
// skipping the data home and the staging areas.
func (c *Client) newWatch(prefix string) *stage.Watch {
	return &stage.Watch{Prefix: prefix, Exclude: append([]string{filepath.Dir(c.Paths.Dir)}, c.stagingRoots()...)}
}

// extract streams the cached archive of row into dir, checking its SHA-256
// in the same read. A cached archive that fails the check is dropped and
// downloaded again, once.
func (r *run) extract(ctx context.Context, row catalog.Package, dir string) error {
	a := stage.Archive{Path: filepath.Join(r.c.Paths.Cache(), row.Archive), Size: row.Size, SHA256: row.SHA256, MaxInstalled: row.InstalledSize}
	err := stage.Extract(ctx, a, dir)
	if !errors.Is(err, stage.ErrCorrupt) {
		return err
	}
	r.c.UI.Warnf("%v; downloading it again\n", err)
	os.Remove(a.Path)
	if err := r.c.download(ctx, []catalog.Package{row}); err != nil {
		return err
	}
	r.tx.downloaded += row.Size
	return stage.Extract(ctx, a, dir)
}

// unpack makes an installed version's package available to run its
// scripts: extracted from the cached archive (checked), or the extracted
// copy an older dist-client kept in pkgs/.
func (c *Client) unpack(ctx context.Context, rec state.Record, dir string) (string, error) {
	path := filepath.Join(c.Paths.Cache(), rec.Archive)
	fi, err := os.Stat(path)
	if err == nil {
		a := stage.Archive{Path: path, Size: fi.Size(), SHA256: rec.SHA256, MaxInstalled: rec.Size}
		err = stage.Extract(ctx, a, dir)
		if err == nil {
			return dir, nil
		}
		if !errors.Is(err, stage.ErrCorrupt) {
			return "", err
		}
	}
	// Name and version are validated, so this stays inside pkgs/.
	legacy := filepath.Join(c.Paths.Packages(), rec.Name+"-"+rec.Version)
	if fi, lerr := os.Stat(filepath.Join(legacy, "scripts")); lerr == nil && fi.IsDir() {
		return legacy, nil
	}
	if err != nil && !os.IsNotExist(err) {
		return "", fmt.Errorf("%s %s: cached archive: %w", rec.Name, rec.Version, err)
	}
	return "", fmt.Errorf("%s %s: its archive %s is not in the cache (removed outside dist-client?), so its scripts cannot run", rec.Name, rec.Version, path)
}

// runScript runs an installed version's script with its recorded prefix.
func (c *Client) runScript(ctx context.Context, name string, rec state.Record, pkgDir, destDir string) error {
	env := script.Env{Name: rec.Name, Version: rec.Version, PkgDir: pkgDir, Prefix: rec.Prefix, DestDir: destDir, Timeout: c.ScriptTimeout}
	return script.Run(ctx, name, env, c.UI.ScriptOutput())
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
	owners, err := tx.st.Owners(ctx, skip)
	if err != nil {
		return nil, err
	}
	plan, err := place.Prepare(changes, place.Options{Work: r.work, Owners: owners, Overwrite: c.Overwrite, Warn: c.UI.Warnf})
	if err != nil {
		var names []string
		for _, p := range r.pending {
			names = append(names, p.it.row.Name+" "+p.it.row.Version)
		}
		return nil, fmt.Errorf("install %s: %w", strings.Join(names, ", "), err)
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

// commitMoves journals j, applies it, commits change, then finishes the
// journal. Until the commit every failure leaves the prefix as it was.
func (c *Client) commitMoves(ctx context.Context, tx *txn, j state.Journal, prefixes []string, change state.Change) error {
	// The moves and the commit run to their end even if ctx is cancelled
	// on the way: a half-done step is worse than a finished one.
	ctx = context.WithoutCancel(ctx)
	if err := c.step("journal"); err != nil {
		return err
	}
	if err := tx.st.BeginJournal(ctx, j); err != nil {
		return err
	}
	if err := place.Apply(j, prefixes, func(int) error { return c.step("move") }); err != nil {
		return errors.Join(err, tx.st.EndJournal(ctx))
	}
	if err := c.step("commit"); err != nil {
		return errors.Join(err, place.Undo(j.Ops), tx.st.EndJournal(ctx))
	}
	if err := tx.st.Commit(ctx, change); err != nil {
		// The journal stays if this fails too; the next command undoes it.
		return errors.Join(err, place.Undo(j.Ops), tx.st.EndJournal(ctx))
	}
	if err := c.step("finish"); err != nil {
		return nil // committed; the next command finishes the cleanup
	}
	if err := place.Finish(j); err != nil {
		c.UI.Warnf("cleaning up after the transaction: %v\n", err)
		return nil
	}
	if err := tx.st.EndJournal(ctx); err != nil {
		c.UI.Warnf("%v (the next dist-client command finishes it)\n", err)
	}
	return nil
}

// abort undoes a transaction that failed before its commit: scripts that
// wrote straight into the prefix are cleaned up with their uninstall.sh,
// and old versions whose uninstall.sh ran are installed again.
func (r *run) abort(ctx context.Context, cause error) error {
	c := r.c
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
	defer cancel()
	var restored []string
	var errs []error
	for i := len(r.pending) - 1; i >= 0; i-- {
		p := r.pending[i]
		row := p.it.row
		// A script that wrote only into its staging root needs no cleanup:
		// the staging is discarded. One that wrote straight into the
		// prefix is cleaned up by its uninstall.sh.
		if p.tree != nil && len(p.tree.Untracked) > 0 && script.Exists(p.pkgDir, "uninstall.sh") {
			if i == len(r.pending)-1 {
				c.UI.Warnf("install of %s %s failed; running its uninstall.sh to clean up\n", row.Name, row.Version)
			} else {
				c.UI.Warnf("undoing the install of %s %s; running its uninstall.sh\n", row.Name, row.Version)
			}
			rec := state.Record{Name: row.Name, Version: row.Version, Prefix: c.Config.Prefix}
			if err := c.runScript(cctx, "uninstall.sh", rec, p.pkgDir, ""); err != nil {
				c.UI.Warnf("cleanup of %s: %v\n", row.Name, err)
			}
		}
		if p.oldPkg != "" {
			c.UI.Warnf("restoring %s %s\n", p.old.Name, p.old.Version)
			if err := r.restore(cctx, p); err != nil {
				errs = append(errs, fmt.Errorf("restoring %s %s failed too (%v; its record is kept, reinstall it)", p.old.Name, p.old.Version, err))
				continue
			}
			restored = append(restored, p.old.Name+" "+p.old.Version)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w; %w", errors.Join(errs...), cause)
	}
	if len(restored) == 1 && len(r.pending) > 0 {
		last := r.pending[len(r.pending)-1]
		if last.old != nil {
			return fmt.Errorf("upgrade %s to %s failed, %s restored: %w", last.old.Name, last.it.row.Version, last.old.Version, cause)
		}
	}
	if len(restored) > 0 {
		return fmt.Errorf("%w (restored %s)", cause, strings.Join(restored, ", "))
	}
	return cause
}

// restore installs the old version of p again after its uninstall.sh ran:
// its install.sh runs into a new staging root and the result replaces the
// old version's own files, as an upgrade to itself would.
func (r *run) restore(ctx context.Context, p *pending) error {
	c, old := r.c, *p.old
	// A work directory of its own: committing removes it.
	work, err := c.newWork(old.Prefix)
	if err != nil {
		return err
	}
	defer place.Discard(work)
	opts := c.stageOptions(old.Name, old.Version, c.newWatch(old.Prefix))
	opts.Prefix = old.Prefix
	tree, err := stage.Build(ctx, p.oldPkg, work, opts)
	if err != nil {
		return err
	}
	owners, err := r.tx.st.Owners(ctx, map[string]bool{old.Name: true})
	if err != nil {
		return err
	}
	change := place.Change{
		Old: &place.Installed{Name: old.Name, Version: old.Version, Prefix: old.Prefix, Files: p.oldFiles},
		New: &place.Staged{Name: old.Name, Version: old.Version, Prefix: old.Prefix, Root: tree.Root, Files: tree.Files},
	}
	plan, err := place.Prepare([]place.Change{change}, place.Options{Work: work, Owners: owners, Overwrite: c.Overwrite, Warn: c.UI.Warnf})
	if err != nil {
		return err
	}
	old.FilesKnown, old.HasUninstall, old.Untracked = true, tree.HasUninstall, capList(tree.Untracked)
	return c.commitMoves(ctx, r.tx, plan.Journal, []string{old.Prefix}, state.Change{Put: []state.Package{{Record: old, Files: plan.Files[0]}}})
}
