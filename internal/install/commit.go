package install

import (
	"context"
	"errors"
	"time"

	"github.com/distpac/distpac/internal/place"
	"github.com/distpac/distpac/internal/state"
)

// commitMoves journals j, applies it, commits change, then finishes the
// journal. Until the commit every failure leaves the prefix as it was.
func (c *Client) commitMoves(ctx context.Context, tx *txn, j state.Journal, prefixes []string, change state.Change) error {
	// The moves and the commit run to their end even if ctx is cancelled
	// on the way: a half-done step is worse than a finished one.
	ctx = context.WithoutCancel(ctx)
	start := time.Now()
	if err := c.step("journal"); err != nil {
		return err
	}
	j.History, j.Changes = change.History.ID, change.History.Changes // what a recovery names
	if err := tx.st.BeginJournal(ctx, j, c.bounds(prefixes...)); err != nil {
		return err
	}
	if err := place.Apply(j, prefixes, func(int) error { return c.step("move") }); err != nil {
		return errors.Join(err, tx.st.EndJournal(ctx))
	}
	if err := c.step("commit"); err != nil {
		return errors.Join(err, place.Undo(j.Ops), tx.st.EndJournal(ctx))
	}
	if err := tx.st.Commit(ctx, change); err != nil {
		// The journal stays if this fails too; the next command undoes it.
		return errors.Join(err, place.Undo(j.Ops), tx.st.EndJournal(ctx))
	}
	c.logger().Debug("placed and committed", "moves", len(j.Ops), "prefixes", prefixes, "took", time.Since(start).Round(time.Millisecond))
	if err := c.step("finish"); err != nil {
		return nil // committed; the next command finishes the cleanup
	}
	err := c.step("cleanup")
	if err == nil {
		err = place.Finish(j)
	}
	if err != nil {
		// Committed: what is left is files set aside, not the state. The
		// journal ends all the same, or every later transaction, the next
		// removal of this very command among them, would be refused while
		// it is open.
		c.UI.Warnf("cleaning up after the transaction: %v (remove what is left by hand)\n", err)
	}
	if err := tx.st.EndJournal(ctx); err != nil {
		c.UI.Warnf("%v (the next dist-client command finishes it)\n", err)
	}
	return nil
}
