package clientcli

import (
	"context"

	"github.com/distpac/distpac/internal/fsutil"
	"github.com/distpac/distpac/internal/state"
)

// warnInterrupted tells a command that reads the installed state (list,
// status, verify, files, owner) that a dist-client was killed in the
// middle of a change, which the next command that changes packages
// finishes or undoes: until then files may be in the prefix without a
// record, or records without their files. After a kill -9 during the
// placing of 250 packages, `list --installed` said none were installed,
// `owner` that no package owned their files and `verify` found nothing
// wrong, all without a word about it (an attacker's run). Nothing is
// said while a running dist-client holds the lock: its change is under
// way, not interrupted.
func (e *env) warnInterrupted(ctx context.Context) {
	cfg, cp, err := e.config()
	if err != nil {
		return
	}
	if fsutil.LockBusy(cp.Lock()) {
		return
	}
	switch left, err := state.Interrupted(ctx, cp.Installed()); {
	case err != nil:
	case left == state.InterruptedChange:
		e.UI.Warnf("a dist-client was interrupted in the middle of a change: files in %s may lack their records, or records their files, until dist-client recover, or the next install, upgrade, uninstall or mark, finishes or undoes it\n", cfg.Prefix)
	case left == state.InterruptedScript:
		// No file moved: the records are right, but a script's work
		// outside the prefix stays until its package's uninstall.sh runs.
		e.UI.Warnf("a dist-client was interrupted while a package's script ran: what the script did outside %s stays until dist-client recover, or the next install, upgrade, uninstall or mark, undoes it\n", cfg.Prefix)
	}
}
