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
// rollback".
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
	current := newPublisher(t, key, nil)
	current.publish(5, db5)
	lagging := newPublisher(t, key, nil)
	lagging.publish(3, db3)
	refused := "http://" + nettest.Refused(t)
	expired := time.Now().Add(8 * 24 * time.Hour) // past db5's valid_until, within db3's

	tests := []struct {
		name    string
		servers []string
		only    string
		now     time.Time
		drop    bool   // remove the catalog held, keeping sync.json
		server  string // the server the result names ("" when the catalog held is kept)
		failed  []string
		err     string // non-empty: the sync fails, saying this
		is      []error
	}{
		{name: "the one server behind", servers: []string{lagging.ts.URL}},
		{name: "primary down, mirror behind", servers: []string{refused, lagging.ts.URL}, failed: []string{refused}},
		{name: "sync --from the mirror behind", servers: []string{current.ts.URL, lagging.ts.URL}, only: lagging.ts.URL},
		{name: "mirror behind, then the primary", servers: []string{lagging.ts.URL, current.ts.URL}, server: current.ts.URL},
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
				if len(res.Behind) != 1 || res.Behind[0].URL != lagging.ts.URL || res.Behind[0].Serial != 3 || !errors.Is(res.Behind[0].Err, catalogclient.ErrRollback) {
					t.Errorf("behind = %+v; want %s at serial 3", res.Behind, lagging.ts.URL)
				}
				var failed []string
				for _, f := range res.Failed {
					failed = append(failed, f.URL)
				}
				if !slices.Equal(failed, tt.failed) {
					t.Errorf("failed = %v; want %v", failed, tt.failed)
				}
				if got, want := res.Behind[0].Note(), lagging.ts.URL+" serves an older catalog (serial 3): it has not caught up yet"; got != want {
					t.Errorf("note = %q; want %q", got, want)
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
