package catalogclient_test

import (
	"context"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/distpac/distpac/internal/catalogclient"
	"github.com/distpac/distpac/internal/nettest"
)

// basicAuth answers 401 to a request without user "user" and password
// "secret", as a web server in front of a private repository does.
func basicAuth(_ *publisher, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "user" || p != "secret" {
			w.Header().Set("WWW-Authenticate", `Basic realm="distpac"`)
			http.Error(w, "401 Unauthorized", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// noSecretIn fails the test for each file under dir holding "secret".
func noSecretIn(t *testing.T, dir string) {
	t.Helper()
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if b, _ := os.ReadFile(path); strings.Contains(string(b), "secret") {
				t.Errorf("%s holds the password: %q", path, b)
			}
		}
		return nil
	})
}

// TestSyncWithCredentials: a server behind basic auth, its user and
// password in the server URL. The sync sends them and succeeds; a wrong
// password fails with ErrUnauthorized naming the URL masked; sync.json,
// servers.json and server.key.origin hold the URL masked, and still do
// their jobs: the next sync is a 304 (sync.json's server is the one
// synced from), a server that failed is tried last (servers.json), and a
// catalog the pinned key did not sign gets the advice of a key pinned
// from the server configured (server.key.origin), not of a mistaken
// first server. An origin file a version that kept passwords wrote is
// masked by the next sync.
func TestSyncWithCredentials(t *testing.T) {
	t.Parallel()
	key, other := newKey(t), newKey(t)
	p := newPublisher(t, key, basicAuth)
	p.publish(1, buildCatalog(t, 1, "", "foo"))
	host := strings.TrimPrefix(p.ts.URL, "http://")
	good, masked := "http://user:secret@"+host, "http://user:xxxxx@"+host
	down := "http://user:secret@" + nettest.Refused(t)

	dir := t.TempDir()
	_, err := catalogclient.Sync(context.Background(), syncOpts("http://user:secret-wrong@"+host, dir, nil))
	if want := "sync: GET " + masked + "/packages.db: 401 Unauthorized"; !errors.Is(err, catalogclient.ErrUnauthorized) || err.Error() != want {
		t.Errorf("Sync with the wrong password = %v; want ErrUnauthorized, %q", err, want)
	}

	opts := syncOpts("", dir, nil)
	opts.ServerURLs = []string{down, good}
	res := mustSync(t, opts)
	if res.Server != masked || len(res.Failed) != 1 || res.Pinned == nil {
		t.Fatalf("Sync = %+v; want the catalog and key of %s after one failure", res, masked)
	}
	if msg := res.Failed[0].Error(); strings.Contains(msg, "secret") || strings.Contains(msg, "redirected") {
		t.Errorf("the server down failed with %q: want its URL masked, and no redirect", msg)
	}
	noSecretIn(t, dir)
	if tr, err := catalogclient.LoadTrust(dir, nil); err != nil || tr.FirstUseFrom != masked {
		t.Errorf("LoadTrust = %+v, %v; want pinned on first use from %s", tr, err, masked)
	}
	if got := catalogclient.OrderServers(dir, opts.ServerURLs); !slices.Equal(got, []string{good, down}) {
		t.Errorf("OrderServers after the failure = %q; want the server down last, URLs whole", got)
	}
	if res := mustSync(t, opts); res.Updated {
		t.Errorf("a second sync took the catalog again: want a 304, its ETag sent to the server synced from")
	}

	// Signed by another key: the advice of a key pinned from this server.
	p.key = other
	p.publish(2, buildCatalog(t, 2, "", "foo"))
	_, err = catalogclient.Sync(context.Background(), syncOpts(good, dir, nil))
	if want := "; the key was pinned in " + filepath.Join(dir, "server.key") + "; if the server's key really changed"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Sync of a catalog another key signed = %v; want the advice %q", err, want)
	}

	// An origin file written whole by a version that kept passwords.
	p.key = key
	p.publish(3, buildCatalog(t, 3, "", "foo"))
	origin := filepath.Join(dir, "server.key.origin")
	if err := os.WriteFile(origin, []byte(key.Public().String()+"\nfirst-use-from: "+good+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if tr, err := catalogclient.LoadTrust(dir, nil); err != nil || tr.FirstUseFrom != masked {
		t.Errorf("LoadTrust of an old origin = %+v, %v; want %s", tr, err, masked)
	}
	mustSync(t, syncOpts(good, dir, nil))
	if b, _ := os.ReadFile(origin); string(b) != key.Public().String()+"\nfirst-use-from: "+masked+"\n" {
		t.Errorf("server.key.origin after a sync = %q; want its URL masked", b)
	}
	noSecretIn(t, dir)

	// The field on server.key's second line, as a version wrote it for a
	// while (parsePin still reads it), the URL whole.
	if err := os.Remove(origin); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "server.key"), []byte(key.Public().String()+"\nfirst-use-from: "+good+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if tr, err := catalogclient.LoadTrust(dir, nil); err != nil || tr.FirstUseFrom != masked {
		t.Errorf("LoadTrust of an old server.key = %+v, %v; want %s", tr, err, masked)
	}
	mustSync(t, syncOpts(good, dir, nil))
	noSecretIn(t, dir)
	if tr, err := catalogclient.LoadTrust(dir, nil); err != nil || !tr.Key.Equal(key.Public()) || tr.FirstUseFrom != masked {
		t.Errorf("LoadTrust after a sync masked an old server.key = %+v, %v; want the key, from %s", tr, err, masked)
	}

	// servers.json as a version that kept passwords wrote it, the client
	// down to one server since: it orders nothing, and goes.
	failed := filepath.Join(dir, "servers.json")
	if err := os.WriteFile(failed, []byte(`{"failed":{"`+down+`":"2026-12-06T10:00:00Z"}}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mustSync(t, syncOpts(good, dir, nil))
	if _, err := os.Stat(failed); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("servers.json after a sync of one server: %v; want it gone", err)
	}
	noSecretIn(t, dir)
}
