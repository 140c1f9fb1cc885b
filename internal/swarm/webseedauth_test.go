package swarm

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/httpbound"
	"github.com/distpac/distpac/internal/torrentmeta"
)

// TestWebSeedCredentials: a web seed behind basic auth, its user and
// password in its URL (a client's server_urls). A redirect to the same
// origin keeps them (an absolute Location, as nginx writes them, dropped
// them, and the download failed on a 401); a redirect to another host
// name gets none, and the download's error says so; a 403 is told apart
// from a 401, naming the seed with its password masked.
func TestWebSeedCredentials(t *testing.T) {
	t.Parallel() // a waiting test (swarm_test.go)
	path := filepath.Join(t.TempDir(), "pkg-1.0.0.tar.zst")
	writeRandom(t, path, 100<<10)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var leaked atomic.Int64 // requests to the other host name with the password
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, port, _ := net.SplitHostPort(r.Host)
		switch {
		case strings.HasPrefix(r.URL.Path, "/old/"):
			http.Redirect(w, r, "http://"+r.Host+strings.TrimPrefix(r.URL.Path, "/old"), http.StatusMovedPermanently)
			return
		case strings.HasPrefix(r.URL.Path, "/away/"):
			http.Redirect(w, r, "http://localhost:"+port+strings.TrimPrefix(r.URL.Path, "/away"), http.StatusFound)
			return
		}
		if strings.HasPrefix(r.Host, "localhost:") && strings.Contains(strings.Join(r.Header.Values("Authorization"), "")+r.Referer(), "c2VjcmV0") {
			leaked.Add(1) // "c2VjcmV0" is base64 of "secret", in user:secret's
		}
		if u, p, ok := r.BasicAuth(); !ok || u != "user" || p != "secret" {
			http.Error(w, "401 Unauthorized", http.StatusUnauthorized)
			return
		}
		if strings.HasPrefix(r.URL.Path, "/forbidden/") {
			http.Error(w, "403 Forbidden", http.StatusForbidden)
			return
		}
		http.ServeContent(w, r, filepath.Base(path), time.Time{}, bytes.NewReader(data))
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	for _, tc := range []struct {
		name, base string
		password   string         // "secret" when empty
		want       []string       // in the error; none for a download that works
		is         map[error]bool // what the error matches (errors.Is), and what not
		refused    string         // httpbound.RefusedURL for a 403
	}{
		{name: "a redirect to the same origin", base: "/old"},
		// What to do about a 401 or 403, after a redirect or not, is
		// dist-client's hint, the sync's (serverHint): the error names
		// the seed and its answer, matches what the hint needs, and
		// explains it no more (it had wording of its own).
		{name: "a redirect to another host", base: "/away", want: []string{
			"HTTP 401 Unauthorized (redirected to http://localhost:",
		}, is: map[error]bool{httpbound.ErrUnauthorized: true, httpbound.ErrNotSent: true, httpbound.ErrForbidden: false}},
		{name: "forbidden", base: "/forbidden", want: []string{
			"HTTP (last resort) http://user:xxxxx@" + host + "/forbidden/packages/pkg-1.0.0.tar.zst: HTTP 403 Forbidden",
		}, is: map[error]bool{httpbound.ErrForbidden: true, httpbound.ErrUnauthorized: false, httpbound.ErrNotSent: false},
			refused: "http://user:xxxxx@" + host + "/forbidden/packages/"},
		// A 401 matches httpbound.ErrUnauthorized, as a sync's does:
		// dist-client gives both the one hint of where the password goes.
		{name: "a wrong password", password: "wrong", want: []string{
			"HTTP (last resort) http://user:xxxxx@" + host + "/packages/pkg-1.0.0.tar.zst: HTTP 401 Unauthorized",
		}, is: map[error]bool{httpbound.ErrUnauthorized: true, httpbound.ErrForbidden: false, httpbound.ErrNotSent: false, ErrNoSource: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			meta, err := torrentmeta.Build(path, "", "")
			if err != nil {
				t.Fatal(err)
			}
			leecher, err := New(Config{Dir: t.TempDir(), ListenAddr: "127.0.0.1:0", DisableTrackers: true,
				MirrorWebSeeds: []string{MirrorSeed("http://user:" + cmp.Or(tc.password, "secret") + "@" + host + tc.base)},
				WebSeedAfter:   100 * time.Millisecond, GiveUpAfter: 2 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer leecher.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			err = leecher.Download(ctx, meta.Torrent, nil, nil)
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("the download worked")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q\nlacks %q", err, w)
				}
			}
			for target, want := range tc.is {
				if got := errors.Is(err, target); got != want {
					t.Errorf("errors.Is(%q, %q) = %v, want %v", err, target, got, want)
				}
			}
			if got := httpbound.RefusedURL(err, http.StatusForbidden); got != tc.refused {
				t.Errorf("RefusedURL(%q, 403) = %q, want %q", err, got, tc.refused)
			}
			if strings.Contains(err.Error(), "refuses") || strings.Contains(err.Error(), "sends no user and password") {
				t.Errorf("%q explains the refusal, which dist-client's hint does", err)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("%q shows the password", err)
			}
		})
	}
	if n := leaked.Load(); n > 0 {
		t.Errorf("the other host name got the password %d times", n)
	}
}
