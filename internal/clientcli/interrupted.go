package clientcli

import (
	"context"
	"fmt"
	"strings"

	"github.com/distpac/distpac/internal/fsutil"
	"github.com/distpac/distpac/internal/install"
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
	switch left, notes, err := state.Interrupted(ctx, cp.Installed()); {
	case err != nil:
	case left == state.InterruptedChange:
		e.UI.Warnf("a dist-client was interrupted in the middle of a change: files in %s may lack their records, or records their files, until dist-client recover, or the next install, upgrade, uninstall, mark or hold, finishes or undoes it\n", cfg.Prefix)
	case left == state.InterruptedScript:
		maybe, never := splitNotes(cp.Installed(), notes)
		if len(maybe) == 0 && len(never) > 0 {
			// Killed before any noted script started: nothing ran, and
			// recover drops the notes as nothing to undo. They said "it
			// may still run" of a script that never started.
			e.UI.Warnf("a dist-client was interrupted before it changed anything: %s never started, nothing to undo; dist-client recover, or the next install, upgrade, uninstall, mark or hold, clears it\n", scriptNames(never))
			return
		}
		// No file moved: the records are right, but a script's work
		// outside the prefix stays until its package's uninstall.sh runs,
		// and the script may still run (its own process group).
		e.UI.Warnf("a dist-client was interrupted while %s ran: what it did outside %s stays, and it may still run, until dist-client recover, or the next install, upgrade, uninstall, mark or hold, undoes it\n", scriptNames(maybe), cfg.Prefix)
	}
}

// splitNotes parts the notes of the state at installed into those whose
// script may have started and those known never to have started
// (install.NeverStarted, as recover decides). Marks that do not read
// leave every note among the first.
func splitNotes(installed string, notes []state.Script) (maybe, never []state.Script) {
	unstarted, _ := state.UnstartedScriptsAt(installed)
	for _, n := range notes {
		if install.NeverStarted(n, unstarted) {
			never = append(never, n)
		} else {
			maybe = append(maybe, n)
		}
	}
	return maybe, never
}

// scriptNames names the scripts a killed dist-client noted and did not
// settle ("install.sh of slow 1.0.0"), at most three, or says "a
// package's script" when none could be read.
func scriptNames(notes []state.Script) string {
	const most = 3
	if len(notes) == 0 {
		return "a package's script"
	}
	var names []string
	for _, n := range notes[:min(len(notes), most)] {
		names = append(names, fmt.Sprintf("%s of %s %s", n.Script, n.Name, n.Version))
	}
	if len(notes) > most {
		names = append(names, fmt.Sprintf("%d more", len(notes)-most))
	}
	return strings.Join(names, ", ")
}
