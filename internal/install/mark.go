package install

import (
	"context"
	"fmt"

	"github.com/distpac/distpac/internal/state"
)

// Mark sets why installed packages are installed: explicitly (asked for by
// name; --cascade never takes them away) or as a dependency (pacman -D
// --asexplicit / --asdeps, apt-mark manual / auto).
func (c *Client) Mark(ctx context.Context, names []string, explicit bool) (err error) {
	how := "--dependency"
	if explicit {
		how = "--explicit"
	}
	return c.updateRecords(ctx, c.commandLine("mark", append([]string{how}, names...)...), names, func(r *state.Record) string {
		if r.Auto == !explicit {
			return fmt.Sprintf("%s is already installed %s", r.Name, reason(r.Auto))
		}
		r.Auto = !explicit
		return fmt.Sprintf("%s: now installed %s", r.Name, reason(r.Auto))
	})
}

// Hold keeps installed packages at their versions: upgrade leaves them and
// an install that would move them is refused, until Unhold (apt-mark hold;
// pacman's IgnorePkg).
func (c *Client) Hold(ctx context.Context, names []string, hold bool) (err error) {
	cmd := "unhold"
	if hold {
		cmd = "hold"
	}
	return c.updateRecords(ctx, c.commandLine(cmd, names...), names, func(r *state.Record) string {
		switch {
		case r.Held == hold && hold:
			return fmt.Sprintf("%s %s is already held", r.Name, r.Version)
		case r.Held == hold:
			return fmt.Sprintf("%s %s is not held", r.Name, r.Version)
		}
		r.Held = hold
		if hold {
			return fmt.Sprintf("%s held at %s: upgrade leaves it", r.Name, r.Version)
		}
		return fmt.Sprintf("%s %s no longer held", r.Name, r.Version)
	})
}

// updateRecords changes records of installed packages in one state
// transaction, saying what changed.
func (c *Client) updateRecords(ctx context.Context, cmd string, names []string, change func(*state.Record) string) (err error) {
	tx, err := c.begin(ctx, cmd, false)
	if err != nil {
		return err
	}
	defer func() { c.Last = tx.summary(err); tx.end(ctx, err) }()
	var marked []state.Record
	var changes []state.HistoryChange
	var lines []string
	for _, n := range names {
		r, ok := tx.recs.Get(n)
		if !ok {
			// Nothing is saved: the changes to the names before it are
			// not the command's (its --json listed them, and its
			// history entry kept them as a failed command's).
			return fmt.Errorf("%s: %w", n, state.ErrNotInstalled)
		}
		before := r
		lines = append(lines, change(&r))
		if r.Auto != before.Auto || r.Held != before.Held {
			marked = append(marked, r)
			changes = append(changes, markChange(before, r))
		}
	}
	if len(marked) > 0 {
		tx.act()
		tx.changes = changes // for the history entry the commit ends
		if err := tx.st.Commit(ctx, state.Change{Mark: marked, History: tx.historyEnd(state.ResultOK)}); err != nil {
			tx.changes = nil
			return err
		}
	}
	for _, l := range lines {
		c.UI.Printf("%s\n", l)
	}
	return nil
}

// markChange is the history's and --json's record of what a mark, hold
// or unhold changed of r (one of the two).
func markChange(before, after state.Record) state.HistoryChange {
	ch := state.HistoryChange{Name: after.Name, Version: after.Version}
	switch {
	case after.Held != before.Held && after.Held:
		ch.Mark = state.MarkHeld
	case after.Held != before.Held:
		ch.Mark = state.MarkUnheld
	case after.Auto:
		ch.Mark = state.MarkDependency
	default:
		ch.Mark = state.MarkExplicit
	}
	return ch
}

// explicitChanges is the history's and --json's record of the
// dependencies an install named and so made explicit, after what it
// placed (puts): an install that only marked one said "-" in history, and
// one that placed packages too said nothing of the mark. A marked package
// the install also moves is named at its new version.
func explicitChanges(marked []state.Record, puts []state.Package) []state.HistoryChange {
	var out []state.HistoryChange
	for _, m := range marked {
		v := m.Version
		for _, p := range puts {
			if p.Name == m.Name {
				v = p.Version
			}
		}
		out = append(out, state.HistoryChange{Name: m.Name, Version: v, Mark: state.MarkExplicit})
	}
	return out
}

func reason(auto bool) string {
	if auto {
		return "as a dependency"
	}
	return "explicitly"
}
