package server

import (
	"context"
	"database/sql"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/config"
	"github.com/distpac/distpac/internal/paths"
	"github.com/distpac/distpac/internal/publish"
	"github.com/distpac/distpac/internal/signing"
)

// The backoff of an archive that failed its check: one interval, doubling,
// at most mirrorBackoffMax; forgotten when it passes, or when its row
// changes or goes.
func TestBackoffSchedule(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	p := catalog.Package{Name: "alpha", Version: "1.0.0", Archive: "alpha-1.0.0.tar.zst", SHA256: strings.Repeat("a", 64)}
	fixed := p
	fixed.SHA256 = strings.Repeat("b", 64)
	b := backoff{}
	if w := b.wait(p, t0); w != 0 {
		t.Fatalf("wait before any failure = %v, want 0", w)
	}
	want := []time.Duration{1, 2, 4, 8, 16, 32, 60, 60}
	now := t0
	for i, w := range want {
		w *= time.Minute
		if got := b.failed(p, now, time.Minute); got != w {
			t.Errorf("failure %d: left alone %v, want %v", i+1, got, w)
		}
		if got := b.wait(p, now.Add(w-time.Second)); got != time.Second {
			t.Errorf("failure %d: wait a second before its end = %v, want 1s", i+1, got)
		}
		now = now.Add(w)
		if got := b.wait(p, now); got != 0 {
			t.Errorf("failure %d: wait at its end = %v, want 0", i+1, got)
		}
	}
	b.failed(p, now, time.Minute)
	if b.wait(fixed, now) != 0 {
		t.Error("the row with another SHA-256 waits for the old row's failures")
	}
	b.keep([]catalog.Package{fixed})
	if len(b) != 0 || b.wait(p, now) != 0 {
		t.Errorf("after the row changed: %d entries, want none", len(b))
	}
	b.failed(p, now, time.Minute)
	b.ok(p)
	if len(b) != 0 {
		t.Errorf("after the archive passed: %d entries, want none", len(b))
	}
}

// A primary whose row says another SHA-256 than its torrent's archive
// (every piece matches the torrent; the whole does not match the row):
// the mirror downloaded the archive again in full at every round, forever.
// It now backs off: over a dozen rounds of 100 ms it downloads it a few
// times, not a dozen.
func TestMirrorBacksOffCorruptArchive(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg, primary, _ := newPrimary(ctx, t, writePackage(t, "alpha", 300<<10))
	corruptRow(ctx, t, primary, "alpha")
	st, err := os.Stat(filepath.Join(primary.Archives(), "alpha-1.0.0.tar.zst"))
	if err != nil {
		t.Fatal(err)
	}
	size := st.Size()
	done := make(chan error, 2)
	var servers sync.WaitGroup
	defer servers.Wait()
	defer cancel()
	pinfo := runPrimary(ctx, t, &servers, done, Options{Paths: primary, Config: cfg})

	mcfg := &config.Server{DatabaseAddr: "127.0.0.1:0", PeerAddr: "127.0.0.1:0"}
	mcfg.ApplyDefaults()
	rec := &logRecorder{}
	servers.Go(func() {
		done <- RunMirror(ctx, MirrorOptions{Paths: paths.Home{Root: t.TempDir()}.Server(), Config: mcfg, Primary: []string{pinfo.Database},
			Interval: 100 * time.Millisecond, Logger: slog.New(rec)})
	})
	rounds := func() int { return rec.count("archives of the catalog") }
	waitFor(t, "a dozen mirror rounds", func() bool { return rounds() >= 12 })
	n := rounds()
	_, b := fetch(t, pinfo.Control+"/status")
	var pst Status
	if err := json.Unmarshal(b, &pst); err != nil {
		t.Fatalf("status %q: %v", b, err)
	}
	downloads := float64(pst.Uploaded) / float64(size)
	t.Logf("%d rounds: the primary uploaded %d bytes, %.1f times the %d-byte archive", n, pst.Uploaded, downloads, size)
	if downloads < 0.5 {
		t.Fatalf("the archive was not downloaded at all (%d bytes uploaded): the test proves nothing", pst.Uploaded)
	}
	if downloads > float64(n)/2 {
		t.Errorf("downloaded %.1f times in %d rounds; want a backoff (one interval, doubling)", downloads, n)
	}
	for _, l := range rec.lines(0, slog.LevelError) {
		if strings.Contains(l, "alpha-1.0.0.tar.zst") && (!strings.Contains(l, pinfo.Database) || !strings.Contains(l, "sha256")) {
			t.Errorf("a failure's line does not name the primary and what mismatched: %s", l)
		}
	}
	cancel()
	for range 2 {
		if err := <-done; err != nil {
			t.Errorf("server: %v", err)
		}
	}
}

// corruptRow makes the primary's row of name say another SHA-256 than its
// archive's, and publishes the catalog signed again, as a broken or
// hostile publisher could.
func corruptRow(ctx context.Context, t *testing.T, primary paths.Server, name string) {
	t.Helper()
	sdb, err := sql.Open("sqlite", primary.Catalog())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sdb.Exec(`UPDATE packages SET sha256 = ? WHERE name = ?`, strings.Repeat("0", 64), name); err != nil {
		t.Fatal(err)
	}
	sdb.Close()
	db, err := catalog.Open(ctx, primary.Catalog())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	key, err := signing.Load(primary.SigningKey())
	if err != nil {
		t.Fatal(err)
	}
	if err := publish.Publish(ctx, db, key, primary.PublicDir()); err != nil {
		t.Fatal(err)
	}
}
