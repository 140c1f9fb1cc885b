package catalogclient_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/catalogclient"
	"github.com/distpac/distpac/internal/nettest"
)

// TestSyncServerBehind: a server whose catalog is valid and signed but
// older than the one held (a mirror a minute behind its primary) is not
// a failure. When no server gives a newer catalog, the sync succeeds
// keeping the catalog held, names the server as behind, and moves
// nothing on disk; the older catalog is never installed. The lag excuses
// nothing else: a catalog held that has expired is still reported
// expired, and with no catalog held (only its serial in sync.json) there
// is nothing to keep. Before, each of these syncs failed "refusing a
// rollback". A server whose older catalog has expired as well is behind
// and stale, and kept the same way (it failed the sync, as expired).
func TestSyncServerBehind(t *testing.T) {
	key := newKey(t)
	db5 := buildCatalog(t, 5, "", "foo", "bar")
	// Serial 3, valid for 30 days more than its build gave it: still
	// valid when the catalog held (serial 5) has expired.
	db3 := editCatalog(t, buildCatalog(t, 3, "", "foo"), func(sdb *sql.DB) {
		if _, err := sdb.Exec(`UPDATE meta SET valid_until = valid_until + 30*86400`); err != nil {
			t.Fatal(err)
		}
	})
	// Serial 3 again, made and valid until 30 days earlier than its build
	// gave it: expired while the catalog held (serial 5) is valid (a
	// mirror that stopped following its primary a while ago).
	db3old := editCatalog(t, buildCatalog(t, 3, "", "foo"), func(sdb *sql.DB) {
		if _, err := sdb.Exec(`UPDATE meta SET created = created - 30*86400, valid_until = valid_until - 30*86400`); err != nil {
			t.Fatal(err)
		}
	})
	current := newPublisher(t, key, nil)
	current.publish(5, db5)
	lagging := newPublisher(t, key, nil)
	lagging.publish(3, db3)
	stale := newPublisher(t, key, nil)
	stale.publish(3, db3old)
	refused := "http://" + nettest.Refused(t)
	expired := time.Now().Add(8 * 24 * time.Hour) // past db5's valid_until, within db3's

	tests := []struct {
		name    string
		servers []string
		only    string
		now     time.Time
		drop    bool   // remove the catalog held, keeping sync.json
		server  string // the server the result names ("" when the catalog held is kept)
		behind  string // the server named behind: lagging's URL when ""
		note    string // what the sync says of it: lagging's "has not caught up yet" when ""
		failed  []string
		err     string // non-empty: the sync fails, saying this
		is      []error
	}{
		{name: "the one server behind", servers: []string{lagging.ts.URL}},
		{name: "primary down, mirror behind", servers: []string{refused, lagging.ts.URL}, failed: []string{refused}},
		{name: "sync --from the mirror behind", servers: []string{current.ts.URL, lagging.ts.URL}, only: lagging.ts.URL},
		{name: "mirror behind, then the primary", servers: []string{lagging.ts.URL, current.ts.URL}, server: current.ts.URL},
		// A server whose catalog is older and expired too is behind, and
		// stale: the catalog held is newer and valid, so the sync keeps
		// it, as for a server only behind. Before, the sync failed
		// ("catalog from URL expired 23d ago").
		{
			name: "the one server behind and expired", servers: []string{stale.ts.URL}, behind: stale.ts.URL,
			note: stale.ts.URL + " serves an older catalog (serial 3) that expired 23d ago: it has not caught up and is no longer re-signed (a mirror that stopped following its primary?)",
		},
		{
			name: "primary down, mirror behind and expired", servers: []string{refused, stale.ts.URL}, failed: []string{refused}, behind: stale.ts.URL,
			note: stale.ts.URL + " serves an older catalog (serial 3) that expired 23d ago",
		},
		{
			name: "sync --from the mirror behind and expired", servers: []string{current.ts.URL, stale.ts.URL}, only: stale.ts.URL, behind: stale.ts.URL,
			note: stale.ts.URL + " serves an older catalog (serial 3) that expired 23d ago",
		},
		{
			// An expired catalog held fails the sync still, and the
			// server's, expired too, is said to be so.
			name: "catalog held expired, mirror behind and expired", servers: []string{refused, stale.ts.URL}, now: expired,
			err: "catalog from " + stale.ts.URL + "/packages.db expired 31d ago (serial 3, made ",
			is:  []error{catalogclient.ErrExpired},
		},
		{
			name: "catalog held expired", servers: []string{refused, lagging.ts.URL}, now: expired,
			err: lagging.ts.URL + "/packages.db: catalog serial 3 is older than the one held, which expired 24h ago (serial 5, made ",
			is:  []error{catalogclient.ErrExpired, catalogclient.ErrRollback},
		},
		{
			name: "no catalog held, only its serial", servers: []string{lagging.ts.URL}, drop: true,
			err: lagging.ts.URL + "/packages.db: catalog serial 3 is older than the one held (5): refusing a rollback",
			is:  []error{catalogclient.ErrRollback},
		},
		{
			name: "no catalog held, mirror behind and expired", servers: []string{stale.ts.URL}, drop: true,
			err: "catalog from " + stale.ts.URL + "/packages.db expired 23d ago (serial 3, made ",
			is:  []error{catalogclient.ErrExpired},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			mustSync(t, syncOpts(current.ts.URL, dir, key.Public()))
			if tt.drop {
				if err := os.Remove(filepath.Join(dir, "catalog")); err != nil {
					t.Fatal(err)
				}
			}
			state, err := os.ReadFile(filepath.Join(dir, "sync.json"))
			if err != nil {
				t.Fatal(err)
			}
			// servers.json orders the servers of a list: a sync of several writes it.
			names := func() []string {
				return slices.DeleteFunc(catalogclient.DirNames(t, dir), func(n string) bool { return n == "servers.json" })
			}
			before := names()

			opts := syncOpts("", dir, key.Public())
			opts.ServerURLs, opts.Only = tt.servers, tt.only
			if !tt.now.IsZero() {
				opts.Now = func() time.Time { return tt.now }
			}
			res, err := catalogclient.Sync(context.Background(), opts)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Sync = %+v, %v; want an error saying %q", res, err, tt.err)
				}
				for _, is := range tt.is {
					if !errors.Is(err, is) {
						t.Errorf("error %v is not %v", err, is)
					}
				}
				t.Logf("error: %v", err)
			} else {
				if err != nil {
					t.Fatalf("Sync: %v; want the catalog held kept", err)
				}
				if res.Updated || res.Serial != 5 || res.Packages != 2 || res.Server != tt.server {
					t.Errorf("Sync = updated %v, serial %d, %d packages, server %q; want serial 5 (2 packages) kept, server %q", res.Updated, res.Serial, res.Packages, res.Server, tt.server)
				}
				behind, note := tt.behind, tt.note
				if behind == "" {
					behind, note = lagging.ts.URL, lagging.ts.URL+" serves an older catalog (serial 3; serial 5 held): a mirror that has not caught up yet, or a publisher restored from a backup while its clock is behind: there, 'dist-server republish --past 5' publishes past it"
				}
				if len(res.Behind) != 1 || res.Behind[0].URL != behind || res.Behind[0].Serial != 3 || !errors.Is(res.Behind[0].Err, catalogclient.ErrRollback) {
					t.Fatalf("behind = %+v; want %s at serial 3", res.Behind, behind)
				}
				if stale := behind == stale.ts.URL; res.Behind[0].Stale != stale || res.Behind[0].Stale == time.Now().Before(res.Behind[0].ValidUntil) {
					t.Errorf("behind: stale %v, valid until %v; want stale %v", res.Behind[0].Stale, res.Behind[0].ValidUntil, stale)
				}
				var failed []string
				for _, f := range res.Failed {
					failed = append(failed, f.URL)
				}
				if !slices.Equal(failed, tt.failed) {
					t.Errorf("failed = %v; want %v", failed, tt.failed)
				}
				if got := res.Behind[0].Note(); !strings.HasPrefix(got, note) || tt.behind == "" && got != note {
					t.Errorf("note = %q; want %q", got, note)
				}
			}
			if tt.drop {
				return
			}
			if serial, n := heldSerial(t, dir); serial != 5 || n != 2 {
				t.Errorf("catalog held: serial %d with %d packages; want 5 with 2", serial, n)
			}
			if after, _ := os.ReadFile(filepath.Join(dir, "sync.json")); string(after) != string(state) && tt.server == "" {
				t.Errorf("sync.json moved with no catalog taken:\n%s\nwas\n%s", after, state)
			}
			if got := names(); !slices.Equal(got, before) && tt.server == "" {
				t.Errorf("client directory holds %q after the sync, want %q", got, before)
			}
		})
	}
}
