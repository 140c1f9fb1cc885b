package install

// The scripts a transaction starts, noted in the state before each starts
// (state.NoteScript) so that a recovery after a kill -9 can undo what they
// did outside the prefix, as the rollback of a failure or Ctrl-C does.

import (
	"context"

	"github.com/distpac/distpac/internal/script"
	"github.com/distpac/distpac/internal/state"
)

// noteScript records that which (install.sh, uninstall.sh) of rec is
// about to run, before it does, and returns the note's ID and the hook
// that records its process group once it runs (script.Env.Started). The
// script must not start when it fails.
func (t *txn) noteScript(ctx context.Context, which string, rec state.Record) (int64, func(script.Group), error) {
	id, err := t.st.NoteScript(ctx, state.Script{
		Script: which, Name: rec.Name, Version: rec.Version, Archive: rec.Archive, SHA256: rec.SHA256, Size: rec.Size, Prefix: rec.Prefix,
	})
	if err != nil {
		return 0, nil, err
	}
	t.scripts = append(t.scripts, id)
	started := func(g script.Group) {
		// Only a recovery that finds the script still running needs it:
		// one that cannot be written costs no more than the report.
		if err := t.st.ScriptStarted(context.WithoutCancel(ctx), id, state.Process(g)); err != nil {
			t.log.Debug("recording a script's process group", "script", which, "package", rec.Name, "err", err)
		}
	}
	return id, started, nil
}

// scriptRan records that the script noted as id exited 0: a recovery
// restores the version whose uninstall.sh ran, and leaves as it is one
// whose uninstall.sh a kill stopped, as Ctrl-C does.
func (t *txn) scriptRan(ctx context.Context, id int64) {
	if err := t.st.ScriptRan(context.WithoutCancel(ctx), id); err != nil {
		t.log.Debug("recording that a script ran", "err", err)
	}
}

// settleScripts forgets the notes ids once what their scripts did is
// undone (or could not be, which the error says): a failure to forget only
// costs a recovery that runs the cleanup again, so it is logged.
func (t *txn) settleScripts(ctx context.Context, ids ...int64) {
	if err := t.st.SettleScripts(context.WithoutCancel(ctx), ids...); err != nil {
		t.log.Debug("forgetting the scripts a transaction ran", "err", err)
	}
}
