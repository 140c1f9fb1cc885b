package catalogclient_test

import (
	"context"
	"errors"
	"io/fs"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distpac/distpac/internal/catalogclient"
	"github.com/distpac/distpac/internal/catalogserver"
)

// TestSyncRefusesAnotherUsersLocalServer: root pins no key on first use
// from a server on this machine's loopback that another user runs (any
// user can listen on a free port above 1023, the default server_url's
// 9090 among them). Before, it pinned that user's key.
func TestSyncRefusesAnotherUsersLocalServer(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("listening as another user needs root")
	}
	key := newKey(t)
	p := catalogserver.New(catalogserver.Options{ArchivesDir: t.TempDir()})
	p.SetKey(key.Public())
	db := buildCatalog(t, 1, "", "foo")
	p.SetSnapshot(db, key.Sign(db), 1, nil)
	ts := httptest.NewUnstartedServer(p.Handler())
	ts.Listener = catalogclient.ListenAs(t, 4242)
	ts.Start()
	t.Cleanup(ts.Close)
	dir := t.TempDir()
	_, err := catalogclient.Sync(context.Background(), syncOpts(ts.URL, dir, nil))
	if err == nil || !strings.Contains(err.Error(), "is run by uid 4242, not root") || !strings.Contains(err.Error(), "dist-server key") {
		t.Fatalf("sync = %v, want it refused, naming uid 4242 and how to give the key", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "server.key")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("server.key: %v, want none pinned", err)
	}
	// The key given, the same server's catalog is used: only trust on
	// first use is refused.
	if res := mustSync(t, syncOpts(ts.URL, dir, key.Public())); res.Serial != 1 {
		t.Fatalf("sync with the key given = %+v, want serial 1", res)
	}
}
