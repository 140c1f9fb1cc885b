package server

import (
	"bytes"
	"context"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	gosync "sync"
	"testing"

	"github.com/distpac/distpac/internal/catalog/catalogtest"
	"github.com/distpac/distpac/internal/catalogserver"
	"github.com/distpac/distpac/internal/config"
	"github.com/distpac/distpac/internal/paths"
	"github.com/distpac/distpac/internal/publish"
	"github.com/distpac/distpac/internal/signing"
)

// TestMirrorStaleKeySaidOnce: a mirror given the primary's key with --key
// goes on verifying the primary's catalogs after the primary rotated its
// key, through the rotation statements, and says once that --key wants the
// new key, naming it. It said nothing of --key, and logged "following the
// server's key rotation" with every new catalog (a minute apart).
func TestMirrorStaleKeySaidOnce(t *testing.T) {
	ctx := context.Background()
	_, home, pub := newPrimary(ctx, t, writePackage(t, "alpha", 20<<10))
	cs, key := servedCatalog(t, home)
	primary := httptest.NewServer(cs.Handler())
	defer primary.Close()
	var mu gosync.Mutex
	var buf bytes.Buffer
	mp := paths.Home{Root: t.TempDir()}.Server()
	m := &mirror{
		opts:   MirrorOptions{Paths: mp, Config: &config.Server{}, Primary: []string{primary.URL}, Key: key.Public()},
		log:    slog.New(slog.NewTextHandler(lockedBuffer{&mu, &buf}, nil)), // Info and above
		catsrv: catalogserver.New(catalogserver.Options{ArchivesDir: mp.MirrorArchives()}),
	}
	if err := m.round(ctx); err != nil {
		t.Fatalf("first round: %v", err)
	}
	// serve puts the primary's published pair and chain on its server.
	serve := func() {
		t.Helper()
		dir := home.PublicDir()
		db, err := os.ReadFile(filepath.Join(dir, publish.DBFile))
		if err != nil {
			t.Fatal(err)
		}
		sig, err := os.ReadFile(filepath.Join(dir, publish.SigFile))
		if err != nil {
			t.Fatal(err)
		}
		chain, err := os.ReadFile(filepath.Join(dir, publish.RotationFile))
		if err != nil {
			t.Fatal(err)
		}
		now, err := signing.Load(home.SigningKey())
		if err != nil {
			t.Fatal(err)
		}
		cs.SetKey(now.Public())
		cs.SetRotation(chain)
		cs.SetSnapshot(db, sig, catalogtest.Serial(t, filepath.Join(dir, publish.DBFile)), nil)
	}
	rotated, err := pub.Rotate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	serve()
	for i := range 4 {
		if i == 2 { // and publishes again, under the new key
			if _, err := pub.Add(ctx, []string{writePackage(t, "beta", 20<<10)}); err != nil {
				t.Fatal(err)
			}
			serve()
		}
		if err := m.round(ctx); err != nil {
			t.Fatalf("round %d after the rotation: %v", i, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	log := buf.String()
	if n := strings.Count(log, "rotated its key away from the one given with --key"); n != 1 || !strings.Contains(log, rotated.Statement.New.String()) {
		t.Errorf("%d warnings that --key is one the primary rotated away from, want 1 naming the new key %s:\n%s", n, rotated.Statement.New, log)
	}
	if n := strings.Count(log, "following the server's key rotation"); n != 0 {
		t.Errorf("%d lines \"following the server's key rotation\" at Info, want none (the warning says it):\n%s", n, log)
	}
	if n := strings.Count(log, "catalog synced"); n != 3 {
		t.Errorf("%d catalogs synced, want 3 (the first, the rotation's, the add's):\n%s", n, log)
	}
	// Each names the primary as every mirror line about one does
	// (primary=URL, greppable in a mirror of several).
	for line := range strings.Lines(log) {
		if (strings.Contains(line, "catalog synced") || strings.Contains(line, "rotated its key away")) && !strings.Contains(line, " primary="+primary.URL+" ") {
			t.Errorf("a line that does not name the primary %s with primary=: %s", primary.URL, line)
		}
	}

	// Started again with the same --key, with nothing new to sync: the
	// catalog held says it, once.
	var buf2 bytes.Buffer
	m2 := &mirror{opts: m.opts, log: slog.New(slog.NewTextHandler(lockedBuffer{&mu, &buf2}, nil)),
		catsrv: catalogserver.New(catalogserver.Options{ArchivesDir: mp.MirrorArchives()})}
	mu.Unlock()
	for i := range 3 {
		if err := m2.round(ctx); err != nil {
			t.Fatalf("restarted mirror, round %d: %v", i, err)
		}
	}
	mu.Lock()
	if n := strings.Count(buf2.String(), "signed by a key the primary rotated to from the one given with --key"); n != 1 {
		t.Errorf("restarted with the old --key and nothing new: %d warnings about the catalog held, want 1:\n%s", n, buf2.String())
	}
}
