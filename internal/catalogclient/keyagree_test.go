package catalogclient_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/catalogclient"
)

// Trust on first use with several servers listed pins a key only when no
// other server listed presents another: the order of server_urls, or which
// server was down, decided whom the client trusted for good. A server that
// is down, hangs past the wait, or serves no key does not count.
func TestFirstUseKeysMustAgree(t *testing.T) {
	t.Parallel()
	right, wrong := newKey(t), newKey(t)
	good := newPublisher(t, right, nil)
	good.publish(3, buildCatalog(t, 3, "", "foo"))
	twin := newPublisher(t, right, nil) // a mirror of the same publisher
	twin.publish(3, buildCatalog(t, 3, "", "foo"))
	hostile := newPublisher(t, wrong, nil)
	hostile.publish(9, buildCatalog(t, 9, "", "evil"))

	down := func() string { // a port nothing listens on
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		u := "http://" + l.Addr().String()
		l.Close()
		return u
	}()
	noKey := httptest.NewServer(http.NotFoundHandler()) // a static mirror's /key
	t.Cleanup(noKey.Close)
	hang := make(chan struct{})
	hanging := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(hang); hanging.Close() })

	tests := []struct {
		name    string
		servers []string
		refuse  bool // else the good key is pinned
	}{
		{"the hostile one last", []string{good.ts.URL, hostile.ts.URL}, true},
		{"the hostile one first", []string{hostile.ts.URL, good.ts.URL}, true},
		{"two of the publisher's", []string{good.ts.URL, twin.ts.URL}, false},
		{"one down", []string{down, good.ts.URL}, false},
		{"one without /key", []string{good.ts.URL, noKey.URL}, false},
		{"one that hangs", []string{good.ts.URL, hanging.URL}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			opts := syncOpts(tt.servers[0], dir, nil)
			opts.ServerURLs = tt.servers
			start := time.Now()
			res, err := catalogclient.Sync(context.Background(), opts)
			if took := time.Since(start); took > 10*time.Second {
				t.Errorf("the sync took %v: the other servers' keys are waited for at most a few seconds", took)
			}
			_, pinErr := os.Stat(filepath.Join(dir, "server.key"))
			if tt.refuse {
				var d *catalogclient.KeysDisagreeError
				if !errors.As(err, &d) {
					t.Fatalf("Sync = %+v, %v; want a KeysDisagreeError", res, err)
				}
				for _, s := range []string{good.ts.URL + " presents " + right.Public().String(), hostile.ts.URL + " presents " + wrong.Public().String(), "server_key in client.yaml", "dist-server key"} {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q\nwant it to say %q", err, s)
					}
				}
				if !errors.Is(pinErr, os.ErrNotExist) {
					t.Errorf("server.key exists after the refusal (%v)", pinErr)
				}
				if _, err := catalogclient.Path(dir); !errors.Is(err, catalogclient.ErrNoCatalog) {
					t.Errorf("a catalog is held after the refusal (%v)", err)
				}
				return
			}
			if err != nil || !res.Pinned.Equal(right.Public()) || res.Serial != 3 {
				t.Fatalf("Sync = %+v, %v; want the publisher's key pinned at serial 3", res, err)
			}
		})
	}
}

// A key given (server_key) or already pinned asks no other server for
// its key: only the first use does.
func TestKeysComparedOnFirstUseOnly(t *testing.T) {
	t.Parallel()
	right, wrong := newKey(t), newKey(t)
	good := newPublisher(t, right, nil)
	good.publish(1, buildCatalog(t, 1, "", "foo"))
	hostile := newPublisher(t, wrong, nil)
	hostile.publish(1, buildCatalog(t, 1, "", "evil"))
	servers := []string{good.ts.URL, hostile.ts.URL}

	given := syncOpts(good.ts.URL, t.TempDir(), right.Public())
	given.ServerURLs = servers
	if res, err := catalogclient.Sync(context.Background(), given); err != nil || res.Server != good.ts.URL {
		t.Fatalf("Sync with server_key = %+v, %v; want the good server's catalog", res, err)
	}

	dir := t.TempDir()
	mustSync(t, syncOpts(good.ts.URL, dir, nil)) // pinned from one server
	good.publish(2, buildCatalog(t, 2, "", "foo", "bar"))
	opts := syncOpts(good.ts.URL, dir, nil)
	opts.ServerURLs = servers
	if res, err := catalogclient.Sync(context.Background(), opts); err != nil || res.Serial != 2 || res.Pinned != nil {
		t.Fatalf("Sync with a pinned key = %+v, %v; want serial 2, nothing pinned", res, err)
	}
}

// A first use interrupted while the other servers' keys are awaited
// pins nothing: their silence was the interruption's, not theirs, and the
// key was pinned unchecked.
func TestFirstUseInterruptedPinsNothing(t *testing.T) {
	t.Parallel()
	right := newKey(t)
	good := newPublisher(t, right, nil)
	good.publish(3, buildCatalog(t, 3, "", "foo"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	asked := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == catalogclient.PathKey {
			cancel() // Ctrl-C while the other server is asked
		}
		<-r.Context().Done()
	}))
	t.Cleanup(asked.Close)
	dir := t.TempDir()
	opts := syncOpts(good.ts.URL, dir, nil)
	opts.ServerURLs = []string{good.ts.URL, asked.URL}
	res, err := catalogclient.Sync(ctx, opts)
	if err == nil {
		t.Errorf("Sync interrupted = %+v, nil; want an error", res)
	}
	if _, err := os.Stat(filepath.Join(dir, "server.key")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("server.key exists after an interrupted first use (%v)", err)
	}
	if _, err := catalogclient.Path(dir); !errors.Is(err, catalogclient.ErrNoCatalog) {
		t.Errorf("a catalog is held after an interrupted first use (%v)", err)
	}
}
