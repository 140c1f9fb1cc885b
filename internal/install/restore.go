package install

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/distpac/distpac/internal/place"
	"github.com/distpac/distpac/internal/script"
	"github.com/distpac/distpac/internal/stage"
	"github.com/distpac/distpac/internal/state"
)

// restoreFailed is the error of a restore (restore, or the extraction
// before it) that failed: the version stays recorded, to be reinstalled.
func restoreFailed(old state.Record, err error) error {
	return fmt.Errorf("restoring %s %s failed too (%v; its record is kept, reinstall it)", old.Name, old.Version, err)
}

// restore installs an installed version again after its uninstall.sh ran
// and the transaction that ran it failed (an upgrade, an uninstall): its
// install.sh, from its extracted package pkgDir, runs into a new staging
// root and the result replaces the version's own files (files, as
// recorded), as an upgrade to itself would. What the uninstall.sh undid
// outside the prefix (a stopped service) is the install.sh's to redo. Its
// commit settles the script notes settle (that uninstall.sh's). The
// install.sh is noted as every other (noteScript), so that a kill while it
// runs leaves it to the recovery (which kills its group and runs the
// uninstall.sh, then restores again); a restore that fails settles its
// note, its error says what stays.
func (c *Client) restore(ctx context.Context, tx *txn, old state.Record, files []state.File, pkgDir string, settle ...int64) (err error) {
	// A work directory of its own: committing removes it.
	work, err := c.newWork(old.Prefix)
	if err != nil {
		return err
	}
	defer place.Discard(work)
	opts := c.stageOptions(old.Name, old.Version, c.newWatch(old.Prefix))
	opts.Prefix = old.Prefix
	var note int64
	if script.Exists(pkgDir, "install.sh") {
		if opts.Started, opts.Mark, err = c.noteScript(ctx, tx, state.ScriptInstall, old, &note); err != nil {
			return err
		}
		defer func() {
			if err != nil && note != 0 {
				tx.settleScripts(ctx, note)
			}
		}()
	} else {
		// Its tree is its assets/, placed by renames from the work
		// directory: extracted again into this one (the copy that ran
		// uninstall.sh is the failed transaction's, maybe on another
		// filesystem).
		if pkgDir, err = c.unpack(ctx, old, filepath.Join(work, "pkg")); err != nil {
			return err
		}
	}
	tree, err := stage.Build(ctx, pkgDir, work, opts)
	if err != nil {
		return err
	}
	if note != 0 {
		settle = append(settle, note)
	}
	change := place.Change{
		Old: &place.Installed{Name: old.Name, Version: old.Version, Prefix: old.Prefix, Files: files},
		New: &place.Staged{Name: old.Name, Version: old.Version, Prefix: old.Prefix, Root: tree.Root, Files: tree.Files},
	}
	skip := map[string]bool{old.Name: true}
	plan, err := place.Prepare(ctx, []place.Change{change}, place.Options{Work: work, Owners: tx.owners(ctx, skip), Named: tx.named(ctx, skip), Overwrite: c.Overwrite, Warn: c.UI.Warnf})
	if err != nil {
		return err
	}
	old.FilesKnown, old.HasUninstall, old.Untracked = true, tree.HasUninstall, capList(tree.Untracked)
	return c.commitMoves(ctx, tx, plan.Journal, []string{old.Prefix}, state.Change{Put: []state.Package{{Record: old, Files: plan.Files[0]}}, Settle: settle})
}
