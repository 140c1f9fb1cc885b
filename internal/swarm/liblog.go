package swarm

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"unicode/utf8"

	"golang.org/x/time/rate"
)

// The BitTorrent library logs what peers send it: an extended handshake it
// cannot parse went into the log whole, escaped, one line each. A peer
// that sent 100 handshakes of 256 KiB of junk grew dist-server's log by
// 131 MB in 4.8 s (and a daemon's by as much in 3.4 s), five log bytes for
// each byte it sent, on the public peer port. The library's records
// therefore pass through libraryHandler: each text cut to a few hundred
// bytes, and at most libraryLogRate records a second after a burst, with
// a count of those dropped in the next one let through. Debug records
// (logged only with -v, which asks for them all) are cut but not counted:
// counted, the library's debug chatter of a -v install used up the burst
// and crowded out its "banning peer" line. distpac's own records do not go
// through it.
const (
	// libraryLogMessage and libraryLogValue bound a record's message and
	// each of its values, in bytes.
	libraryLogMessage = 512
	libraryLogValue   = 256
	// libraryLogRate and libraryLogBurst bound the library's records a
	// second: a burst of a hundred at once, ten a second after that. At
	// the bounds above, a peer that keeps them busy adds at most ~8 KB/s
	// to the log.
	libraryLogRate  = 10
	libraryLogBurst = 100
)

// libraryHandler bounds the records of the library that reach next.
type libraryHandler struct {
	next  slog.Handler
	state *libraryLogState // shared with the handlers WithAttrs and WithGroup derive
}

type libraryLogState struct {
	limit   *rate.Limiter
	dropped atomic.Int64 // records dropped since the last one let through
}

func newLibraryHandler(next slog.Handler) *libraryHandler {
	return &libraryHandler{next: next, state: &libraryLogState{limit: rate.NewLimiter(libraryLogRate, libraryLogBurst)}}
}

func (h *libraryHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l)
}

func (h *libraryHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level > slog.LevelDebug && strings.Contains(r.Message, "writing received chunk") {
		// distpac reports a chunk that could not be written (the download
		// fails with the OS's error, naming the file: transferState.fail);
		// the library's own line, at error level, came before it on a full
		// disk, once per chunk, naming a connection's address in memory.
		if !h.next.Enabled(ctx, slog.LevelDebug) {
			return nil
		}
		r.Level = slog.LevelDebug
	}
	if r.Level > slog.LevelDebug && !h.state.limit.Allow() {
		h.state.dropped.Add(1)
		return nil
	}
	out := slog.NewRecord(r.Time, r.Level, clipText(r.Message, libraryLogMessage), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(clipAttr(a))
		return true
	})
	if r.Level > slog.LevelDebug {
		if n := h.state.dropped.Swap(0); n > 0 {
			out.AddAttrs(slog.Int64("library_records_dropped", n))
		}
	}
	return h.next.Handle(ctx, out)
}

func (h *libraryHandler) WithAttrs(as []slog.Attr) slog.Handler {
	clipped := make([]slog.Attr, len(as))
	for i, a := range as {
		clipped[i] = clipAttr(a)
	}
	return &libraryHandler{next: h.next.WithAttrs(clipped), state: h.state}
}

func (h *libraryHandler) WithGroup(name string) slog.Handler {
	return &libraryHandler{next: h.next.WithGroup(clipText(name, libraryLogValue)), state: h.state}
}

// clipAttr bounds an attribute's key and value: a string as it is, any
// other value (an error, a byte slice, a peer's address) as its text.
func clipAttr(a slog.Attr) slog.Attr {
	a.Key = clipText(a.Key, libraryLogValue)
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindGroup:
		g := v.Group()
		out := make([]slog.Attr, len(g))
		for i, ga := range g {
			out[i] = clipAttr(ga)
		}
		a.Value = slog.GroupValue(out...)
	case slog.KindString:
		a.Value = slog.StringValue(clipText(v.String(), libraryLogValue))
	case slog.KindAny:
		a.Value = slog.StringValue(clipText(fmt.Sprint(v.Any()), libraryLogValue))
	default: // numbers, times, durations, bools: bounded already
		a.Value = v
	}
	return a
}

// clipText cuts s to at most max bytes, on a rune boundary, saying how
// long it was.
func clipText(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s… (%d bytes)", s[:cut], len(s))
}
