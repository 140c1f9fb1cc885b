package catalogclient_test

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/distpac/distpac/internal/catalogclient"
	"github.com/distpac/distpac/internal/catalogserver"
	"github.com/distpac/distpac/internal/signing"
)

// servedCatalog is a catalog server serving serial 1 (a package foo),
// signed with a new key.
func servedCatalog(t *testing.T) (*signing.Key, *catalogserver.Server) {
	t.Helper()
	key := newKey(t)
	p := catalogserver.New(catalogserver.Options{ArchivesDir: t.TempDir()})
	p.SetKey(key.Public())
	db := buildCatalog(t, 1, "", "foo")
	p.SetSnapshot(db, key.Sign(db), 1, nil)
	return key, p
}

// TestSyncRefusesAnotherUsersLocalServer: root pins no key on first use
// from a server on this machine's loopback that another user runs (any
// user can listen on a free port above 1023, the default server_url's
// 9090 among them). Before, it pinned that user's key.
func TestSyncRefusesAnotherUsersLocalServer(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("listening as another user needs root")
	}
	key, p := servedCatalog(t)
	ts := httptest.NewUnstartedServer(p.Handler())
	ts.Listener = catalogclient.ListenAs(t, 4242, "")
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
	// A mirror (its key given with --key) is told to give it there, not
	// to run dist-client trust, a client's command that sets no mirror's
	// key.
	mirrorOpts := syncOpts(ts.URL, t.TempDir(), nil)
	mirrorOpts.KeySource = "the mirror's --key"
	_, err = catalogclient.Sync(context.Background(), mirrorOpts)
	if err == nil || !strings.Contains(err.Error(), "set the mirror's --key to the output of its `dist-server key`") || strings.Contains(err.Error(), "dist-client") {
		t.Errorf("a mirror's sync = %v, want it refused, saying to give the key with --key and naming no dist-client command", err)
	}
	// The key given, the same server's catalog is used: only trust on
	// first use is refused.
	if res := mustSync(t, syncOpts(ts.URL, dir, key.Public())); res.Serial != 1 {
		t.Fatalf("sync with the key given = %+v, want serial 1", res)
	}
}

// TestSyncRefusesAnotherUsersServerByAnyName: the server is told by the
// connection the key came over, not by the URL's host. Before, only an IP
// literal on loopback or "localhost" was looked at: server_url
// http://0.0.0.0:PORT, a name /etc/hosts maps to this machine, or the
// machine's own LAN address reached another user's listener and root
// pinned its key.
func TestSyncRefusesAnotherUsersServerByAnyName(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("listening as another user needs root")
	}
	_, p := servedCatalog(t)
	ts := httptest.NewUnstartedServer(p.Handler())
	ts.Listener = catalogclient.ListenAs(t, 4242, "0.0.0.0:0") // every address of the machine
	ts.Start()
	t.Cleanup(ts.Close)
	port := ts.Listener.Addr().(*net.TCPAddr).Port
	hosts := []string{"0.0.0.0", "localhost"}
	if name, err := os.Hostname(); err == nil {
		if ips, err := net.LookupIP(name); err == nil && len(ips) > 0 {
			hosts = append(hosts, name) // resolves to this machine
		}
	}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
				hosts = append(hosts, n.IP.String()) // the machine's own address
				break
			}
		}
	}
	for _, h := range hosts {
		t.Run(h, func(t *testing.T) {
			u := "http://" + net.JoinHostPort(h, strconv.Itoa(port))
			dir := t.TempDir()
			_, err := catalogclient.Sync(context.Background(), syncOpts(u, dir, nil))
			if err == nil || !strings.Contains(err.Error(), "is run by uid 4242, not root") {
				t.Fatalf("sync from %s = %v, want it refused, naming uid 4242", u, err)
			}
			if _, err := os.Stat(filepath.Join(dir, "server.key")); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("server.key: %v, want none pinned", err)
			}
		})
	}
}

// TestSyncRefusesAnotherUsersKeptConnection: another user's server that
// serves the catalog, then gives the port up to root's server (a unit
// with Restart=on-failure tries again every few seconds while the port is
// taken) and keeps the connection alive, serves the key over it too. The listener on the port
// was root's at both looks, and root pinned the other user's key; the
// connection's own socket says whose server answered.
func TestSyncRefusesAnotherUsersKeptConnection(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("listening as another user needs root")
	}
	_, p := servedCatalog(t)
	theirs := catalogclient.ListenAs(t, 4242, "")
	var once sync.Once
	swapped := make(chan struct{})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == catalogclient.PathSignature {
			once.Do(func() {
				theirs.Close()                                       // the connection stays
				catalogclient.ListenAs(t, 0, theirs.Addr().String()) // root's server takes the port
				close(swapped)
			})
		}
		p.Handler().ServeHTTP(w, r)
	})}
	go srv.Serve(catalogclient.AcceptAs(t, 4242, theirs))
	t.Cleanup(func() { srv.Close() })
	dir := t.TempDir()
	_, err := catalogclient.Sync(context.Background(), syncOpts("http://"+theirs.Addr().String(), dir, nil))
	select {
	case <-swapped:
	default:
		t.Fatal("the signature was never asked for: the test's port swap did not happen")
	}
	if err == nil || !strings.Contains(err.Error(), "is run by uid 4242, not root") {
		t.Fatalf("sync = %v, want it refused, naming uid 4242", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "server.key")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("server.key: %v, want none pinned", err)
	}
}
