package server

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/distpac/distpac/internal/catalogserver"
	"github.com/distpac/distpac/internal/config"
	"github.com/distpac/distpac/internal/paths"
)

// logRecorder is a slog.Handler that keeps every record, safe for the
// mirror's goroutines.
type logRecorder struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logRecorder) WithGroup(string) slog.Handler            { return l }
func (l *logRecorder) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.recs)
}

// count is how many records have message msg.
func (l *logRecorder) count(msg string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, r := range l.recs {
		if r.Message == msg {
			n++
		}
	}
	return n
}

func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recs = append(l.recs, r.Clone())
	return nil
}

// lines is each record from the from-th on at level or above, as
// "LEVEL message key=value...".
func (l *logRecorder) lines(from int, level slog.Level) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, r := range l.recs[min(from, len(l.recs)):] {
		if r.Level < level {
			continue
		}
		var b strings.Builder
		b.WriteString(r.Level.String() + " " + r.Message)
		r.Attrs(func(a slog.Attr) bool {
			b.WriteString(" " + a.String())
			return true
		})
		out = append(out, b.String())
	}
	return out
}

// A mirror stopped mid-round (SIGTERM between or during syncs) logged
// "current catalog is unusable; syncing a fresh one ... context canceled"
// and "sync from the primary failed ... context canceled": neither is
// true, and an operator reading them looked for a damaged catalog.
func TestMirrorRoundCancelledIsQuiet(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg, primary, _ := newPrimary(ctx, t, writePackage(t, "alpha", 20<<10))
	done := make(chan error, 1)
	var servers sync.WaitGroup
	defer servers.Wait()
	defer cancel()
	pinfo := runPrimary(ctx, t, &servers, done, Options{Paths: primary, Config: cfg, NoSeeder: true})

	mp := paths.Home{Root: t.TempDir()}.Server()
	rec := &logRecorder{}
	m := &mirror{
		opts:   MirrorOptions{Paths: mp, Config: &config.Server{}, Primary: []string{pinfo.Database}},
		log:    slog.New(rec),
		catsrv: catalogserver.New(catalogserver.Options{ArchivesDir: mp.MirrorArchives()}),
	}
	if err := m.round(ctx); err != nil { // holds and serves the primary's catalog
		t.Fatal(err)
	}
	if m.serial == 0 {
		t.Fatal("the first round serves no catalog")
	}
	before := rec.len()
	stopped, stop := context.WithCancel(ctx)
	stop()
	m.round(stopped) // a round the stop lands in: RunMirror ignores its error then
	if bad := rec.lines(before, slog.LevelWarn); len(bad) > 0 {
		t.Errorf("a round cancelled by the mirror's stop logged:\n%s", strings.Join(bad, "\n"))
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("primary: %v", err)
	}
}
