package server

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/catalog/catalogtest"
	"github.com/distpac/distpac/internal/catalogclient"
	"github.com/distpac/distpac/internal/catalogserver"
	"github.com/distpac/distpac/internal/config"
	"github.com/distpac/distpac/internal/nettest"
	"github.com/distpac/distpac/internal/paths"
	"github.com/distpac/distpac/internal/publish"
	"github.com/distpac/distpac/internal/signing"
	"github.com/distpac/distpac/internal/swarm"
)

// TestMirrorFailedPrimaryLoggedOnce: a mirror of two primaries warned
// twice of each primary that failed a round (the sync's "server failed;
// trying the next", then the round's "sync from the primary failed"
// naming them all), and again every round while it stayed down. Each
// primary's failure is said once, when it starts, and its recovery once.
func TestMirrorFailedPrimaryLoggedOnce(t *testing.T) {
	ctx := context.Background()
	_, home, _ := newPrimary(ctx, t, writePackage(t, "alpha", 20<<10))
	cs, _ := servedCatalog(t, home)
	var down atomic.Bool
	primary := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
			return
		}
		cs.Handler().ServeHTTP(w, r)
	}))
	defer primary.Close()
	refused := "http://" + nettest.Refused(t)

	mp := paths.Home{Root: t.TempDir()}.Server()
	rec := &logRecorder{}
	cfg := &config.Server{PeerAddr: "127.0.0.1:0"}
	// An engine: a primary back after a failed sync has it announce again.
	engine, err := swarm.New(seederConfig(cfg, mp.MirrorArchives(), true, nil, slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	defer engine.Close()
	m := &mirror{
		opts:   MirrorOptions{Paths: mp, Config: cfg, Primary: []string{refused, primary.URL}},
		log:    slog.New(rec),
		catsrv: catalogserver.New(catalogserver.Options{ArchivesDir: mp.MirrorArchives()}),
		engine: engine,
	}
	// lines is how many records from the from-th on name u, at level and
	// above.
	lines := func(from int, level slog.Level, u string) []string {
		var out []string
		for _, l := range rec.lines(from, level) {
			if strings.Contains(l, u) {
				out = append(out, l)
			}
		}
		return out
	}
	round := func(what string) int {
		t.Helper()
		from := rec.len()
		if err := m.round(ctx); err != nil {
			t.Fatalf("%s: %v; want the catalog held served on", what, err)
		}
		return from
	}
	// The first primary refuses, the second serves.
	from := round("the first round")
	if got := lines(from, slog.LevelWarn, refused); len(got) != 1 || !strings.Contains(got[0], "connection refused") {
		t.Errorf("the first round, %s refusing, logged of it:\n%s\nwant one warning that says so", refused, strings.Join(got, "\n"))
	}
	// Both down, round after round.
	down.Store(true)
	from = round("the second primary down")
	if got := lines(from, slog.LevelWarn, primary.URL); len(got) != 1 || !strings.Contains(got[0], "503") {
		t.Errorf("the round %s failed in logged of it:\n%s\nwant one warning that says why", primary.URL, strings.Join(got, "\n"))
	}
	if got := lines(from, slog.LevelWarn, refused); len(got) != 0 {
		t.Errorf("the round after the one %s failed in, still refusing, logged of it:\n%s\nwant nothing", refused, strings.Join(got, "\n"))
	}
	from = rec.len()
	for range 4 {
		round("both down")
	}
	if got := rec.lines(from, slog.LevelWarn); len(got) != 0 {
		t.Errorf("four more rounds with both primaries down logged:\n%s\nwant nothing: they were said when they started", strings.Join(got, "\n"))
	}
	// The second answers again: said once, and not of the first.
	down.Store(false)
	from = round("the second primary back")
	if got := lines(from, slog.LevelInfo, primary.URL); len(got) != 1 || !strings.Contains(got[0], "recovered") {
		t.Errorf("the round %s answered again logged of it:\n%s\nwant one line saying it recovered", primary.URL, strings.Join(got, "\n"))
	}
	if got := lines(from, slog.LevelInfo, refused); len(got) != 0 {
		t.Errorf("the round the second primary answered again logged of %s, still down and passed over:\n%s", refused, strings.Join(got, "\n"))
	}
	if want := catalogtest.Serial(t, filepath.Join(home.PublicDir(), publish.DBFile)); m.sync.err != "" || m.serial != want {
		t.Errorf("after the second primary answered again: sync error %q, serving %d, want %d", m.sync.err, m.serial, want)
	}
}

// TestPrimaryFailuresRateLimited: a primary down for hours is logged in
// full when it first fails, then reminded of at most every
// failReminderEvery, with how many syncs failed since; its recovery is
// said once, and a failure after it is new.
func TestPrimaryFailuresRateLimited(t *testing.T) {
	const a, b = "http://a:9090", "http://b:9090"
	refused := catalogclient.ServerError{URL: a, Err: errors.New("sync: GET http://a:9090/packages.db: dial tcp 10.0.0.1:9090: connect: connection refused")}
	unavailable := catalogclient.ServerError{URL: b, Err: errors.New("sync: GET http://b:9090/packages.db: 503 Service Unavailable")}
	type round struct {
		failed   []catalogclient.ServerError
		answered []string
	}
	var aDown []round
	for range 3 * 60 {
		aDown = append(aDown, round{failed: []catalogclient.ServerError{refused}, answered: []string{b}})
	}
	const full, remind, back = "full", "reminder", "recovered"
	for _, tt := range []struct {
		name   string
		rounds []round
		want   []string
	}{
		{"three hours of syncs a minute apart", aDown, []string{full + " " + a, remind + " " + a, remind + " " + a}},
		{"both down, then one back, then down again",
			[]round{{failed: []catalogclient.ServerError{refused, unavailable}}, {failed: []catalogclient.ServerError{unavailable, refused}},
				{failed: []catalogclient.ServerError{refused}, answered: []string{b}}, {failed: []catalogclient.ServerError{refused}, answered: []string{b}},
				{failed: []catalogclient.ServerError{refused, unavailable}}},
			[]string{full + " " + a, full + " " + b, back + " " + b, full + " " + b}},
		// Not tried (passed over after it failed): still down as far as
		// anyone knows, and no news.
		{"passed over", []round{{failed: []catalogclient.ServerError{refused}, answered: []string{b}}, {answered: []string{b}}, {answered: []string{a}}},
			[]string{full + " " + a, back + " " + a}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := &logRecorder{}
			log := slog.New(rec)
			var f primaryFailures
			start := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
			for i, r := range tt.rounds {
				f.note(log, start.Add(time.Duration(i)*time.Minute), r.failed, r.answered)
			}
			var got []string
			for _, l := range rec.lines(0, slog.LevelDebug) {
				what := "unexpected"
				switch {
				case strings.HasPrefix(l, "WARN sync from the primary failed "):
					what = full
				case strings.HasPrefix(l, "WARN sync from the primary still fails"):
					what = remind
					if len(l) > 300 || !strings.Contains(l, "failed_syncs=") {
						t.Errorf("a reminder of %d bytes, or without the count: %s", len(l), l)
					}
				case strings.HasPrefix(l, "INFO sync from the primary recovered "):
					what = back
				}
				for _, u := range []string{a, b} {
					if strings.Contains(l, "primary="+u+" ") {
						what += " " + u
					}
				}
				got = append(got, what)
			}
			if strings.Join(got, ", ") != strings.Join(tt.want, ", ") {
				t.Errorf("logged %q, want %q:\n%s", got, tt.want, strings.Join(rec.lines(0, slog.LevelDebug), "\n"))
			}
		})
	}
}

// servedCatalog is a catalog server of its own serving the catalog
// published in home (serial 1), signed by home's key, for a test to
// change at will as a primary's; and that key.
func servedCatalog(t *testing.T, home paths.Server) (*catalogserver.Server, *signing.Key) {
	t.Helper()
	key, err := signing.Load(home.SigningKey())
	if err != nil {
		t.Fatal(err)
	}
	db, err := os.ReadFile(filepath.Join(home.PublicDir(), publish.DBFile))
	if err != nil {
		t.Fatal(err)
	}
	cs := catalogserver.New(catalogserver.Options{ArchivesDir: t.TempDir()})
	cs.SetKey(key.Public())
	cs.SetSnapshot(db, key.Sign(db), catalogtest.Serial(t, filepath.Join(home.PublicDir(), publish.DBFile)), nil)
	return cs, key
}
