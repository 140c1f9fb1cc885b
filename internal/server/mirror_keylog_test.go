package server

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/catalogclient"
	"github.com/distpac/distpac/internal/catalogserver"
	"github.com/distpac/distpac/internal/config"
	"github.com/distpac/distpac/internal/nettest"
	"github.com/distpac/distpac/internal/paths"
	"github.com/distpac/distpac/internal/publish"
	"github.com/distpac/distpac/internal/redact"
	"github.com/distpac/distpac/internal/signing"
)

// TestKeyRefusalLoggedOnce: a mirror whose primary changed its key
// without a rotation statement logged a 450-byte warning every sync (a
// minute); it is logged in full once per refusal, then reminded of at
// most every keyReminderEvery.
func TestKeyRefusalLoggedOnce(t *testing.T) {
	refusedA := errors.New("sync: verify http://primary/packages.db with key A: bad catalog signature (set --key ...)")
	refusedB := errors.New("sync: the catalog is not signed by the pinned key A, and no key rotation statement at http://primary/packages.db.rotation is signed by it")
	one := func(err error) []catalogclient.ServerError {
		return []catalogclient.ServerError{{URL: "http://primary", Err: err}}
	}
	type sync struct {
		at      time.Duration               // since the first
		refused []catalogclient.ServerError // nil: a sync that succeeded
	}
	var everyMinute []sync
	for i := range 3 * 60 {
		everyMinute = append(everyMinute, sync{time.Duration(i) * time.Minute, one(refusedA)})
	}
	// A mirror of two primaries: each sync's error says how long each
	// took, which is not part of the refusal. Each primary is named on
	// a line of its own.
	var twoPrimaries []sync
	for i := range 3 * 60 {
		twoPrimaries = append(twoPrimaries, sync{time.Duration(i) * time.Minute, []catalogclient.ServerError{
			{URL: "http://primary", Took: time.Duration(10+i%7) * time.Millisecond, Err: refusedA},
			{URL: "http://primary2", Took: time.Duration(1+i%5) * time.Millisecond, Err: refusedA},
		}})
	}
	const full, remind = "full", "reminder"
	for _, tt := range []struct {
		name  string
		syncs []sync
		want  []string
	}{
		{"three hours of syncs a minute apart", everyMinute, []string{full, remind, remind}},
		{"two primaries, three hours", twoPrimaries, []string{full, full, remind, remind, remind, remind}},
		{"another refusal is logged in full", []sync{{0, one(refusedA)}, {time.Minute, one(refusedB)}, {2 * time.Minute, one(refusedB)}, {3 * time.Minute, one(refusedA)}},
			[]string{full, full, full}},
		{"after a sync that worked, in full again", []sync{{0, one(refusedA)}, {time.Minute, nil}, {2 * time.Minute, one(refusedA)}},
			[]string{full, full}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			log := slog.New(slog.NewTextHandler(&buf, nil))
			var k keyRefusals
			start := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
			for _, s := range tt.syncs {
				if s.refused == nil {
					k.forget()
					continue
				}
				k.note(log, start.Add(s.at), s.refused)
			}
			var got []string
			for line := range strings.Lines(buf.String()) {
				switch {
				case !strings.Contains(line, " primary=http://primary"):
					t.Errorf("a line that names no primary: %s", line)
				case strings.Contains(line, "bad catalog signature") || strings.Contains(line, "rotation statement"):
					got = append(got, full)
				case strings.Contains(line, "still refusing"):
					got = append(got, remind)
					if len(line) > 200 {
						t.Errorf("a reminder of %d bytes: %s", len(line), line)
					}
				default:
					t.Errorf("unexpected line %q", line)
				}
			}
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Errorf("logged %q, want %q:\n%s", got, tt.want, buf.String())
			}
		})
	}
}

// TestMirrorKeyChangeLoggedOnce: a mirror's rounds against a primary that
// signs with a new key and publishes no rotation statement log the
// refusal in full once, not once a round.
func TestMirrorKeyChangeLoggedOnce(t *testing.T) {
	ctx := context.Background()
	var mu gosync.Mutex
	var buf bytes.Buffer
	m, changeKey := mirrorOfKeyChanging(ctx, t, slog.New(slog.NewTextHandler(lockedBuffer{&mu, &buf}, nil)))
	changeKey()
	for range 5 {
		if err := m.round(ctx); err != nil {
			t.Fatalf("a round after the key changed: %v; want the catalog held served on", err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if n := strings.Count(buf.String(), "sync from the primary failed"); n != 1 {
		t.Errorf("%d lines \"sync from the primary failed\" in 5 rounds, want 1:\n%s", n, buf.String())
	}
}

// mirrorOfKeyChanging is a mirror, given the key with --key, of a primary
// and then of the primaries more (URLs), logging to log, that holds the
// primary's catalog after a first round; changeKey has the primary
// publish again under another key, with no rotation statement.
func mirrorOfKeyChanging(ctx context.Context, t *testing.T, log *slog.Logger, more ...string) (m *mirror, changeKey func()) {
	t.Helper()
	_, home, pub := newPrimary(ctx, t, writePackage(t, "alpha", 20<<10))
	cs, key := servedCatalog(t, home)
	other, err := signing.LoadOrCreate(filepath.Join(t.TempDir(), "other.key"))
	if err != nil {
		t.Fatal(err)
	}
	primary := httptest.NewServer(cs.Handler())
	t.Cleanup(primary.Close)
	mp := paths.Home{Root: t.TempDir()}.Server()
	m = &mirror{
		opts:   MirrorOptions{Paths: mp, Config: &config.Server{}, Primary: append([]string{primary.URL}, more...), Key: key.Public()},
		log:    log,
		catsrv: catalogserver.New(catalogserver.Options{ArchivesDir: mp.MirrorArchives()}),
	}
	if err := m.round(ctx); err != nil {
		t.Fatalf("first round: %v", err)
	}
	return m, func() {
		t.Helper()
		if _, err := pub.Add(ctx, []string{writePackage(t, "beta", 20<<10)}); err != nil {
			t.Fatal(err)
		}
		db, err := os.ReadFile(filepath.Join(home.PublicDir(), publish.DBFile))
		if err != nil {
			t.Fatal(err)
		}
		cs.SetKey(other.Public())
		cs.SetSnapshot(db, other.Sign(db), 2, nil)
	}
}

type lockedBuffer struct {
	mu *gosync.Mutex
	b  *bytes.Buffer
}

func (l lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// TestMirrorKeyRefusalNamesPrimary: a mirror refusing a primary's
// catalog for its key logged the refusal with no primary= attribute, so
// that a mirror of several primaries said which only inside the error's
// text, and a primary failing beside it (down) only there too, and never
// again on its own. Each refusing primary is named as primaryFailures
// names a failing one, and the one down beside it is logged as a primary
// down is; the reminder an hour later names the primary too.
func TestMirrorKeyRefusalNamesPrimary(t *testing.T) {
	ctx := context.Background()
	refused := "http://" + nettest.Refused(t)
	rec := &logRecorder{}
	m, changeKey := mirrorOfKeyChanging(ctx, t, slog.New(rec), refused)
	changeKey()
	from := rec.len()
	for range 3 {
		if err := m.round(ctx); err != nil {
			t.Fatalf("a round after the key changed: %v; want the catalog held served on", err)
		}
	}
	got := rec.lines(from, slog.LevelWarn)
	want := []struct{ primary, why string }{
		{redact.URL(m.opts.Primary[0]), "bad catalog signature"},
		{refused, "connection refused"},
	}
	if len(got) != len(want) {
		t.Fatalf("three rounds, one primary refused for its key and one down, logged:\n%s\nwant a warning for each, naming it with primary=", strings.Join(got, "\n"))
	}
	for i, w := range want {
		if !strings.Contains(got[i], "sync from the primary failed primary="+w.primary+" ") || !strings.Contains(got[i], w.why) {
			t.Errorf("warning %d: %s\nwant primary=%s and %q", i, got[i], w.primary, w.why)
		}
	}

	// The reminder names the primary too.
	var buf bytes.Buffer
	var k keyRefusals
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	refusal := []catalogclient.ServerError{{URL: "http://primary", Err: errors.New("verify: bad catalog signature")}}
	log := slog.New(slog.NewTextHandler(&buf, nil))
	k.note(log, now, refusal)
	k.note(log, now.Add(keyReminderEvery), refusal)
	if n := strings.Count(buf.String(), "primary=http://primary "); n != 2 {
		t.Errorf("the refusal and its reminder named the primary %d times, want 2:\n%s", n, buf.String())
	}
}
