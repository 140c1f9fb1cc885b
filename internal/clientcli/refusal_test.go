package clientcli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/catalogclient"
	"github.com/distpac/distpac/internal/cli"
	"github.com/distpac/distpac/internal/config"
	"github.com/distpac/distpac/internal/httpbound"
	"github.com/distpac/distpac/internal/nettest"
	"github.com/distpac/distpac/internal/swarm"
	"github.com/distpac/distpac/internal/torrentmeta"
)

// TestRefusalReadsTheSame: a 403, and a 401 from where a redirect to
// another host led, read the same whether the sync met them or an
// archive's download over HTTP did: one hint (serverHint), naming the
// catalog's URL or the web seed's. The archive's no-source error had
// wording of its own for them ("refuses this client the archive", "check
// the user in server_url or server_urls in client.yaml") and no hint. The
// errors come from a real sync and a real engine's download.
func TestRefusalReadsTheSame(t *testing.T) {
	if testing.Short() {
		t.Skip("an engine's download that gives up after 2 s, twice")
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rest, ok := strings.CutPrefix(r.URL.Path, "/away/"); ok {
			http.Redirect(w, r, "http://"+strings.Replace(r.Host, "127.0.0.1", "localhost", 1)+"/"+rest, http.StatusFound)
			return
		}
		if _, _, ok := r.BasicAuth(); !ok {
			http.Error(w, "401 Unauthorized", http.StatusUnauthorized)
			return
		}
		http.Error(w, "403 Forbidden", http.StatusForbidden)
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	archive := filepath.Join(t.TempDir(), "pkg-1.0.0.tar.zst")
	if err := os.WriteFile(archive, bytes.Repeat([]byte("distpac"), 10000), 0o644); err != nil {
		t.Fatal(err)
	}
	meta, err := torrentmeta.Build(archive, "", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("XDG_DATA_HOME", t.TempDir())
	for _, tc := range []struct {
		name, base string
		// The hint names the catalog's URL for the sync, the web seed's
		// for the archive (none for a redirect).
		syncURL, seedURL string
	}{
		{name: "403", base: "/forbidden", syncURL: "http://u:xxxxx@" + host + "/forbidden/packages.db", seedURL: "http://u:xxxxx@" + host + "/forbidden/packages/"},
		{name: "401 after a redirect to another host", base: "/away"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := "http://u:pw@" + host + tc.base
			cfgPath := filepath.Join(t.TempDir(), "client.yaml")
			if err := os.WriteFile(cfgPath, []byte("server_url: "+url+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			e := &env{Global: cli.Global{Config: cfgPath}}
			_, syncErr := catalogclient.Sync(context.Background(), catalogclient.Options{ServerURL: url, Dir: t.TempDir()})
			if syncErr == nil {
				t.Fatal("the sync worked")
			}
			cfg, _, err := e.config()
			if err != nil {
				t.Fatal(err)
			}
			want := hintOf(e.withServerHint(syncErr, cfg))
			if want == "" {
				t.Fatalf("the sync's %v has no hint", syncErr)
			}
			if tc.syncURL != "" {
				if !strings.HasPrefix(want, tc.syncURL+" ") {
					t.Fatalf("the sync's hint %q does not name %s", want, tc.syncURL)
				}
				want = tc.seedURL + strings.TrimPrefix(want, tc.syncURL)
			}

			engine, err := swarm.New(swarm.Config{Dir: t.TempDir(), ListenAddr: "127.0.0.1:0", DisableTrackers: true,
				MirrorWebSeeds: []string{swarm.MirrorSeed(url)}, WebSeedAfter: 100 * time.Millisecond, GiveUpAfter: 2 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer engine.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			dlErr := engine.Download(ctx, meta.Torrent, nil, nil)
			if !errors.Is(dlErr, swarm.ErrNoSource) {
				t.Fatalf("the download: %v, want no source", dlErr)
			}
			if got := hintOf(e.withDownloadHint(dlErr)); got != want {
				t.Errorf("the archive's %v\nhas the hint\n %q\nwant the sync's\n %q", dlErr, got, want)
			}
			if msg := dlErr.Error(); strings.Contains(msg, "refuses") || strings.Contains(msg, "client.yaml") {
				t.Errorf("the archive's error explains the refusal with wording of its own: %s", msg)
			}
		})
	}
}

// hintOf is err's hint ("" for none).
func hintOf(err error) string {
	var h *cli.Hinted
	if errors.As(err, &h) {
		return h.Hint
	}
	return ""
}

// seed401 is a download's error that a web seed at url answered 401, as
// the engine's (or the daemon's, carried across its socket) matches it.
type seed401 struct{ url string }

func (e seed401) Error() string        { return "no source: web seed " + e.url + ": HTTP 401 Unauthorized" }
func (e seed401) Is(target error) bool { return target == httpbound.ErrUnauthorized }
func (e seed401) RefusedURL(code int) string {
	if code == http.StatusUnauthorized {
		return e.url
	}
	return ""
}

// TestWebSeedOutsideServersHint: a 401 from a web seed the package's
// torrent names on no server of server_urls (a CDN) says so, since
// distpac sends the user and password only to those servers; "give them
// in server_url" could not help (an attacker's run). A 401 from a server
// of server_urls keeps the hint of where they go.
func TestWebSeedOutsideServersHint(t *testing.T) {
	withPassword := &config.Client{ServerURL: "https://u:pw@repo.example"}
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"the server's /packages/", seed401{"https://u:xxxxx@repo.example/packages/"},
			"the server asks for a user and password (HTTP basic auth): check the user and password in server_url in c.yaml"},
		{"the same origin, port written out", seed401{"https://repo.example:443/packages/"},
			"the server asks for a user and password (HTTP basic auth): check the user and password in server_url in c.yaml"},
		{"a web seed elsewhere", seed401{"https://cdn.example/pkgs/"},
			"https://cdn.example/pkgs/ asks for a user and password (HTTP basic auth), and it is a web seed the package's torrent names, not one of the servers in server_url in c.yaml, the only ones distpac sends a user and password to: ask the publisher to serve the archives there without one"},
		{"no URL known", fmt.Errorf("download: %w", httpbound.ErrUnauthorized),
			"the server asks for a user and password (HTTP basic auth): check the user and password in server_url in c.yaml"},
	} {
		if got := serverHint(tc.err, withPassword, "c.yaml", false); got != tc.want {
			t.Errorf("%s: hint\n%q\nwant\n%q", tc.name, got, tc.want)
		}
	}
}

// TestHintOfTheServerThatRefused: of two servers, one given a password
// and one not, the hint is about the one that refused (named, since there
// are two): "check the password" of one given none sent the user to a
// password that does not exist, and a 403 of one given none read "the
// password was taken". The errors come from real syncs.
func TestHintOfTheServerThatRefused(t *testing.T) {
	asks, forbids, fails := nettest.Answering(t, http.StatusUnauthorized), nettest.Answering(t, http.StatusForbidden), nettest.Answering(t, http.StatusInternalServerError)
	for _, tc := range []struct {
		name    string
		servers []string
		want    string
	}{
		{"401 from the one without, the other with", []string{"http://" + asks, "http://u:pw@" + fails},
			"http://" + asks + "/packages.db asks for a user and password (HTTP basic auth): give them in server_urls in c.yaml, as http(s)://USER:PASSWORD@HOST[:PORT]"},
		{"401 from the one with, the other without", []string{"http://" + fails, "http://u:pw@" + asks},
			"http://u:xxxxx@" + asks + "/packages.db asks for a user and password (HTTP basic auth): check the user and password in server_urls in c.yaml"},
		{"403 from the one without, the other with", []string{"http://" + forbids, "http://u:pw@" + fails},
			"http://" + forbids + "/packages.db refuses the request (403 Forbidden: the server forbids that path, or allows only some users or addresses): check the URL in server_urls in c.yaml (a private repository's user and password go there, as http(s)://USER:PASSWORD@HOST[:PORT]), or ask the server's administrator"},
		{"403 from the one with, the other without", []string{"http://" + fails, "http://u:pw@" + forbids},
			"http://u:xxxxx@" + forbids + "/packages.db refuses this user (403 Forbidden: the password was taken, and the user is not allowed this repository, or the server forbids that path): ask the repository's administrator to allow the user there, or check the user and URL in server_urls in c.yaml"},
	} {
		_, err := catalogclient.Sync(context.Background(), catalogclient.Options{ServerURLs: tc.servers, Dir: t.TempDir()})
		if err == nil {
			t.Fatalf("%s: the sync worked", tc.name)
		}
		if got := serverHint(err, &config.Client{ServerURLs: tc.servers}, "c.yaml", false); got != tc.want {
			t.Errorf("%s: serverHint for %v =\n %q, want\n %q", tc.name, err, got, tc.want)
		}
	}
}
