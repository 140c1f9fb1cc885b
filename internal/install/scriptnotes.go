package install

// The scripts a transaction starts, noted in the state before each runs
// (state.NoteScript) so that a recovery after a kill -9 can undo what they
// did outside the prefix, as the rollback of a failure or Ctrl-C does.

import (
	"context"
	"os"

	"github.com/distpac/distpac/internal/script"
	"github.com/distpac/distpac/internal/state"
)

// noteScript returns what script.Env needs to note which (install.sh,
// uninstall.sh) of rec: started notes it, with its process group, once its
// process exists and before it runs (state.NoteScript; the script waits
// for it), and sets *id; mark is the file the process marks its start in
// (state.OpenMarks). A note that cannot be written keeps the script from
// running.
func (c *Client) noteScript(ctx context.Context, t *txn, which string, rec state.Record, id *int64) (started func(script.Group) (string, error), mark *os.File, err error) {
	if t.marks == nil {
		if t.marks, err = t.st.OpenMarks(); err != nil {
			return nil, nil, err
		}
	}
	started = func(g script.Group) (string, error) {
		n, err := t.st.NoteScript(ctx, state.Script{
			Script: which, Name: rec.Name, Version: rec.Version, Archive: rec.Archive, SHA256: rec.SHA256, Size: rec.Size, Prefix: rec.Prefix,
			Process: state.Process(g),
		})
		if err != nil {
			return "", err
		}
		*id = n
		t.scripts = append(t.scripts, n)
		// A test's kill here is one between the note and the start.
		if err := c.step("noted " + which); err != nil {
			return "", err
		}
		return state.StartedMark(n), nil
	}
	return started, t.marks, nil
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

// undoing returns a script.Env.Started for the uninstall.sh run to undo
// the install.sh noted as id: it names that uninstall.sh's process group
// in the note, so that the recovery after a kill of this process kills it
// before it runs the uninstall.sh again (two ran at once, the first never
// named). The note stays the install.sh's: its mark says it started. A
// group that cannot be written costs no more than that, so it is logged.
func (t *txn) undoing(ctx context.Context, id int64, name string) func(script.Group) (string, error) {
	if id == 0 {
		return nil
	}
	return func(g script.Group) (string, error) {
		if err := t.st.ScriptStarted(context.WithoutCancel(ctx), id, state.Process(g)); err != nil {
			t.log.Debug("recording a script's process group", "script", "uninstall.sh", "package", name, "err", err)
		}
		return "", nil
	}
}
