package install

// Staging one item of a plan: what it replaces, and its archive unpacked
// and built in the transaction's work directory.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/distpac/distpac/internal/script"
	"github.com/distpac/distpac/internal/stage"
	"github.com/distpac/distpac/internal/state"
)

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
				started, mark, err := c.noteScript(ctx, r.tx, state.ScriptUninstall, old, &p.oldNote)
				if err != nil {
					return nil, fmt.Errorf("upgrade %s: %w (nothing changed)", old.Name, err)
				}
				if err := c.runScript(ctx, "uninstall.sh", old, dir, "", started, mark); err != nil {
					return nil, fmt.Errorf("upgrade %s: nothing changed (--skip-uninstall-script replaces %s without running its uninstall.sh): %w", old.Name, old.Version, err)
				}
				r.tx.scriptRan(ctx, p.oldNote)
				p.oldPkg = dir
			}
		}
	}
	// "installing" is said once the archive is whole: at once when it is
	// (cached, or downloaded already), else once its unpacking as it
	// arrives has read it to its end and checked its SHA-256. Said before
	// the unpacking, it came while most of the archive was still to
	// download, and a download that then failed read "installing big
	// 1.0.0" just above its error (a tester's run, the publisher killed
	// mid-transfer).
	say := p.old == nil
	if say && r.fetch.Complete(row.Archive) {
		c.UI.Printf("installing %s %s\n", row.Name, row.Version)
		say = false
	}
	p.pkgDir = filepath.Join(p.work, "pkg")
	extracted, err := r.extract(ctx, row, p.pkgDir)
	if err != nil {
		return p, err
	}
	if say {
		c.UI.Printf("installing %s %s\n", row.Name, row.Version)
	}
	opts := c.stageOptions(row.Name, row.Version, r.watch)
	opts.Extracted = extracted
	if script.Exists(p.pkgDir, "install.sh") {
		rec := state.Record{Name: row.Name, Version: row.Version, Archive: row.Archive, SHA256: row.SHA256, Size: row.InstalledSize, Prefix: c.Config.Prefix}
		if opts.Started, opts.Mark, err = c.noteScript(ctx, r.tx, state.ScriptInstall, rec, &p.note); err != nil {
			return p, fmt.Errorf("install %s %s: %w", row.Name, row.Version, err)
		}
	}
	start := time.Now()
	tree, err := stage.Build(ctx, p.pkgDir, p.work, opts)
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
