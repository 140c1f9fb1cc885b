package clientcli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/distpac/distpac/internal/catalogclient"
	"github.com/distpac/distpac/internal/cli"
	"github.com/distpac/distpac/internal/config"
	"github.com/distpac/distpac/internal/httpbound"
	"github.com/distpac/distpac/internal/swarm"
)

func TestAllRefused(t *testing.T) {
	refused := fmt.Errorf("sync: GET http://a/packages.db: %w", &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)})
	behind := errors.New("sync: catalog serial 1 is older than the one held (2): refusing a rollback")
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"one server, refused", refused, true},
		{"one server, another error", behind, false},
		{"every server refused", catalogclient.ServersError{{URL: "http://a", Err: refused}, {URL: "http://b", Err: refused}}, true},
		{"one refused, one behind", catalogclient.ServersError{{URL: "http://a", Err: refused}, {URL: "http://b", Err: behind}}, false},
	} {
		if got := allRefused(tc.err); got != tc.want {
			t.Errorf("%s: allRefused = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestServerHint(t *testing.T) {
	dial := func(err error) error {
		return fmt.Errorf("sync: GET http://x/packages.db: %w", &net.OpError{Op: "dial", Net: "tcp", Err: err})
	}
	refused := dial(os.NewSyscallError("connect", syscall.ECONNREFUSED))
	noHost := dial(&net.DNSError{Err: "no such host", Name: "no-such-host.invalid", IsNotFound: true})
	dnsDown := dial(&net.DNSError{Err: "server misbehaving", Name: "pkgs.example.org", IsTemporary: true})
	unreachable := dial(os.NewSyscallError("connect", syscall.EHOSTUNREACH))
	behind := errors.New("sync: catalog serial 1 is older than the one held (2): refusing a rollback")
	unauthorized := fmt.Errorf("sync: GET https://u:xxxxx@repo.example/packages.db: %w", catalogclient.ErrUnauthorized)
	badSig := fmt.Errorf("sync: verify http://x/packages.db with key ed25519:K: %w", catalogclient.ErrBadSignature)
	one := &config.Client{ServerURL: "http://no-such-host.invalid:9090"}
	two := &config.Client{ServerURLs: []string{"http://a:9090", "http://b:9090"}}
	const severalPublishers = "server_urls in c.yaml lists one publisher's servers (its primary and its mirrors, one catalog signed by one key), not several publishers: another publisher's packages need a client of their own (its own XDG_DATA_HOME and client.yaml)"
	const newKey = "every server tried gives a catalog the pinned key did not sign, as after the publisher made a new key (dist-server key new): once its operator confirms the new key, trust it as the error says; "
	for _, tc := range []struct {
		name    string
		err     error
		cfg     *config.Client
		missing bool
		want    string
	}{
		{"refused", refused, one, false, "is dist-server running? check server_url in c.yaml"},
		// A name that does not resolve had no hint at all.
		{"no such host", noHost, one, false, "the host name no-such-host.invalid does not resolve: check server_url in c.yaml"},
		{"DNS server down", dnsDown, one, false, "check server_url in c.yaml"},
		{"host unreachable", unreachable, one, false, "check server_url in c.yaml"},
		{"no client.yaml", noHost, one, true, "the host name no-such-host.invalid does not resolve: no client.yaml at c.yaml, so the default server_url " + config.DefaultServerURL + " was used: write the server's URL there as server_url"},
		{"every server unreachable", catalogclient.ServersError{{URL: "http://a:9090", Err: noHost}, {URL: "http://b:9090", Err: refused}}, two, false,
			"the host name no-such-host.invalid does not resolve: check server_urls in c.yaml"},
		{"one unreachable, one behind", catalogclient.ServersError{{URL: "http://a:9090", Err: noHost}, {URL: "http://b:9090", Err: behind}}, two, false, ""},
		// A key the second server's catalog does not verify with, the
		// first down: two publishers listed, perhaps.
		{"one refused, one bad signature", catalogclient.ServersError{{URL: "http://a:9090", Err: refused}, {URL: "http://b:9090", Err: badSig}}, two, false, severalPublishers},
		// Every server alike (sync, and sync --from one): the publisher's
		// key changed.
		{"every server bad signature", catalogclient.ServersError{{URL: "http://a:9090", Err: badSig}, {URL: "http://b:9090", Err: badSig}}, two, false, newKey + severalPublishers},
		{"--from, bad signature", badSig, two, false, newKey + severalPublishers},
		{"one server, bad signature", badSig, one, false, ""},
		// A private repository behind basic auth: where the user and
		// password go, or that they were refused.
		{"401 with a password", unauthorized, &config.Client{ServerURL: "https://u:pw@repo.example"}, false, "the server asks for a user and password (HTTP basic auth): check the user and password in server_url in c.yaml"},
		{"401 without", unauthorized, one, false, "the server asks for a user and password (HTTP basic auth): give them in server_url in c.yaml, as http(s)://USER:PASSWORD@HOST[:PORT]"},
		{"behind", behind, one, false, ""},
		// An install whose every source refused the connection.
		{"every source refused", fmt.Errorf("download x-1.tar.zst: %w", swarm.ErrUnreachable), one, false, "is dist-server running? check server_url in c.yaml"},
		// server_url at a BitTorrent port: the URL is what to check.
		{"not HTTP", fmt.Errorf("sync: http://x:6881 %w", catalogclient.ErrNotHTTP), one, false, "check server_url in c.yaml"},
		// A client.yaml that sets no server_url: "check server_url in
		// c.yaml" sent a newcomer to a file without one.
		{"default server_url", refused, &config.Client{ServerURL: config.DefaultServerURL}, false, "is dist-server running? check server_url in c.yaml: it is " + config.DefaultServerURL + ", the default when the file sets none; write the server's URL there (dist-server start prints it)"},
	} {
		if got := serverHint(tc.err, tc.cfg, "c.yaml", tc.missing); got != tc.want {
			t.Errorf("%s: serverHint =\n %q, want\n %q", tc.name, got, tc.want)
		}
	}
}

// TestServerHintRefused: a 403 (with a password and without) gets a hint
// of its own, naming the URL masked, where it got none; a 401 or 403 from
// where a redirect to another host led (which gets no password) says so
// rather than blaming the password. The errors come from real syncs.
func TestServerHintRefused(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/away/") {
			http.Redirect(w, r, "http://"+strings.Replace(r.Host, "127.0.0.1", "localhost", 1)+strings.TrimPrefix(r.URL.Path, "/away"), http.StatusFound)
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
	withPassword := "http://u:pw@" + host
	for _, tc := range []struct {
		name, url, want string
	}{
		{"403 with a password", withPassword, "http://u:xxxxx@" + host + "/packages.db refuses this user (403 Forbidden: the password was taken, and the user is not allowed this repository, or the server forbids that path): ask the repository's administrator to allow the user there, or check the user and URL in server_url in c.yaml"},
		{"403 with a user alone", "http://u@" + host, "http://u@" + host + "/packages.db refuses the request (403 Forbidden: the server forbids that path, or allows only some users or addresses): check the URL in server_url in c.yaml (a private repository's user and password go there, as http(s)://USER:PASSWORD@HOST[:PORT]), or ask the server's administrator"},
		{"401 after a redirect to another host", withPassword + "/away", "the server redirected the request to another scheme, host or port, which distpac sends no user and password to (they go only where server_url says): if that server is the repository's, write its URL (https:// for a redirect to https) in server_url in c.yaml"},
	} {
		cfg := &config.Client{ServerURL: tc.url}
		_, err := catalogclient.Sync(context.Background(), catalogclient.Options{ServerURL: tc.url, Dir: t.TempDir()})
		if err == nil {
			t.Fatalf("%s: the sync worked", tc.name)
		}
		if got := serverHint(err, cfg, "c.yaml", false); got != tc.want {
			t.Errorf("%s: serverHint for %v =\n %q, want\n %q", tc.name, err, got, tc.want)
		}
	}
}

// TestSyncFrom: --from names one of the servers, whole or with its
// password masked as sync's messages show it; an error masks both.
func TestSyncFrom(t *testing.T) {
	servers := []string{"http://a:9090", "https://u:secret@repo.example/"}
	for _, tc := range []struct{ from, want, err string }{
		{"", "", ""},
		{"http://a:9090/", "http://a:9090", ""},
		{"https://u:secret@repo.example", "https://u:secret@repo.example/", ""},
		{"https://u:xxxxx@repo.example/", "https://u:secret@repo.example/", ""},
		{"https://u:other@repo.example/", "", "sync: --from https://u:xxxxx@repo.example is not one of the servers in client.yaml (http://a:9090, https://u:xxxxx@repo.example/)"},
	} {
		got, err := syncFrom(tc.from, servers)
		if got != tc.want || (err == nil) != (tc.err == "") || err != nil && err.Error() != tc.err {
			t.Errorf("syncFrom(%q) = %q, %v; want %q, %q", tc.from, got, err, tc.want, tc.err)
		}
	}
}

// TestReadableByOthers: a client.yaml holding a password that every user
// can read, or a group of other users (adm, staff), is worth a warning;
// one only its owner (and the owner's private group) can read is not.
func TestReadableByOthers(t *testing.T) {
	for _, tc := range []struct {
		mode os.FileMode
		gid  int // -1: the file's group as made (the caller's primary group)
		who  string
	}{
		{0o600, -1, ""}, {0o640, -1, ""}, {0o644, -1, "every user"}, {0o604, -1, "every user"},
		// A group that is nobody's private one (a gid without a name).
		{0o640, 4243, "its group (gid 4243)"}, {0o600, 4243, ""}, {0o644, 4243, "every user"},
	} {
		if tc.gid < 0 && tc.mode&0o040 != 0 && tc.who == "" && !primaryGroupPrivate() {
			// The caller's primary group is shared (openSUSE's users):
			// a group-readable file is rightly worth a warning there.
			t.Logf("mode %04o: the primary group is not the user's own; row skipped", tc.mode)
			continue
		}
		path := filepath.Join(t.TempDir(), "client.yaml")
		if err := os.WriteFile(path, []byte("server_url: https://u:pw@h\n"), tc.mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(path, tc.mode) // past the umask
		if tc.gid >= 0 {
			if err := os.Chown(path, -1, tc.gid); err != nil {
				t.Logf("mode %04o gid %d: %v (a group of another: needs root)", tc.mode, tc.gid, err)
				continue
			}
		}
		want := ""
		if tc.who != "" {
			want = fmt.Sprintf("%s holds a password (in server_url) and %s can read it (mode %04o): chmod 600 %s", path, tc.who, tc.mode, path)
		}
		if got := readableByOthers(path, "server_url"); got != want {
			t.Errorf("mode %04o gid %d: readableByOthers = %q, want %q", tc.mode, tc.gid, got, want)
		}
	}
}

// TestDownloadHintWithoutClientYAML: an archive's 401 with no client.yaml
// (the sync worked with the default server_url) gets the 401's hint, not
// the newcomer's "write the server's URL there as server_url".
func TestDownloadHintWithoutClientYAML(t *testing.T) {
	t.Setenv("XDG_DATA_HOME", t.TempDir())
	e := &env{}
	err := fmt.Errorf("install: web seed http://127.0.0.1:9090/packages/a.tar.zst: %w", httpbound.ErrUnauthorized)
	var h *cli.Hinted
	if !errors.As(e.withDownloadHint(err), &h) {
		t.Fatalf("no hint on %v", err)
	}
	if !strings.Contains(h.Hint, "asks for a user and password") || strings.Contains(h.Hint, "write the server's URL") {
		t.Errorf("hint %q: want the 401's, not the missing client.yaml's", h.Hint)
	}
	if got := e.withDownloadHint(errors.New("no source")); got.Error() != "no source" || errors.As(got, &h) {
		t.Errorf("an error that is no 401 got %v", got)
	}
}

// primaryGroupPrivate reports whether the caller's primary group is named
// as the user (a user private group, safedir's rule).
func primaryGroupPrivate() bool {
	u, err := user.Current()
	if err != nil {
		return false
	}
	g, err := user.LookupGroupId(u.Gid)
	return err == nil && g.Name == u.Username
}
