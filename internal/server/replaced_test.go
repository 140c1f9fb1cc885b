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
	"github.com/distpac/distpac/internal/paths"
	"github.com/distpac/distpac/internal/publish"
)

// statusOf asks a running server for its status.
func statusOf(t *testing.T, info Info) Status {
	t.Helper()
	_, b := fetch(t, info.Control+"/status")
	var st Status
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatalf("status %q: %v", b, err)
	}
	return st
}

// alpha is a primary of one package, alpha, running in process with its
// log recorded; stop ends it and checks that it ended without an error.
type alpha struct {
	info    Info
	primary paths.Server
	pub     *publish.Publisher
	logs    *logRecorder
	stop    func()
}

// runAlpha publishes alpha, lets before change the catalog (nil: as it
// is), and runs the primary with opts' switches, stopped when the test
// ends if not before.
func runAlpha(t *testing.T, opts Options, before func(catalog string)) *alpha {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cfg, primary, pub := newPrimary(ctx, t, writePackage(t, "alpha", 10<<10))
	if before != nil {
		before(primary.Catalog())
	}
	done := make(chan error, 1)
	var servers sync.WaitGroup
	t.Cleanup(func() {
		cancel()
		servers.Wait()
	})
	logs := &logRecorder{}
	opts.Paths, opts.Config, opts.Logger = primary, cfg, slog.New(logs)
	a := &alpha{info: runPrimary(ctx, t, &servers, done, opts), primary: primary, pub: pub, logs: logs}
	a.stop = func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server: %v", err)
		}
	}
	return a
}

// moveInto replaces dst by a copy of src edited with stmts, as an
// operator's sqlite3 and mv would.
func moveInto(t *testing.T, src, dst string, stmts ...string) {
	t.Helper()
	tmp := filepath.Join(t.TempDir(), "copy.db")
	db, err := sql.Open("sqlite", src)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1) // one connection: the one ATTACH names the copy in
	for _, s := range append([]string{`VACUUM INTO '` + tmp + `'`, `ATTACH '` + tmp + `' AS copy`}, stmts...) {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	if err := os.Rename(tmp, dst); err != nil {
		t.Fatal(err)
	}
}

// A catalog.db replaced by rename is read from then on: a copy clients
// would refuse is not signed (whatever its serial), a file that is no
// catalog is logged once and the catalog before it still read, and a good
// copy ends the refusal, published under a serial above the one served
// (status said "unsigned" until the next publication).
func TestReplacedCatalog(t *testing.T) {
	a := runAlpha(t, Options{}, nil)
	info, primary, logs := a.info, a.primary, a.logs
	good := filepath.Join(t.TempDir(), "good.db")
	moveInto(t, primary.Catalog(), good)
	s1 := statusOf(t, info).Serial

	moveInto(t, good, primary.Catalog(), `UPDATE copy.packages SET installed_size = 0`, `UPDATE copy.meta SET serial = serial + 1`)
	waitFor(t, "status to say the catalog is unsigned", func() bool { return !statusOf(t, info).UnsignedSince.IsZero() })
	if st := statusOf(t, info); st.Serial != s1 {
		t.Fatalf("serving serial %d, want %d (the refused copy's is the one after)", st.Serial, s1)
	}

	junk := filepath.Join(t.TempDir(), "junk")
	if err := os.WriteFile(junk, []byte("not a catalog at all, but long enough for a SQLite header of a hundred bytes................"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(junk, primary.Catalog()); err != nil {
		t.Fatal(err)
	}
	const cannot = "catalog.db was replaced by a file that cannot be opened; still serving the catalog before it"
	waitFor(t, "the file that cannot be opened to be logged", func() bool { return logs.count(cannot) == 1 })
	if st := statusOf(t, info); st.Serial != s1 || !strings.Contains(st.UnsignedError, "not a SQLite database") {
		t.Errorf("status serial %d, unsigned: %q; want serial %d, and why catalog.db is not read", st.Serial, st.UnsignedError, s1)
	}
	time.Sleep(500 * time.Millisecond) // five polls
	if n, failed := logs.count(cannot), logs.count("catalog reload failed; serving the previous one"); n != 1 || failed != 0 {
		t.Errorf("logged %d times that it cannot be opened and %d that a reload failed, want once and never", n, failed)
	}

	// A copy clients would refuse at the serial served: refused too (it
	// cleared the status, its serial being the one served: a review).
	moveInto(t, good, primary.Catalog(), `UPDATE copy.packages SET installed_size = 0`)
	waitFor(t, "status to say why the copy at the serial served is unsigned", func() bool {
		return strings.Contains(statusOf(t, info).UnsignedError, "installed_size")
	})
	if st := statusOf(t, info); st.Serial != s1 {
		t.Fatalf("serving serial %d, want %d", st.Serial, s1)
	}

	// Good copies at the serial served, or below the one published, are
	// published under the next serial (Adopt): the pair signed before was
	// served as theirs, their rows unseen.
	moveInto(t, good, primary.Catalog())
	waitFor(t, "status to say the catalog is signed", func() bool { return statusOf(t, info).UnsignedSince.IsZero() })
	waitFor(t, "a serial above the first", func() bool { return statusOf(t, info).Serial > s1 })
	st := statusOf(t, info)
	if st.Packages != 1 {
		t.Errorf("serving %d packages, want 1", st.Packages)
	}
	s2 := st.Serial
	moveInto(t, good, primary.Catalog(), `DELETE FROM copy.packages`)
	waitFor(t, "a serial above the second", func() bool { return statusOf(t, info).Serial > s2 })
	if st := statusOf(t, info); st.Packages != 0 || !st.UnsignedSince.IsZero() {
		t.Errorf("serving %d packages, unsigned since %v; want none, signed", st.Packages, st.UnsignedSince)
	}
	if logs.count("catalog.db's serial is not above the one published (a backup restored?): publishing it under the next, as clients refuse a lower one") != 2 {
		t.Errorf("want the two serials raised logged")
	}
	a.stop()
}

// A catalog.db replaced at the serial served while the publisher cannot
// publish for a while (signing.key being restored) is adopted once it
// can: the poll that failed cleared the mark of a replaced file, and the
// pair signed before was served as the new file's for good, its rows
// unseen.
func TestReplacedCatalogAdoptedAfterAFailure(t *testing.T) {
	a := runAlpha(t, Options{}, nil)
	info, primary, logs := a.info, a.primary, a.logs
	s1 := statusOf(t, info).Serial

	restore := failReloads(t, primary)
	waitFor(t, "a failed reload", func() bool { return logs.count("catalog reload failed; serving the previous one") > 0 })
	restore()
	waitFor(t, "a serial above the first", func() bool { return statusOf(t, info).Serial > s1 })
	if st := statusOf(t, info); st.Packages != 0 || !st.UnsignedSince.IsZero() {
		t.Errorf("serving %d packages, unsigned since %v; want none, signed", st.Packages, st.UnsignedSince)
	}
	a.stop()
}

// A catalog.db deleted under a running server is said once, in the log
// and in status, naming the published copy to restore it from; the
// catalog opened before stays served, and the copy restored as the message
// says is published above the serial served. The server said nothing;
// then an add refused as "lost" left an empty catalog.db behind, which the
// restore overwrote in place, unseen, and the server logged a failed
// reload twice a second (an attacker's run).
func TestCatalogGone(t *testing.T) {
	a := runAlpha(t, Options{}, nil)
	info, primary, pub, logs := a.info, a.primary, a.pub, a.logs
	s1 := statusOf(t, info).Serial

	if err := os.Remove(primary.Catalog()); err != nil {
		t.Fatal(err)
	}
	restore := "cp " + filepath.Join(primary.PublicDir(), "packages.db") + " " + primary.Catalog()
	waitFor(t, "status to say catalog.db is gone", func() bool { return strings.Contains(statusOf(t, info).UnsignedError, restore) })
	if _, err := pub.Add(context.Background(), []string{writePackage(t, "beta", 10<<10)}); err == nil || !strings.Contains(err.Error(), restore) {
		t.Errorf("add with catalog.db gone: %v, want a refusal naming %q", err, restore)
	}
	if _, err := os.Lstat(primary.Catalog()); err == nil {
		t.Errorf("the refused add made a catalog.db")
	}
	time.Sleep(500 * time.Millisecond) // five polls
	if n := logs.count("catalog.db is gone or is no catalog; still serving the catalog of the file opened before"); n != 1 {
		t.Errorf("said %d times that catalog.db is gone, want once", n)
	}
	if st := statusOf(t, info); st.Serial != s1 || st.Packages != 1 {
		t.Errorf("serving serial %d of %d packages, want %d of 1", st.Serial, st.Packages, s1)
	}

	data, err := os.ReadFile(filepath.Join(primary.PublicDir(), "packages.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(primary.Catalog(), data, 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a serial above the first", func() bool { return statusOf(t, info).Serial > s1 })
	if st := statusOf(t, info); st.Packages != 1 || !st.UnsignedSince.IsZero() {
		t.Errorf("serving %d packages, unsigned since %v; want 1, signed", st.Packages, st.UnsignedSince)
	}
	if n := logs.count("catalog reload failed; serving the previous one"); n != 0 {
		t.Errorf("logged %d failed reloads", n)
	}
	a.stop()
}

// A catalog.db replaced or edited while the server was stopped, at the
// serial published, is adopted at start as a running server adopts a
// file moved into place: a good one published under the next serial, one
// clients would refuse not signed (the pair signed before served, status
// saying why). The pair published at that serial verified, and was
// served as the new file's, its rows unseen. A catalog.db left as it was
// keeps its serial.
func TestReplacedWhileStopped(t *testing.T) {
	tests := []struct {
		name     string
		change   func(t *testing.T, catalog string)
		bumped   bool // published under a new serial
		packages int
		unsigned string // what status says is wrong, "" when signed
	}{
		{"unchanged", func(*testing.T, string) {}, false, 1, ""},
		{"good copy, a row withdrawn", func(t *testing.T, path string) {
			moveInto(t, path, path, `DELETE FROM copy.packages`)
		}, true, 0, ""},
		{"same rows copied into place", func(t *testing.T, path string) { moveInto(t, path, path) }, true, 1, ""},
		{"copy clients refuse", func(t *testing.T, path string) {
			moveInto(t, path, path, `UPDATE copy.packages SET installed_size = 0`)
		}, false, 1, "alpha@1.0.0: installed_size: 0"},
		{"edited in place", func(t *testing.T, path string) {
			db, err := sql.Open("sqlite", path)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if _, err := db.Exec(`UPDATE packages SET description = 'edited'`); err != nil {
				t.Fatal(err)
			}
		}, true, 1, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var before int64 // the serial published before the change
			a := runAlpha(t, Options{NoSeeder: true, NoTracker: true}, func(catalog string) {
				data, err := os.ReadFile(catalog)
				if err != nil {
					t.Fatal(err)
				}
				if before, err = publishedMetaOf(t, data); err != nil {
					t.Fatal(err)
				}
				tc.change(t, catalog)
			})
			info := a.info
			st := statusOf(t, info)
			if (st.Serial > before) != tc.bumped || st.Serial < before || st.Packages != tc.packages {
				t.Errorf("serving serial %d of %d packages, want %d packages and a serial above %d: %v", st.Serial, st.Packages, tc.packages, before, tc.bumped)
			}
			if tc.unsigned == "" && !st.UnsignedSince.IsZero() || !strings.Contains(st.UnsignedError, tc.unsigned) {
				t.Errorf("status unsigned since %v: %q, want %q", st.UnsignedSince, st.UnsignedError, tc.unsigned)
			}
			_, served := fetch(t, info.Database+"/packages.db")
			if m, err := publishedMetaOf(t, served); err != nil || m != st.Serial {
				t.Errorf("the catalog served has serial %d (%v), want %d", m, err, st.Serial)
			}
			a.stop()
		})
	}
}

// publishedMetaOf is the serial of the catalog bytes data.
func publishedMetaOf(t *testing.T, data []byte) (int64, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "packages.db")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	db, err := catalog.OpenReadOnly(context.Background(), path)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	m, err := db.Meta(context.Background())
	return m.Serial, err
}
