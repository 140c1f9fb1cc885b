package server

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distpac/distpac/internal/catalogserver"
	"github.com/distpac/distpac/internal/config"
	"github.com/distpac/distpac/internal/paths"
	"github.com/distpac/distpac/internal/publish"
	"github.com/distpac/distpac/internal/signing"
)

// A mirror's errors for a primary that goes back (an older serial) or
// forks (the serial it holds, other bytes) name the primary: they said
// "catalog serial 1 is older than the one held (2)" and not where from.
func TestMirrorSerialErrorsNamePrimary(t *testing.T) {
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
	// A fork: the publisher's home at serial 1 copied, and another package
	// added to each copy, both then at serial 2 under the same key.
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
	fdb2, fsig2 := pair(forkHome)

	tests := []struct {
		name    string
		db, sig []byte
		serial  int64
		want    string
	}{
		{"rollback", db1, sig1, 1, "catalog serial 1 is older than the one held (2)"},
		{"same serial, other bytes", fdb2, fsig2, 2, "catalog serial 2 is the one held but its bytes differ"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs := catalogserver.New(catalogserver.Options{ArchivesDir: t.TempDir()})
			cs.SetKey(key.Public())
			cs.SetSnapshot(db2, sig2, 2, nil)
			primary := httptest.NewServer(cs.Handler())
			defer primary.Close()

			mp := paths.Home{Root: t.TempDir()}.Server()
			m := &mirror{
				opts:   MirrorOptions{Paths: mp, Config: &config.Server{}, Primary: []string{primary.URL}, Key: key.Public()},
				log:    slog.New(slog.DiscardHandler),
				catsrv: catalogserver.New(catalogserver.Options{ArchivesDir: mp.MirrorArchives()}),
			}
			if err := m.round(ctx); err != nil || m.serial != 2 {
				t.Fatalf("first round: %v, serving serial %d; want 2", err, m.serial)
			}
			cs.SetSnapshot(tt.db, tt.sig, tt.serial, nil)
			if err := m.round(ctx); err != nil {
				t.Fatalf("a round after the primary changed: %v; want the catalog held served on", err)
			}
			m.mu.Lock()
			serial, got := m.serial, m.sync.err
			m.mu.Unlock()
			if serial != 2 || !strings.Contains(got, tt.want) || !strings.Contains(got, primary.URL+"/packages.db") {
				t.Errorf("serving %d, sync error %q; want 2, and an error saying %q and naming %s", serial, got, tt.want, primary.URL)
			}
		})
	}
}
