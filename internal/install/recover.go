package install

// Recovery: finishing or undoing the change a killed dist-client left
// (dist-client recover, and every command that finds one pending).

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/distpac/distpac/internal/place"
	"github.com/distpac/distpac/internal/safedir"
	"github.com/distpac/distpac/internal/state"
)

// Recovery is what a recovery did: `dist-client recover` prints it
// (--json as it is).
type Recovery struct {
	// Result is what became of the change a killed dist-client left
	// half-done: RecoveryFinished (its records were committed),
	// RecoveryRolledBack, or "" when none was left.
	Result string `json:"result,omitempty"`
	// Command is that change's command as history has it ("install
	// hello"), and Changes what it made (finished) or was about to make
	// (rolled back).
	Command string                `json:"command,omitempty"`
	Changes []state.HistoryChange `json:"changes"`
	// Interrupted lists the other commands killed dist-clients had begun
	// (history entries left running), killed before they changed anything
	// (in install.sh, say): their entries are now marked interrupted.
	Interrupted []string `json:"interrupted,omitempty"`
	// Removed lists the staging work directories killed dist-clients
	// left, which the recovery removed.
	Removed []string `json:"staging_removed,omitempty"`
	// Scripts says, last first, what became of each script the
	// interrupted change had started (install.sh, or the uninstall.sh of
	// a version it replaced or removed), whose effects outside the prefix
	// no journal undoes.
	Scripts []ScriptRecovery `json:"scripts,omitempty"`
	// leftover: a finished change's files set aside could not all be
	// removed (said in a warning already).
	leftover bool
}

// What became of an interrupted change (Recovery.Result).
const (
	RecoveryFinished   = "finished"
	RecoveryRolledBack = "rolled back"
)

// Pending reports whether there was anything to recover.
func (r Recovery) Pending() bool {
	return r.Result != "" || len(r.Interrupted) > 0 || len(r.Removed) > 0 || len(r.Scripts) > 0
}

// Recover finishes or undoes the change a killed dist-client left, as
// every install, upgrade, uninstall, mark and hold does before its own,
// and nothing else (dpkg --configure -a): the readers (list, status,
// verify, owner) say a change was interrupted, and the only way to end it
// was another change (an operator's run). The Recovery says what it did.
func (c *Client) Recover(ctx context.Context) (Recovery, error) {
	if _, err := os.Lstat(c.Paths.Installed()); errors.Is(err, fs.ErrNotExist) {
		return Recovery{Changes: []state.HistoryChange{}}, nil // nothing was ever installed with this data home
	}
	lock, err := c.Lock(ctx)
	if err != nil {
		return Recovery{}, err
	}
	defer lock.Release()
	st, err := state.Open(ctx, c.Paths.Installed(), c.Config.Prefix)
	if err != nil {
		return Recovery{}, err
	}
	defer st.Close()
	// Also without a journal: recovery removes staging no journal
	// refers to and marks dead commands' history entries interrupted.
	return c.recover(ctx, st)
}

// recover finishes or undoes the transaction a crash left, removes staging
// directories no journal refers to, and marks dead commands' history
// entries interrupted. It runs with the lock held.
func (c *Client) recover(ctx context.Context, st *state.DB) (Recovery, error) {
	rec := Recovery{Changes: []state.HistoryChange{}}
	j, err := st.OpenJournal(ctx, c.bounds())
	if err != nil {
		return rec, err
	}
	// The entries of the commands killed mid-way, before they are marked
	// interrupted. A history that cannot be read costs the recovery
	// nothing but its report.
	running, _ := st.Running(ctx)
	if j != nil {
		if err := c.checkJournal(ctx, st, *j); err != nil {
			return rec, fmt.Errorf("recover an interrupted transaction: %w (nothing was touched)", err)
		}
		if j.Committed {
			// Its changes are in; a leftover that cannot go does not hold
			// up every later command.
			rec.Result = RecoveryFinished
			if err := place.Finish(*j); err != nil {
				c.UI.Warnf("cleaning up after an interrupted dist-client (its changes were committed): %v (remove what is left by hand)\n", err)
				rec.leftover = true
			}
			// The commit updated the command's entry, and no command ran
			// since (each recovers first): it is the newest.
			if last, err := st.History(ctx, state.HistoryQuery{Last: 1}); err == nil && len(last) == 1 {
				rec.Command, rec.Changes = last[0].Command, last[0].Changes
				running = slices.DeleteFunc(running, func(h state.HistoryEntry) bool { return h.ID == last[0].ID })
			}
		} else {
			rec.Result = RecoveryRolledBack
			err = errors.Join(place.Undo(j.Ops), place.Discard(j.Work))
			// Its entry is the newest left running, with the changes
			// BeginJournal wrote into it.
			if n := len(running); n > 0 {
				rec.Command, rec.Changes = running[n-1].Command, running[n-1].Changes
				running = running[:n-1]
			}
		}
		if err != nil {
			return rec, fmt.Errorf("recover an interrupted transaction: %w (rerun to try again)", err)
		}
		if err := st.EndJournal(ctx); err != nil {
			return rec, err
		}
	}
	// Then what the change's scripts did outside the prefix, once the
	// prefix and the records are as before it: a restore journals moves
	// of its own.
	notes, err := st.Scripts(ctx)
	if err != nil {
		return rec, err
	}
	// A script that never started left nothing to undo: a change killed
	// before it is one interrupted before it changed anything.
	notes, groups := c.startedScripts(ctx, st, notes)
	if len(notes) > 0 {
		if rec.Result == "" {
			// Killed before it moved any file, in a script: its entry
			// is the newest left running.
			rec.Result = RecoveryRolledBack
			if n := len(running); n > 0 {
				rec.Command, rec.Changes = running[n-1].Command, running[n-1].Changes
				running = running[:n-1]
			}
		}
		rec.Scripts, err = c.recoverScripts(ctx, st, notes, groups)
		if err != nil {
			return rec, err
		}
	}
	for _, h := range running {
		rec.Interrupted = append(rec.Interrupted, h.Command)
	}
	// The data home's staging is this state's alone; the prefix's may be
	// shared with another data home that installs there, whose work
	// directories (holding, during an upgrade, the old files set aside)
	// are not this one's to discard.
	// Nor is a prefix another user can change this user's to delete in: a
	// command that does not place files there (mark, hold) runs with such
	// a prefix (clientcli warns of it), and leaves its leftovers to the
	// next one that does.
	// The prefix's staging too: one another user made or can write
	// (under a safe prefix) was cleaned by mark and hold (an attacker's
	// run; RemoveAll follows no link, but the rule is the same).
	rec.Removed = discardWork(c.Paths.Staging(), "txn-")
	if CheckPrefix(safedir.New(), c.Config.Prefix) == nil {
		rec.Removed = append(rec.Removed, discardWork(filepath.Join(c.Config.Prefix, state.StagingDirName), c.txnPrefix())...)
	}
	return rec, st.MarkInterrupted(ctx)
}

// discardWork removes the work directories in root whose names start with
// prefix, and returns those it removed.
func discardWork(root, prefix string) []string {
	var removed []string
	ents, _ := os.ReadDir(root)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), prefix) {
			p := filepath.Join(root, e.Name())
			if place.Discard(p) == nil {
				removed = append(removed, p)
			}
		}
	}
	return removed
}
