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
	"github.com/distpac/distpac/internal/paths"
	"github.com/distpac/distpac/internal/publish"
	"github.com/distpac/distpac/internal/signing"
)

// TestKeyRefusalLoggedOnce: a mirror whose primary changed its key
// without a rotation statement logged a 450-byte warning every sync (a
// minute); it is logged in full once per refusal, then reminded of at
// most every keyReminderEvery.
func TestKeyRefusalLoggedOnce(t *testing.T) {
	refusedA := errors.New("sync: verify http://primary/packages.db with key A: bad catalog signature (set --key ...)")
	refusedB := errors.New("sync: the catalog is not signed by the pinned key A, and no key rotation statement at http://primary/packages.db.rotation is signed by it")
	type sync struct {
		at  time.Duration // since the first
		err error         // nil: a sync that succeeded
	}
	var everyMinute []sync
	for i := range 3 * 60 {
		everyMinute = append(everyMinute, sync{time.Duration(i) * time.Minute, refusedA})
	}
	// A mirror of two primaries: each sync's error says how long each
	// took, which is not part of the refusal.
	var twoPrimaries []sync
	for i := range 3 * 60 {
		twoPrimaries = append(twoPrimaries, sync{time.Duration(i) * time.Minute, catalogclient.ServersError{
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
		{"two primaries, three hours", twoPrimaries, []string{full, remind, remind}},
		{"another refusal is logged in full", []sync{{0, refusedA}, {time.Minute, refusedB}, {2 * time.Minute, refusedB}, {3 * time.Minute, refusedA}},
			[]string{full, full, full}},
		{"after a sync that worked, in full again", []sync{{0, refusedA}, {time.Minute, nil}, {2 * time.Minute, refusedA}},
			[]string{full, full}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			log := slog.New(slog.NewTextHandler(&buf, nil))
			var k keyRefusals
			start := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
			for _, s := range tt.syncs {
				if s.err == nil {
					k.forget()
					continue
				}
				k.note(log, start.Add(s.at), s.err)
			}
			var got []string
			for line := range strings.Lines(buf.String()) {
				switch {
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
	_, home, pub := newPrimary(ctx, t, writePackage(t, "alpha", 20<<10))
	cs, key := servedCatalog(t, home)
	other, err := signing.LoadOrCreate(filepath.Join(t.TempDir(), "other.key"))
	if err != nil {
		t.Fatal(err)
	}
	primary := httptest.NewServer(cs.Handler())
	defer primary.Close()
	var mu gosync.Mutex
	var buf bytes.Buffer
	mp := paths.Home{Root: t.TempDir()}.Server()
	m := &mirror{
		opts:   MirrorOptions{Paths: mp, Config: &config.Server{}, Primary: []string{primary.URL}, Key: key.Public()},
		log:    slog.New(slog.NewTextHandler(lockedBuffer{&mu, &buf}, nil)),
		catsrv: catalogserver.New(catalogserver.Options{ArchivesDir: mp.MirrorArchives()}),
	}
	if err := m.round(ctx); err != nil {
		t.Fatalf("first round: %v", err)
	}
	// The primary publishes again, under its new key.
	if _, err := pub.Add(ctx, []string{writePackage(t, "beta", 20<<10)}); err != nil {
		t.Fatal(err)
	}
	db, err := os.ReadFile(filepath.Join(home.PublicDir(), publish.DBFile))
	if err != nil {
		t.Fatal(err)
	}
	cs.SetKey(other.Public())
	cs.SetSnapshot(db, other.Sign(db), 2, nil)
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

type lockedBuffer struct {
	mu *gosync.Mutex
	b  *bytes.Buffer
}

func (l lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
