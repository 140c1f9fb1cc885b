// Package stall ends a context when a transfer's progress stops moving:
// an install's downloads (dist-client) and a mirror's archive downloads
// (dist-server mirror) both give up after a while without a byte, whatever
// kept the transfer itself waiting (peers that keep their connections open
// and send nothing, a web seed that stalls).
package stall

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Watch is a context that ends, with its reason as the cause, once
// Progress has not moved for a given time.
type Watch struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	reason error
	after  time.Duration
	timer  *time.Timer
	mu     sync.Mutex
	last   int64 // guarded by mu
}

// New watches a transfer under parent that may go after without progress;
// reason is the cause it ends with then.
func New(parent context.Context, after time.Duration, reason error) *Watch {
	ctx, cancel := context.WithCancelCause(parent)
	w := &Watch{ctx: ctx, cancel: cancel, reason: reason, after: after, last: -1}
	w.timer = time.AfterFunc(after, func() { cancel(reason) })
	return w
}

// Context is the watched context.
func (w *Watch) Context() context.Context { return w.ctx }

// Progress records the bytes done so far; a change pushes the limit back.
func (w *Watch) Progress(done int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if done != w.last {
		w.last = done
		w.timer.Reset(w.after)
	}
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
