package catalogclient_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/distpac/distpac/internal/catalogclient"
	"github.com/distpac/distpac/internal/httpbound"
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

// TestSyncRedirectWithCredentials: a private repository that moved
// (/old/... answers 301 with an absolute Location, as nginx writes them)
// keeps the user and password on a redirect to its own scheme, host and
// port, so the sync works; a redirect to another host (the same server
// named localhost) gets none, and the sync's error says so rather than
// blaming the password.
func TestSyncRedirectWithCredentials(t *testing.T) {
	t.Parallel()
	key := newKey(t)
	var mu sync.Mutex
	var auths []string // the headers of each request for another host name
	moved := func(p *publisher, h http.Handler) http.Handler {
		auth := basicAuth(p, h)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasPrefix(r.Host, "localhost:") {
				mu.Lock()
				auths = append(auths, fmt.Sprint(r.Header))
				mu.Unlock()
			}
			switch {
			case strings.HasPrefix(r.URL.Path, "/old/"):
				http.Redirect(w, r, "http://"+r.Host+strings.TrimPrefix(r.URL.Path, "/old"), http.StatusMovedPermanently)
			case strings.HasPrefix(r.URL.Path, "/away/"):
				_, port, _ := net.SplitHostPort(r.Host)
				http.Redirect(w, r, "http://localhost:"+port+strings.TrimPrefix(r.URL.Path, "/away"), http.StatusFound)
			default:
				auth.ServeHTTP(w, r)
			}
		})
	}
	p := newPublisher(t, key, moved)
	p.publish(1, buildCatalog(t, 1, "", "foo"))
	host := strings.TrimPrefix(p.ts.URL, "http://")

	res := mustSync(t, syncOpts("http://user:secret@"+host+"/old", t.TempDir(), key.Public()))
	if res.Serial != 1 {
		t.Errorf("Sync through a redirect to the same origin = %+v; want serial 1", res)
	}

	dir := t.TempDir()
	_, err := catalogclient.Sync(context.Background(), syncOpts("http://user:secret@"+host+"/away", dir, key.Public()))
	_, port, _ := net.SplitHostPort(host)
	want := "sync: GET http://user:xxxxx@" + host + "/away/packages.db: 401 Unauthorized (redirected to http://localhost:" + port + "/packages.db, another scheme, host or port, which the user and password are not sent to)"
	if err == nil || err.Error() != want || !errors.Is(err, catalogclient.ErrUnauthorized) || !errors.Is(err, httpbound.ErrNotSent) {
		t.Errorf("Sync through a redirect to another host = %v; want\n%s\nmatching ErrUnauthorized and ErrNotSent", err, want)
	}
	if got := httpbound.RefusedURL(err, http.StatusUnauthorized); got != "http://user:xxxxx@"+host+"/away/packages.db" {
		t.Errorf("RefusedURL = %q; want the URL asked, masked", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(auths) == 0 {
		t.Fatal("no request reached the other host name")
	}
	for _, a := range auths {
		if strings.Contains(a, "Authorization") || strings.Contains(a, "user") || strings.Contains(a, "secret") {
			t.Errorf("the other host got %s: want no Authorization, and no user or password in another header (Referer)", a)
		}
	}
	noSecretIn(t, dir)
}

// TestSyncForbidden: a 403 is ErrForbidden, not ErrUnauthorized, and
// httpbound.RefusedURL names the URL masked.
func TestSyncForbidden(t *testing.T) {
	t.Parallel()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "403 Forbidden", http.StatusForbidden)
	}))
	defer ts.Close()
	u := strings.Replace(ts.URL, "http://", "http://user:secret@", 1)
	_, err := catalogclient.Sync(context.Background(), syncOpts(u, t.TempDir(), nil))
	masked := strings.Replace(ts.URL, "http://", "http://user:xxxxx@", 1) + "/packages.db"
	refused := httpbound.RefusedURL(err, http.StatusForbidden)
	if !errors.Is(err, catalogclient.ErrForbidden) || errors.Is(err, catalogclient.ErrUnauthorized) || refused != masked {
		t.Errorf("Sync of a 403 = %v (RefusedURL %q); want ErrForbidden alone, and %s", err, refused, masked)
	}
}
