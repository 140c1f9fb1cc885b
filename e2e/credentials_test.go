package e2e

// A private repository behind a web server with HTTP basic auth: clients
// write the user and password in server_url(s), and they must reach the
// server and nothing else: no message, --json field, log line or file
// the client or a mirror writes holds the password.

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/nettest"
)

// password is in every URL the story gives; it must show nowhere else.
const password = "secret"

// authProxy serves backend (http://HOST:PORT) on a loopback port to
// requests that give user and pass as HTTP basic auth, and answers the
// others 401, as a web server guarding a private repository does. It
// returns its host:port.
func authProxy(t *testing.T, ln net.Listener, user, pass, backend string) {
	t.Helper()
	target, err := url.Parse(backend)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// /old/... moved to /..., redirected with an absolute Location
		// (as nginx writes them) before any password is asked.
		if rest, ok := strings.CutPrefix(r.URL.Path, "/old/"); ok {
			http.Redirect(w, r, "http://"+r.Host+"/"+rest, http.StatusMovedPermanently)
			return
		}
		u, p, ok := r.BasicAuth()
		if !ok || u != user || p != pass {
			w.Header().Set("WWW-Authenticate", `Basic realm="distpac"`)
			http.Error(w, "401 Unauthorized", http.StatusUnauthorized)
			return
		}
		// /forbidden/...: the user is known and not allowed there.
		if strings.HasPrefix(r.URL.Path, "/forbidden/") {
			http.Error(w, "403 Forbidden", http.StatusForbidden)
			return
		}
		r.Header.Del("Authorization")
		rp.ServeHTTP(w, r)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}

// loopback listens on a free loopback port.
func loopback(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// leaks fails the test for each line of out that holds the password.
func leaks(t *testing.T, what, out string) {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, password) {
			t.Errorf("%s shows the password: %s", what, line)
		}
	}
}

// leaksInFiles fails the test for each file under dir, but skip, that
// holds the password, and for each name that does.
func leaksInFiles(t *testing.T, dir string, skip ...string) {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.Contains(d.Name(), password) {
			t.Errorf("%s: its name holds the password", path)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		n++
		for _, s := range skip {
			if path == s {
				return nil
			}
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if strings.Contains(string(b), password) {
			t.Errorf("%s holds the password", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Errorf("no file under %s to check", dir)
	}
}

// TestCredentialsNeverLeak: a publisher's catalog server behind basic
// auth (its seeder off, so the archives come over HTTP from the servers'
// /packages/ only). A client lists a server that is down, one that
// refuses its password and the right one: sync, install (without and
// through the daemon), status, trust show, history and a sync --from the
// refusing one work or fail as they should, and the password shows in no
// output and no file of the client's data home or configuration folder
// but client.yaml. A client with a wrong password alone is told the
// server refused it (401) and what to check; a mirror following the
// server behind auth keeps the password out of its output, status and
// files too.
func TestCredentialsNeverLeak(t *testing.T) {
	t.Parallel() // a waiting test (e2e_test.go)
	if testing.Short() {
		t.Skip("a server behind basic auth, a client, its daemon and a mirror")
	}
	good, refusing := loopback(t), loopback(t)
	goodAddr, refusingAddr := good.Addr().String(), refusing.Addr().String()
	down := nettest.Refused(t)
	r := newRig(t, fmt.Sprintf("public_url: \"http://%s\"\nweb_seed: true\n", goodAddr))
	authProxy(t, good, "user", password, "http://"+r.h.dbAddr)
	authProxy(t, refusing, "user", "another", "http://"+r.h.dbAddr)
	r.server("add", r.mkpkg("alpha", "1.0.0", 200<<10), r.mkpkg("beta", "1.0.0", 100<<10))
	r.server("start", "--no-seeder")

	goodURL := "http://user:" + password + "@" + goodAddr
	refusingURL := "http://user:" + password + "@" + refusingAddr
	for _, d := range []string{"creds", "cfg", "wrong", "wronginstall", "wrongcfg", "mirrorhome"} {
		os.MkdirAll(r.path(d), 0o755)
	}
	r.writeYAML("cfg/client.yaml", fmt.Sprintf("server_urls:\n  - \"http://user:%s@%s\"\n  - %q\n  - %q\nprefix: %q\npeer_addr: \"127.0.0.1:0\"\n",
		password, down, refusingURL, goodURL, r.path("prefix1")))
	os.Chmod(r.path("cfg/client.yaml"), 0o600)
	client := func(args ...string) string {
		t.Helper()
		out := r.run("dist-client", "creds", "cfg/client.yaml", args...)
		leaks(t, "dist-client "+strings.Join(args, " "), out)
		return out
	}
	fails := func(home, config string, args ...string) string {
		t.Helper()
		out, err := r.try("dist-client", home, config, args...)
		if err == nil {
			t.Fatalf("dist-client %s succeeded:\n%s", strings.Join(args, " "), out)
		}
		leaks(t, "dist-client "+strings.Join(args, " "), out)
		return out
	}

	out := client("-v", "sync")
	t.Logf("sync past a server down and one refusing the password:\n%s", out)
	if strings.Contains(out, "every user can read it") {
		t.Errorf("a client.yaml of mode 0600 was warned of:\n%s", out)
	}
	if !strings.Contains(out, "catalog updated: serial") || !strings.Contains(out, "catalog from http://user:xxxxx@"+goodAddr) {
		t.Errorf("sync past a server down and one refusing the password:\n%s", out)
	}
	if !strings.Contains(out, "http://user:xxxxx@"+refusingAddr+"/packages.db: 401 Unauthorized") {
		t.Errorf("sync does not say the second server refused the password (401):\n%s", out)
	}
	client("sync", "--json")
	// The archive over HTTP only (no seeder): from the server's
	// /packages/, with the user and password of server_urls.
	if out := client("-v", "install", "alpha"); !strings.Contains(out, "installed alpha 1.0.0") {
		t.Errorf("install through the server behind basic auth:\n%s", out)
	}
	client("install", "--dry-run", "--json", "beta")
	client("install", "--dry-run", "beta")
	client("status")
	client("status", "--json")
	client("trust", "show")
	client("trust", "show", "--json")
	client("history")
	out = fails("creds", "cfg/client.yaml", "sync", "--from", refusingURL)
	if !strings.Contains(out, "401 Unauthorized") {
		t.Errorf("sync --from the refusing server:\n%s", out)
	}

	// Through the daemon.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	d := r.start(ctx, "dist-client", "creds", "cfg/client.yaml", "daemon", "-v")
	if !poll(20*time.Second, func() bool {
		_, err := os.Stat(r.path("creds", "distpac", "client", "daemon.sock"))
		return err == nil
	}) {
		t.Fatalf("the daemon never listened:\n%s", d.out)
	}
	if out := client("-v", "install", "beta"); !strings.Contains(out, "installed beta 1.0.0") {
		t.Errorf("install through the daemon:\n%s", out)
	}
	client("status", "--json")
	client("uninstall", "beta")
	client("history", "--json")
	d.cmd.Process.Signal(os.Interrupt)
	select {
	case err := <-d.done:
		d.done <- err // for the rig's cleanup
	case <-time.After(30 * time.Second):
		t.Fatal("the daemon did not stop within 30 s of SIGINT")
	}
	leaks(t, "dist-client daemon -v", d.out.String())

	// The wrong password alone: 401, the URL masked, what to check.
	r.writeYAML("wrongcfg/client.yaml", fmt.Sprintf("server_url: %q\nprefix: %q\n", refusingURL, r.path("prefix2")))
	out = fails("wrong", "wrongcfg/client.yaml", "sync")
	// Written 0644: the client warns that every user can read it.
	wrongCfg := r.path("wrongcfg/client.yaml")
	want := fmt.Sprintf("warning: %[2]s holds a password (in server_url) and every user can read it (mode 0644): chmod 600 %[2]s\n"+
		"dist-client: sync: GET http://user:xxxxx@%[1]s/packages.db: 401 Unauthorized\nhint: the server asks for a user and password (HTTP basic auth): check the user and password in server_url in %[2]s\n",
		refusingAddr, wrongCfg)
	if out != want {
		t.Errorf("a sync with the wrong password said\n%s\nwant\n%s", out, want)
	}
	// An install with the wrong password, its catalog synced before (a
	// home of its own): the archive's 401 has the sync's hint (it had none).
	installCfg := r.path("wrongcfg/install.yaml")
	r.writeYAML("wrongcfg/install.yaml", fmt.Sprintf("server_url: %q\nprefix: %q\npeer_addr: \"127.0.0.1:0\"\n", goodURL, r.path("prefix3")))
	r.run("dist-client", "wronginstall", "wrongcfg/install.yaml", "sync")
	r.writeYAML("wrongcfg/install.yaml", fmt.Sprintf("server_url: %q\nprefix: %q\npeer_addr: \"127.0.0.1:0\"\n", refusingURL, r.path("prefix3")))
	out = fails("wronginstall", "wrongcfg/install.yaml", "install", "beta")
	if want := "/packages/beta-1.0.0.tar.zst: HTTP 401 Unauthorized"; !strings.Contains(out, want) {
		t.Errorf("an install with the wrong password said\n%s\nwant %q", out, want)
	}
	if want := fmt.Sprintf("\nhint: the server asks for a user and password (HTTP basic auth): check the user and password in server_url in %s\n", installCfg); !strings.HasSuffix(out, want) {
		t.Errorf("an install with the wrong password said\n%s\nwant it to end with %q", out, want)
	}
	// A 403: the server took the password and refuses the user there.
	r.writeYAML("wrongcfg/client.yaml", fmt.Sprintf("server_url: %q\nprefix: %q\n", goodURL+"/forbidden", r.path("prefix2")))
	out = fails("wrong", "wrongcfg/client.yaml", "sync")
	syncHint := fmt.Sprintf("hint: http://user:xxxxx@%s/forbidden/packages.db refuses this user (403 Forbidden", goodAddr)
	if !strings.Contains(out, syncHint) {
		t.Errorf("a sync answered 403 said\n%s\nwant %q", out, syncHint)
	}
	// An install whose archive's server answers 403 ends with the same
	// hint, naming the web seed and its own client.yaml (the no-source
	// error had wording of its own, and no hint).
	_, syncLine, _ := strings.Cut(out, "\nhint: ")
	r.writeYAML("wrongcfg/install.yaml", fmt.Sprintf("server_url: %q\nprefix: %q\npeer_addr: \"127.0.0.1:0\"\n", goodURL+"/forbidden", r.path("prefix3")))
	out = fails("wronginstall", "wrongcfg/install.yaml", "install", "beta")
	want = "\nhint: " + strings.NewReplacer("/forbidden/packages.db ", "/forbidden/packages/ ", r.path("wrongcfg/client.yaml"), installCfg).Replace(syncLine)
	if !strings.HasSuffix(out, want) || strings.Contains(out, "refuses this client") {
		t.Errorf("an install answered 403 said\n%s\nwant it to end with the sync's hint, naming the web seed:%s", out, want)
	}
	// A path moved on the same server, redirected by absolute URL: the
	// password follows it (it did not, and the sync failed with 401).
	r.writeYAML("wrongcfg/client.yaml", fmt.Sprintf("server_url: %q\nprefix: %q\n", goodURL+"/old", r.path("prefix2")))
	if out, err := r.try("dist-client", "wrong", "wrongcfg/client.yaml", "sync"); err != nil || !strings.Contains(out, "catalog updated") {
		t.Errorf("a sync through a redirect to the same server: %v\n%s", err, out)
	} else {
		leaks(t, "dist-client sync (redirected)", out)
	}
	// A server down: its URL masked in the error.
	r.writeYAML("wrongcfg/client.yaml", fmt.Sprintf("server_url: \"http://user:%s@%s\"\nprefix: %q\n", password, down, r.path("prefix2")))
	fails("wrong", "wrongcfg/client.yaml", "sync", "--json")
	// A URL client.yaml refuses, quoted in the error.
	r.writeYAML("wrongcfg/client.yaml", fmt.Sprintf("server_url: \"http://user:%s@%s:99999\"\n", password, "127.0.0.1"))
	fails("wrong", "wrongcfg/client.yaml", "sync")

	// A mirror following the server behind auth.
	r.writeYAML("mirror.yaml", fmt.Sprintf("database_addr: %q\npeer_addr: \"127.0.0.1:0\"\n", r.h.mirrorAddr))
	t.Cleanup(func() { r.try("dist-server", "mirrorhome", "mirror.yaml", "stop") })
	out, _ = r.try("dist-server", "mirrorhome", "mirror.yaml", "mirror", "--interval", "300ms", goodURL)
	leaks(t, "dist-server mirror", out)
	if st, err := r.try("dist-server", "mirrorhome", "mirror.yaml", "status", "--json"); err == nil {
		leaks(t, "dist-server status --json (mirror)", st)
		// The background mirror got its URLs in its environment: a
		// command line is every local user's to read (ps).
		var info struct {
			PID int `json:"pid"`
		}
		if err := json.Unmarshal([]byte(st), &info); err != nil || info.PID <= 0 {
			t.Errorf("dist-server status --json (mirror): no pid: %v\n%s", err, st)
		} else if cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", info.PID)); err != nil {
			t.Errorf("the mirror's command line: %v", err)
		} else {
			leaks(t, "the background mirror's command line", strings.ReplaceAll(string(cmdline), "\x00", " "))
		}
	}
	if st, err := r.try("dist-server", "mirrorhome", "mirror.yaml", "status"); err == nil {
		leaks(t, "dist-server status (mirror)", st)
	}
	r.try("dist-server", "mirrorhome", "mirror.yaml", "stop")

	// The publisher's own public_url with a password: every torrent and
	// the catalog would publish it, so server.yaml is refused.
	r.writeYAML("leaky.yaml", fmt.Sprintf("public_url: \"http://user:%s@%s\"\nweb_seed: true\n", password, goodAddr))
	os.MkdirAll(r.path("leakyhome"), 0o755)
	out, err := r.try("dist-server", "leakyhome", "leaky.yaml", "add", r.mkpkg("gamma", "1.0.0", 10<<10))
	if want := r.path("leaky.yaml") + `:1: key "public_url": "http://user:xxxxx@` + goodAddr + `" holds a user and password`; err == nil || !strings.Contains(out, want) {
		t.Errorf("dist-server add with a password in public_url: %v\n%s\nwant %q", err, out, want)
	}
	leaks(t, "dist-server add (public_url with a password)", out)

	leaksInFiles(t, r.path("creds"))
	leaksInFiles(t, r.path("cfg"), r.path("cfg/client.yaml"))
	leaksInFiles(t, r.path("wrong"))
	leaksInFiles(t, r.path("wronginstall"))
	leaksInFiles(t, r.path("mirrorhome"))
}

// TestMirrorRefusedHint: a mirror whose primary refuses it (a web server's
// basic auth in front of a private repository) is told where its user and
// password go, or that a 403 is the primary's administrator's to lift: it
// said only "sync: GET …: 401 Unauthorized" (or 403), and in the
// background "hint: see server.log", whose last line was the same.
func TestMirrorRefusedHint(t *testing.T) {
	if testing.Short() {
		t.Skip("a server behind basic auth and three mirrors it refuses")
	}
	front := loopback(t)
	addr := front.Addr().String()
	r := newRig(t, "")
	authProxy(t, front, "user", password, "http://"+r.h.dbAddr)
	r.server("add", r.mkpkg("alpha", "1.0.0", 10<<10))
	r.server("start", "--no-seeder")
	r.writeYAML("mirror.yaml", fmt.Sprintf("database_addr: %q\npeer_addr: \"127.0.0.1:0\"\n", r.h.mirrorAddr))
	for _, c := range []struct {
		name, url, want string
		background      bool
	}{
		{"no password", "http://" + addr, "hint: the primary asks for a user and password (HTTP basic auth): give them in its URL, as http(s)://USER:PASSWORD@HOST[:PORT], in DISTPAC_PRIMARY_URLS", false},
		{"no password, in the background", "http://" + addr, "hint: the primary asks for a user and password (HTTP basic auth): give them in its URL", true},
		{"a wrong password", "http://user:wrong@" + addr, "hint: the primary asks for a user and password (HTTP basic auth) and refused those in its URL: check them", false},
		{"a user not allowed there", "http://user:" + password + "@" + addr + "/forbidden", "hint: http://user:xxxxx@" + addr + "/forbidden/packages.db refuses this user (403 Forbidden", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			home := "mirror-" + strings.ReplaceAll(c.name, " ", "-")
			os.MkdirAll(r.path(home), 0o755)
			args := []string{"mirror", "--foreground", c.url}
			if c.background {
				args = []string{"mirror", c.url}
			}
			t.Cleanup(func() { r.try("dist-server", home, "mirror.yaml", "stop") })
			out, err := r.try("dist-server", home, "mirror.yaml", args...)
			if err == nil {
				t.Fatalf("the mirror started:\n%s", out)
			}
			leaks(t, "dist-server mirror", out)
			if !strings.Contains(out, c.want) {
				t.Errorf("want %q in:\n%s", c.want, out)
			}
		})
	}
}
