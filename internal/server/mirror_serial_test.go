package server

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/catalogserver"
	"github.com/distpac/distpac/internal/config"
	"github.com/distpac/distpac/internal/nettest"
	"github.com/distpac/distpac/internal/paths"
	"github.com/distpac/distpac/internal/publish"
	"github.com/distpac/distpac/internal/signing"
)

// A primary that goes back (an older serial: restored from a backup, or
// a second primary that is a mirror not caught up) or forks (the serial
// held, other bytes). The fork is a failed sync, whose error names the
// primary: it said "catalog serial 2 is the one held but its bytes
// differ" and not where from. The primary gone back is behind, not
// failed: the mirror serves the catalog it holds on and says, once, that
// the primary is behind, and when it has caught up; its status and
// metrics say behind, not failing. Before, every round logged "sync from
// the primary failed … refusing a rollback", and status and
// distpac_mirror_sync_failing said the sync failed.
func TestMirrorPrimaryGoesBack(t *testing.T) {
	ctx := context.Background()
	_, home, pub := newPrimary(ctx, t, writePackage(t, "alpha", 20<<10))
	key, err := signing.Load(home.SigningKey())
	if err != nil {
		t.Fatal(err)
	}
	pair := func(p paths.Server) (db, sig []byte) {
		t.Helper()
		if db, err = os.ReadFile(filepath.Join(p.PublicDir(), publish.DBFile)); err != nil {
			t.Fatal(err)
		}
		if sig, err = os.ReadFile(filepath.Join(p.PublicDir(), publish.SigFile)); err != nil {
			t.Fatal(err)
		}
		return db, sig
	}
	// A fork: the publisher's home at its first serial copied, and another
	// package added to each copy, both then at the same second serial
	// under the same key.
	forkHome := paths.Home{Root: t.TempDir()}.Server()
	if err := os.CopyFS(forkHome.Dir, os.DirFS(home.Dir)); err != nil {
		t.Fatal(err)
	}
	// CopyFS makes files 0666 less the umask: the key must be the
	// owner's alone again, or publishing refuses it.
	if err := os.Chmod(forkHome.SigningKey(), 0o600); err != nil {
		t.Fatal(err)
	}
	db1, sig1 := pair(home)
	if _, err := pub.Add(ctx, []string{writePackage(t, "beta", 20<<10)}); err != nil {
		t.Fatal(err)
	}
	db2, sig2 := pair(home)
	fork := &publish.Publisher{Paths: forkHome, Config: pub.Config}
	if _, err := fork.Add(ctx, []string{writePackage(t, "gamma", 20<<10)}); err != nil {
		t.Fatal(err)
	}
	s1, err := publishedMetaOf(t, db1)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := publishedMetaOf(t, db2)
	if err != nil {
		t.Fatal(err)
	}
	// Serials are the time's: an add a second later took a later one, so
	// the fork's is set to the other's, as a second home at the same
	// clock would have it.
	forkSerial(ctx, t, forkHome, key, s2)
	fdb2, fsig2 := pair(forkHome)

	tests := []struct {
		name    string
		db, sig []byte
		serial  int64
		want    string // the sync's error; "" for a primary behind
		// down: another primary, listed first, refuses connections: a
		// failed sync beside the primary behind.
		down bool
	}{
		{"rollback", db1, sig1, s1, "", false},
		{"rollback, another primary down", db1, sig1, s1, "", true},
		{"same serial, other bytes", fdb2, fsig2, s2, fmt.Sprintf("catalog serial %d is the one held but its bytes differ", s2), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs := catalogserver.New(catalogserver.Options{ArchivesDir: t.TempDir()})
			cs.SetKey(key.Public())
			cs.SetSnapshot(db2, sig2, s2, nil)
			primary := httptest.NewServer(cs.Handler())
			defer primary.Close()

			primaries, refused := []string{primary.URL}, ""
			if tt.down {
				refused = "http://" + nettest.Refused(t)
				primaries = []string{refused, primary.URL}
			}
			mp := paths.Home{Root: t.TempDir()}.Server()
			rec := &logRecorder{}
			m := &mirror{
				opts:   MirrorOptions{Paths: mp, Config: &config.Server{}, Primary: primaries, Key: key.Public()},
				log:    slog.New(rec),
				catsrv: catalogserver.New(catalogserver.Options{ArchivesDir: mp.MirrorArchives()}),
			}
			if err := m.round(ctx); err != nil || m.serial != s2 {
				t.Fatalf("first round: %v, serving serial %d; want %d", err, m.serial, s2)
			}
			synced := m.sync.ok
			cs.SetSnapshot(tt.db, tt.sig, tt.serial, nil)
			from := rec.len()
			for range 3 {
				if err := m.round(ctx); err != nil {
					t.Fatalf("a round after the primary changed: %v; want the catalog held served on", err)
				}
			}
			m.mu.Lock()
			serial, got, failed, behind, since := m.serial, m.sync.err, m.sync.failed, m.sync.behind, m.sync.behindSince
			m.mu.Unlock()
			warned := rec.lines(from, slog.LevelWarn)
			if tt.want != "" {
				if serial != s2 || !strings.Contains(got, tt.want) || !strings.Contains(got, primary.URL+"/packages.db") || failed.IsZero() || len(behind) != 0 {
					t.Errorf("serving %d, sync error %q, behind %v; want %d, and an error saying %q and naming %s", serial, got, behind, s2, tt.want, primary.URL)
				}
				return
			}
			if len(behind) != 1 || behind[0].URL != primary.URL || behind[0].Serial != s1 || behind[0].Stale || since.IsZero() || !m.sync.ok.Equal(synced) {
				t.Errorf("behind %+v since %v, synced %v; want %s at serial %d since the first round it was, synced at %v still", behind, since, m.sync.ok, primary.URL, s1, synced)
			}
			want := "WARN the primary serves a catalog older than the one held: it is behind (restored from an older backup, or a mirror that has not caught up; a primary restored while its clock is behind publishes past the serial held with dist-server republish --past HELD); serving the catalog held primary=" +
				primary.URL + fmt.Sprintf(" serial=%d held=%d", s1, s2)
			if tt.down {
				// Failed: the primary that is down, not the one behind.
				if serial != s2 || !strings.Contains(got, refused) || !strings.Contains(got, "connection refused") || strings.Contains(got, "rollback") || failed.IsZero() || m.behindGauge() != 1 {
					t.Errorf("serving %d, sync failed at %v: %q, behind gauge %v; want serial %d served, %s failed, behind 1", serial, failed, got, m.behindGauge(), s2, refused)
				}
				// The one down was said in the first round, when it
				// first failed (primaryFailures), not again each round.
				failedLines := slices.DeleteFunc(slices.Clone(warned), func(l string) bool { return !strings.HasPrefix(l, "WARN sync from the primary failed ") })
				firstLines := slices.DeleteFunc(rec.lines(0, slog.LevelWarn), func(l string) bool {
					return !strings.HasPrefix(l, "WARN sync from the primary failed primary="+refused+" ")
				})
				if n := len(slices.DeleteFunc(warned, func(l string) bool { return l != want })); n != 1 || len(failedLines) != 0 || len(firstLines) != 1 {
					t.Errorf("three rounds with one primary behind, one down, logged at warning level:\n%s\nwant the one behind once, and the one down not again after the first round's:\n%s", strings.Join(rec.lines(0, slog.LevelWarn), "\n"), want)
				}
				return
			}
			if serial != s2 || got != "" || !failed.IsZero() || m.behindGauge() != 1 {
				t.Errorf("serving %d, sync failed at %v: %q, behind gauge %v; want serial %d served, no failure, behind 1", serial, failed, got, m.behindGauge(), s2)
			}
			if len(warned) != 1 || warned[0] != want {
				t.Errorf("three rounds with the primary behind logged at warning level:\n%s\nwant once:\n%s", strings.Join(warned, "\n"), want)
			}
			if t.Failed() {
				return
			}

			// The primary catches up: said once, and the status is clear.
			cs.SetSnapshot(db2, sig2, s2, nil)
			from = rec.len()
			if err := m.round(ctx); err != nil {
				t.Fatal(err)
			}
			if m.sync.ok.Equal(synced) || len(m.sync.behind) != 0 || !m.sync.behindSince.IsZero() || m.behindGauge() != 0 {
				t.Errorf("after the primary caught up: synced %v (was %v), behind %+v since %v", m.sync.ok, synced, m.sync.behind, m.sync.behindSince)
			}
			if n := rec.count("the primary has caught up with the catalog held"); n != 1 || len(rec.lines(from, slog.LevelWarn)) != 0 {
				t.Errorf("the primary caught up: %d lines saying so; want 1, and no warning:\n%s", n, strings.Join(rec.lines(from, slog.LevelInfo), "\n"))
			}
		})
	}
}

// forkSerial sets the serial of the catalog of home to serial, by hand,
// and publishes it signed with key.
func forkSerial(ctx context.Context, t *testing.T, home paths.Server, key *signing.Key, serial int64) {
	t.Helper()
	sdb, err := sql.Open("sqlite", home.Catalog())
	if err != nil {
		t.Fatal(err)
	}
	_, err = sdb.Exec(`UPDATE meta SET serial = ?`, serial)
	if cerr := sdb.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	db, err := catalog.Open(ctx, home.Catalog())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := publish.Publish(ctx, db, key, home.PublicDir()); err != nil {
		t.Fatal(err)
	}
}
