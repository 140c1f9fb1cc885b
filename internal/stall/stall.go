// Package stall ends a context when a transfer's progress stops moving:
// an install's downloads (dist-client) and a mirror's archive downloads
// (dist-server mirror) both give up after a while without a byte, whatever
// kept the transfer itself waiting (peers that keep their connections open
// and send nothing, a web seed that stalls). An install also gives up on
// one that moves too little (Floor): a web seed that drips a byte a second
// held it for its whole timeout, and would for good had each byte counted.
package stall

import (
	"context"
	"errors"
	"sync"
	"time"
)

// MinRate is the least rate, in bytes a second over a watch's time, that
// counts as progress for the downloads of an install and of a mirror (a
// watch with a Floor of MinRate × its time). Counted per byte with no
// floor, a web seed that drips a byte a second (an attacker's run) would
// hold a download for good: the engine's own rate floor for web seeds
// (4 KiB/s) spares the last seed of a round, so that a slow link still
// finishes. 1 KiB/s is a quarter of that floor and a sixth of what counts
// as a peer sending (6.4 KiB/s); a dial-up line's 5 KiB/s beats it; at
// 1 KiB/s a 4 MiB archive takes over an hour. The drip sends 120 B in
// 2 minutes, a thousandth of it.
const MinRate = 1 << 10

// Watch is a context that ends, with its reason as the cause, once
// Progress has not moved by its floor for a given time.
type Watch struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	reason error
	after  time.Duration
	timer  *time.Timer
	mu     sync.Mutex
	last   int64 // the count when the limit was last pushed back (or seen lower since); guarded by mu
	floor  int64 // guarded by mu
}

// New watches a transfer under parent that may go after without progress;
// reason is the cause it ends with then.
func New(parent context.Context, after time.Duration, reason error) *Watch {
	ctx, cancel := context.WithCancelCause(parent)
	w := &Watch{ctx: ctx, cancel: cancel, reason: reason, after: after, last: -1}
	w.timer = time.AfterFunc(after, func() { cancel(reason) })
	return w
}

// Floor makes progress the count growing by at least n since the limit
// was last pushed back (or since it was last seen lower: a count that
// goes down starts again from there); without it any change is progress.
func (w *Watch) Floor(n int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.floor = n
}

// Context is the watched context.
func (w *Watch) Context() context.Context { return w.ctx }

// Progress records the count done so far (bytes); progress pushes the
// limit back, and Progress then reports true.
func (w *Watch) Progress(done int64) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.floor <= 0:
		if done == w.last {
			return false
		}
	case w.last < 0 || done < w.last:
		w.last = done // the base the floor counts from: the first count, or a lower one
		return false
	case done-w.last < w.floor:
		return false
	}
	w.last = done
	w.timer.Reset(w.after)
	return true
}

// Explain gives the reason for an error the stall caused, and err
// otherwise.
func (w *Watch) Explain(err error) error {
	if errors.Is(context.Cause(w.ctx), w.reason) {
		return w.reason
	}
	return err
}

// Stop releases the timer and the context.
func (w *Watch) Stop() {
	w.timer.Stop()
	w.cancel(nil)
}
