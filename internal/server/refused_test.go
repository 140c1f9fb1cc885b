package server

import (
	"context"
	"database/sql"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	_ "modernc.org/sqlite"
)

// While the working catalog cannot be signed (edited by hand into one
// clients refuse), the catalog served stays served, and its packages that
// failed to seed are still tried again: a repaired archive is seeded again
// (a review: reload returned before the retry while a publication was
// refused). Status says the catalog is unsigned.
func TestSeedRetryWhileRefused(t *testing.T) {
	was, wasRetry := recheckEvery, seedRetry
	recheckEvery, seedRetry = 100*time.Millisecond, 100*time.Millisecond
	t.Cleanup(func() { recheckEvery, seedRetry = was, wasRetry })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg, primary, _ := newPrimary(ctx, t, writePackage(t, "alpha", 300<<10))
	done := make(chan error, 1)
	var servers sync.WaitGroup
	defer servers.Wait()
	defer cancel()
	info := runPrimary(ctx, t, &servers, done, Options{Paths: primary, Config: cfg, Logger: slog.New(&logRecorder{}), PollInterval: 100 * time.Millisecond})
	status := func() Status { return statusOf(t, info) }
	waitFor(t, "the archive to be seeded", func() bool { return status().Seeding == 1 })

	archive := filepath.Join(primary.Archives(), "alpha-1.0.0.tar.zst")
	original, err := os.ReadFile(archive)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // past the timestamp granularity (RecheckChanged)
	flipInPlace(t, archive)
	waitFor(t, "the damaged archive to be dropped", func() bool { return status().Seeding == 0 })

	s1 := status().Serial
	db, err := sql.Open("sqlite", primary.Catalog())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE packages SET installed_size = 0`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE meta SET serial = serial + 1`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	waitFor(t, "status to say the catalog is unsigned", func() bool { return !status().UnsignedSince.IsZero() })

	if err := os.WriteFile(archive+".new", original, 0o444); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(archive+".new", archive); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the repaired archive to be seeded again", func() bool { return status().Seeding == 1 })
	if st := status(); st.Serial != s1 || st.UnsignedSince.IsZero() {
		t.Errorf("status serial %d, unsigned since %v; want serial %d served, unsigned", st.Serial, st.UnsignedSince, s1)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("server: %v", err)
	}
}
