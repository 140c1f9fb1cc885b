package install

// Recovery of the scripts a killed dist-client had started: what a
// failure or Ctrl-C does in the process (abort, keepAll), done by the next
// one that takes the lock.

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/distpac/distpac/internal/place"
	"github.com/distpac/distpac/internal/script"
	"github.com/distpac/distpac/internal/state"
)

// ScriptRecovery is what a recovery did about one script a killed
// dist-client had started.
type ScriptRecovery struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Script  string `json:"script"`
	// Result: ScriptUndone, ScriptRestored, or ScriptLeft (what the
	// script did stays; Said says why).
	Result string `json:"result"`
	// Said is the sentence `recover` prints.
	Said string `json:"said"`
}

// ScriptRecovery.Result values.
const (
	ScriptUndone   = "uninstall.sh ran"
	ScriptRestored = "restored"
	ScriptLeft     = "left"
)

// recoverScripts undoes, last first, what the scripts noted in the state
// did outside the prefix: the uninstall.sh of each version whose
// install.sh started, and then the version an upgrade or uninstall had
// taken down with its uninstall.sh is installed again (restore). Each
// note is forgotten once it is dealt with, so a kill -9 meanwhile leaves
// the rest (and the one under way) to the next recovery; a cleanup that
// cannot run is said, not tried again. It runs with the lock held, after
// the journal is finished or undone.
func (c *Client) recoverScripts(ctx context.Context, st *state.DB, notes []state.Script, groups map[int64]string) ([]ScriptRecovery, error) {
	tx := &txn{st: st, ui: c.UI, log: c.logger()}
	defer func() {
		if tx.marks != nil {
			tx.marks.Close()
		}
	}()
	takenDown := map[string]bool{}
	for _, s := range notes {
		if s.Script == state.ScriptUninstall {
			takenDown[s.Name] = true
		}
	}
	var out []ScriptRecovery
	for i := len(notes) - 1; i >= 0; i-- {
		s := notes[i]
		if err := ctx.Err(); err != nil {
			return out, fmt.Errorf("recover the scripts of an interrupted dist-client: %w (run dist-client recover again)", err)
		}
		var r ScriptRecovery
		var err error
		if s.Script == state.ScriptInstall {
			r, err = c.undoInstall(ctx, tx, s, groups[s.ID], !takenDown[s.Name])
		} else {
			r, err = c.redoUninstalled(ctx, tx, s, groups[s.ID])
		}
		if err != nil {
			return out, err
		}
		out = append(out, r)
		tx.settleScripts(ctx, s.ID)
	}
	return out, nil
}

// undoInstall runs the uninstall.sh of a version whose install.sh had
// started. restoreOld: the installed version of that name, if any, was
// not taken down (it has no uninstall.sh) and is installed again after
// the new version's uninstall.sh ran over its live files, as abort does.
// Only ctx's end is an error; a cleanup that cannot run is said in the
// result.
func (c *Client) undoInstall(ctx context.Context, tx *txn, s state.Script, group string, restoreOld bool) (ScriptRecovery, error) {
	r := ScriptRecovery{Name: s.Name, Version: s.Version, Script: s.Script, Result: ScriptLeft}
	head := fmt.Sprintf("install.sh of %s %s had started when dist-client was killed", s.Name, s.Version)
	left := func(why string) ScriptRecovery {
		r.Said = head + group + ": what it did outside the prefix stays; " + why
		return r
	}
	work, err := c.newWork(s.Prefix)
	if err != nil {
		return left("its uninstall.sh could not run: " + err.Error()), nil
	}
	defer place.Discard(work)
	dir, err := c.unpack(ctx, s.Record(), filepath.Join(work, "pkg"))
	if ctx.Err() != nil {
		return r, ctx.Err()
	}
	if err != nil {
		return left("its uninstall.sh could not run: " + err.Error()), nil
	}
	if !script.Exists(dir, "uninstall.sh") {
		return left("the package has no uninstall.sh to undo it"), nil
	}
	c.UI.Warnf("install of %s %s was killed while its install.sh ran; running its uninstall.sh to clean up\n", s.Name, s.Version)
	err = c.runScript(ctx, "uninstall.sh", s.Record(), dir, "", tx.undoing(ctx, s.ID, s.Name), nil)
	if ctx.Err() != nil {
		return r, fmt.Errorf("%s: its uninstall.sh was interrupted: %w (run dist-client recover again)", head, ctx.Err())
	}
	if err != nil {
		return left("its uninstall.sh could not run: " + err.Error()), nil
	}
	r.Result, r.Said = ScriptUndone, head+group+"; ran its uninstall.sh to clean up"
	if old, ok := c.recorded(ctx, tx, s.Name); ok && restoreOld {
		said, _ := c.restoreRecorded(ctx, tx, old, work)
		r.Said += "; " + said
	}
	return r, nil
}

// redoUninstalled installs again the version whose uninstall.sh an upgrade
// or an uninstall ran before it was killed, as a failure or Ctrl-C does.
// One whose uninstall.sh the kill stopped stays as it is, as after Ctrl-C.
func (c *Client) redoUninstalled(ctx context.Context, tx *txn, s state.Script, group string) (ScriptRecovery, error) {
	r := ScriptRecovery{Name: s.Name, Version: s.Version, Script: s.Script, Result: ScriptLeft}
	head := fmt.Sprintf("uninstall.sh of %s %s", s.Name, s.Version)
	old, ok := c.recorded(ctx, tx, s.Name)
	switch {
	case !ok || old.Version != s.Version:
		// The change that took it down was committed, or undone by hand.
		r.Said = head + " had run for a change that did not finish" + group + "; " + s.Name + " " + s.Version + " is no longer installed, so nothing was restored"
		return r, nil
	case !s.Ran:
		r.Said = head + " was stopped by the kill" + group + ": " + s.Name + " " + s.Version + " stays installed, and what the script did before it stopped stays (uninstall or upgrade it again to finish)"
		return r, nil
	}
	work, err := c.newWork(old.Prefix)
	if err != nil {
		r.Said = head + " had run" + group + "; " + restoreFailed(old, err).Error()
		return r, nil
	}
	defer place.Discard(work)
	c.UI.Warnf("restoring %s %s: its uninstall.sh ran before dist-client was killed; installing it again\n", old.Name, old.Version)
	said, ok := c.restoreRecorded(ctx, tx, old, work, s.ID)
	if ctx.Err() != nil {
		return r, fmt.Errorf("%s: restoring %s %s was interrupted: %w (run dist-client recover again)", head, old.Name, old.Version, ctx.Err())
	}
	r.Said = head + " had run for a change that did not finish" + group + "; " + said
	if ok {
		r.Result = ScriptRestored
	}
	return r, nil
}

// restoreRecorded installs the recorded version old again (restore) and
// says how it went, and whether it did; settle are the notes its commit
// settles.
func (c *Client) restoreRecorded(ctx context.Context, tx *txn, old state.Record, work string, settle ...int64) (string, bool) {
	files, err := tx.st.Files(ctx, old.Name)
	if err == nil {
		var dir string
		if dir, err = c.unpack(ctx, old, filepath.Join(work, "old")); err == nil {
			err = c.restore(ctx, tx, old, files, dir, settle...)
		}
	}
	if err != nil {
		return restoreFailed(old, err).Error(), false
	}
	return fmt.Sprintf("installed %s %s again (its install.sh ran)", old.Name, old.Version), true
}

// recorded is the installed record of name.
func (c *Client) recorded(ctx context.Context, tx *txn, name string) (state.Record, bool) {
	recs, err := tx.st.State(ctx)
	if err != nil {
		return state.Record{}, false
	}
	return recs.Get(name)
}

// startedScripts ends the process groups the notes name (endGroup; what
// to say of each is in groups, by ID), then drops, settling them, the
// notes whose script never started: a kill of dist-client between the
// note and the start closed the gate its process waited at (script.Env),
// and the process never marked its start (state.UnstartedScripts). Only a
// note of this boot is known so: a loss of power may have taken a mark,
// which is not synced (NeverStarted). The rest are returned, in order.
func (c *Client) startedScripts(ctx context.Context, st *state.DB, notes []state.Script) ([]state.Script, map[int64]string) {
	groups := make(map[int64]string, len(notes))
	for _, s := range notes {
		groups[s.ID] = c.endGroup(s)
	}
	unstarted, err := st.UnstartedScripts()
	if err != nil {
		c.logger().Debug("reading the marks of the scripts' starts; each noted script may have started", "err", err)
	}
	var started []state.Script
	for _, s := range notes {
		if !NeverStarted(s, unstarted) {
			started = append(started, s)
			continue
		}
		c.logger().Debug("a script noted never started: nothing to undo", "script", s.Script, "package", s.Name, "version", s.Version)
		if err := st.SettleScripts(ctx, s.ID); err != nil {
			c.logger().Debug("forgetting a script that never started", "err", err)
		}
	}
	return started, groups
}

// NeverStarted says whether the script of the note s is known never to
// have started: its process never marked its start (unstarted, from
// state.UnstartedScripts) and the note is of this boot (a loss of power
// may have taken a mark, which is not synced). Recover drops such a note,
// nothing to undo, and the commands that read the installed state say so;
// any other note's script may have started, and may still run.
func NeverStarted(s state.Script, unstarted map[int64]bool) bool {
	return unstarted[s.ID] && script.Group(s.Process).ThisBoot()
}

// endGroup deals with the process group of a script a kill left running
// (scripts run in groups of their own, which a kill -9 of dist-client does
// not reach): one whose leader is still that script is killed, as Ctrl-C
// kills it; one that cannot be told from a group that took its id since is
// only named. It returns what to say, "" when the group is gone.
func (c *Client) endGroup(s state.Script) string {
	g := script.Group(s.Process)
	if g.PGID <= 1 {
		return ""
	}
	switch g.State() {
	case script.GroupOurs:
		err := g.Kill()
		if errors.Is(err, script.ErrOwnGroup) {
			return fmt.Sprintf(" (its process group %d still runs this dist-client, which the script ran: left alone)", g.PGID)
		}
		if err != nil && !errors.Is(err, script.ErrNotOurs) {
			return fmt.Sprintf(" (its process group %d was still running and could not be killed: %v)", g.PGID, err)
		}
		return fmt.Sprintf(" (its process group %d was still running: killed it)", g.PGID)
	case script.GroupUnknown:
		return fmt.Sprintf(" (processes of its process group %d may still run, left alone: they cannot be told from others that took that id since; see `ps -g %d`)", g.PGID, g.PGID)
	}
	return ""
}
