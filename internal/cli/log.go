package cli

import (
	"context"
	"io"
	"log/slog"
	"runtime"
	"strings"
)

// libraryPrefix is where the BitTorrent library's code lives. Its debug
// records are piece-picker state: a 61 MiB install at -v printed 4,884
// lines of "requestStrategyPieceOrderState" and nothing of distpac's own
// (measured 2026-11-30), so they wait for -vv.
const libraryPrefix = "github.com/anacrolix/"

// newLogger is the one logger a command gets. verbosity is the number of -v:
// 0 shows errors, 1 distpac's debug records and the library's Info and up
// (its few Info records say something: "piece failed hash. banning peer"),
// 2 the library's debug records too. level, when lower than what verbosity
// gives, lowers the floor for distpac's records (a foreground server logs
// at Info without -v); the library's debug records still wait for -vv.
func newLogger(w io.Writer, verbosity int, quiet bool, level slog.Level) (*slog.Logger, slog.Level) {
	switch {
	case quiet:
		level = slog.LevelError
	case verbosity > 0:
		level = min(level, slog.LevelDebug)
	}
	var h slog.Handler = slog.NewTextHandler(w, &slog.HandlerOptions{Level: level})
	if verbosity < 2 {
		h = &sourceFilter{next: h, prefix: libraryPrefix, min: max(level, slog.LevelInfo)}
	}
	return slog.New(h), level
}

// sourceFilter drops records logged by code under prefix (by the function
// that made the record) below min. It filters by where a record comes from,
// not by what it says, so no library message slips through under a new
// name, and distpac's records keep their own level.
type sourceFilter struct {
	next   slog.Handler
	prefix string
	min    slog.Level
}

func (f *sourceFilter) Enabled(ctx context.Context, l slog.Level) bool {
	return f.next.Enabled(ctx, l)
}

func (f *sourceFilter) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < f.min && fromPackage(r.PC, f.prefix) {
		return nil
	}
	return f.next.Handle(ctx, r)
}

func (f *sourceFilter) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &sourceFilter{next: f.next.WithAttrs(attrs), prefix: f.prefix, min: f.min}
}

func (f *sourceFilter) WithGroup(name string) slog.Handler {
	return &sourceFilter{next: f.next.WithGroup(name), prefix: f.prefix, min: f.min}
}

// fromPackage tells whether the function at pc (a record's caller) is under
// prefix. A record without a pc is distpac's: the library's slog and
// log-adapter records always carry one.
func fromPackage(pc uintptr, prefix string) bool {
	if pc == 0 {
		return false
	}
	frame, _ := runtime.CallersFrames([]uintptr{pc}).Next()
	return strings.HasPrefix(frame.Function, prefix)
}
