package install

// Undoing a failed run: the rollback, and the last line of its error
// (what else stayed as it was).

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/distpac/distpac/internal/daemon"
	"github.com/distpac/distpac/internal/script"
	"github.com/distpac/distpac/internal/state"
)

// abort undoes a transaction that failed before its commit, last package
// first. Every package whose install.sh ran, failed or not, has its
// uninstall.sh run to undo what the script did: what it staged is
// discarded with the work directory, but not what it did outside it (a
// service started, a file in ~/.config, files written straight into the
// prefix). Then the old version an upgrade replaced is installed again
// when its uninstall.sh ran, or the new version's did (over the old one's
// live files), so that its install.sh and files redo what either undid.
// A cleanup script that fails is named in the error beside the cause;
// nothing is recorded either way. The scripts' notes (txn.noteScript) stay
// until each package is undone, so that a kill -9 meanwhile leaves the
// rest to the recovery.
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
		// Its install.sh ran once its note was written (noteScript): one
		// whose note failed never started.
		ran := p.tree != nil && p.tree.Scripted && p.note != 0
		hasUninstall := ran && p.tree.HasUninstall
		if ran && len(p.tree.Untracked) > 0 && !hasUninstall {
			c.UI.Warnf("install.sh of %s %s wrote straight into the prefix, outside $DISTPAC_DESTDIR, and the package has no uninstall.sh to undo it: %s stay\n", row.Name, row.Version, listSome(p.tree.Untracked))
		}
		if hasUninstall {
			// Only the package whose own step failed is said to have
			// failed: "install of lib 1.0.0 failed" stood for app's
			// download failing after lib was staged, and for Ctrl-C
			// during an install.sh (a newcomer's run).
			switch {
			case r.failedHere(i) && errors.Is(ctx.Err(), context.Canceled):
				c.UI.Warnf("install of %s %s interrupted; running its uninstall.sh to clean up\n", row.Name, row.Version)
			case r.failedHere(i):
				c.UI.Warnf("install of %s %s failed; running its uninstall.sh to clean up\n", row.Name, row.Version)
			default:
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
				// Its note names this uninstall.sh's group while it runs:
				// a kill -9 meanwhile left it running beside the one the
				// recovery ran (recover_abort_killed.txtar).
				err = c.runScript(cctx, "uninstall.sh", rec, dir, "", r.tx.undoing(cctx, p.note, row.Name), nil)
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
			if err := c.restore(cctx, r.tx, *p.old, p.oldFiles, p.oldPkg, p.oldNote); err != nil {
				errs = append(errs, restoreFailed(*p.old, err))
			} else {
				restored = append(restored, p)
			}
		}
		// Undone, or said not to be: a kill from here on leaves the
		// recovery nothing of this package to undo again.
		r.tx.settleScripts(cctx, p.note, p.oldNote)
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

// failedHere reports whether pending package i is the one whose failure
// aborts the run: the item r.failed, or the last one staged when the run
// failed after staging with no item in particular (its step was the last
// under way).
func (r *run) failedHere(i int) bool {
	if r.failed == noItem && r.staged {
		return i == len(r.pending)-1
	}
	return r.failed >= 0 && r.failed < len(r.items) && r.items[r.failed].row.Archive == r.pending[i].it.row.Archive
}

// failedAt is the item a failure of the fetch while waiting for item
// waited's archive (noItem: none) is of: the download that failed names its
// archive (daemon.ArchiveError), which need not be the one waited for;
// everyItem (the review: a stall named all but the awaited package as
// "not installed either") when the fetch failed as a whole (a stall, the
// daemon gone). An interruption (Ctrl-C) is the waited item's.
func (r *run) failedAt(waited int, err error) int {
	var ae *daemon.ArchiveError
	if !errors.As(err, &ae) {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return waited
		}
		return everyItem
	}
	for i, it := range r.items {
		if it.row.Archive == ae.Archive {
			return i
		}
	}
	return everyItem
}

// The failures of no single item (run.failed, failedAt,
// othersUnchanged): everyItem's is the whole fetch's, which leaves every
// package of the plan uninstalled; noItem's is none in particular (a
// conflict found at placement, an interruption while no item was
// awaited), whose error says itself what failed.
const (
	noItem    = -1
	everyItem = -2
)

// othersUnchanged adds to err, when item at of a plan of several packages
// failed while it was fetched or staged, a last line that names the plan's
// other packages as not installed either: the error names the one that
// failed, and its script's output ends it (a newcomer's run took
// "install failinst 0.1.0: install.sh exited with status 3" to mean the
// other packages asked for were installed). at == everyItem names every
// package of a plan of several as not installed; noItem adds nothing.
func (r *run) othersUnchanged(at int, err error) error {
	if at == everyItem && len(r.items) > 1 {
		var all []string
		for _, it := range r.items {
			all = append(all, it.row.Name+" "+it.row.Version)
		}
		return fmt.Errorf("%w\n%s, of the same transaction, were not installed", err, listSome(all))
	}
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
