package e2e

// Standard parts (issue 11): the catalog pair and archives served by a
// stock web server, opentracker in place of the embedded tracker, and
// torrents naming several trackers of which the first is dead. Each test
// starts the distribution's program itself, on 127.0.0.1, with a
// configuration it writes, and stops it by its PID.

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/nettest"
	"github.com/distpac/distpac/internal/proctest"
)

// needProgram skips the test when the program is not installed (.ci/run
// installs it).
func needProgram(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		for _, dir := range []string{"/usr/sbin", "/usr/bin"} {
			if _, serr := os.Stat(filepath.Join(dir, name)); serr == nil {
				return filepath.Join(dir, name)
			}
		}
		t.Skipf("%s is not installed (apt-get install %s): skipping", name, name)
	}
	return p
}

// daemonProcess starts a program in the foreground as the test's child,
// waits until addr accepts connections, and stops it by its PID with sig
// when the test ends.
func daemonProcess(t *testing.T, addr string, sig syscall.Signal, name string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := proctest.Start(cmd); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(sig)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill() // our own child, by its PID
			<-done
		}
	})
	if err := waitTCP(addr, 10*time.Second); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out.String())
	}
	return cmd
}

// copyFile copies src to dst with mode 0644.
func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestStaticMirrorNginx: the catalog pair, the key rotation statements and
// the archives, copied into a folder that a stock nginx serves, are a
// complete mirror. With the publisher stopped, a client that lists both
// syncs through nginx (following a key rotation from its static
// statements; the second sync is a 304 on nginx's own ETag) and installs
// from nginx as a web seed.
func TestStaticMirrorNginx(t *testing.T) {
	if testing.Short() {
		t.Skip("runs nginx and a 5 s web-seed wait")
	}
	nginx := needProgram(t, "nginx")
	r := newRig(t, "web_seed: true\n")
	primary := "http://" + r.h.dbAddr
	static := "http://" + r.h.mirrorAddr
	size := int64(200 << 10)
	r.server("add", r.mkpkg("alpha", "1.0.0", size))
	r.server("start")
	r.writeYAML("client1.yaml", fmt.Sprintf("server_urls:\n  - %s\n  - %s\nprefix: %q\npeer_addr: \"127.0.0.1:0\"\n", primary, static, r.path("prefix1")))
	r.client1("sync") // pins the publisher's key
	r.server("key", "rotate")
	r.server("stop")

	// The mirror's tree, as an rsync of the publisher's public/ and
	// archives/ folders would make it: archives first, the pair last.
	root := r.path("nginx")
	htdocs := filepath.Join(root, "htdocs")
	server := r.path("server", "distpac", "server")
	copyFile(t, filepath.Join(server, "archives", "alpha-1.0.0.tar.zst"), filepath.Join(htdocs, "packages", "alpha-1.0.0.tar.zst"))
	for _, f := range []string{"packages.db.rotation", "packages.db", "packages.db.sig"} {
		copyFile(t, filepath.Join(server, "public", f), filepath.Join(htdocs, f))
	}
	// A configuration of its own: its prefix, pid file, logs and temp
	// folders under the test's directory; in the foreground, one process,
	// so no root is needed (as root it serves as root).
	conf := filepath.Join(root, "nginx.conf")
	os.MkdirAll(filepath.Join(root, "tmp"), 0o755)
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(`daemon off;
master_process off;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log;
events { worker_connections 64; }
http {
	access_log %[1]s/access.log;
	client_body_temp_path %[1]s/tmp/body;
	proxy_temp_path %[1]s/tmp/proxy;
	fastcgi_temp_path %[1]s/tmp/fastcgi;
	uwsgi_temp_path %[1]s/tmp/uwsgi;
	scgi_temp_path %[1]s/tmp/scgi;
	types { application/zstd zst; }
	server {
		listen %[2]s;
		root %[1]s/htdocs;
	}
}
`, root, r.h.mirrorAddr)), 0o644); err != nil {
		t.Fatal(err)
	}
	daemonProcess(t, r.h.mirrorAddr, syscall.SIGQUIT, nginx, "-p", root, "-e", filepath.Join(root, "error.log"), "-c", conf)

	start := time.Now()
	out := r.client1("sync")
	t.Logf("sync through nginx, the publisher down: %v\n%s", time.Since(start).Round(time.Millisecond), out)
	for _, want := range []string{"warning: server " + primary + " failed (after ", "connection refused", "catalog from " + static, "following the server's key rotation", "catalog updated"} {
		if !strings.Contains(out, want) {
			t.Errorf("sync output lacks %q", want)
		}
	}
	// The publisher, down a moment ago, is now tried last: nginx answers
	// first, and sync says so (with several servers it names the one).
	if out := r.client1("sync"); !strings.Contains(out, "catalog up to date as "+static+" serves it") || !strings.Contains(out, "catalog from "+static) {
		t.Errorf("second sync through nginx: %s", out)
	}
	// --json stays JSON alone, and says it there.
	var js struct {
		Updated bool   `json:"updated"`
		Server  string `json:"server"`
	}
	if out, err := r.try("dist-client", "client1", "client1.yaml", "sync", "--json"); err != nil || json.Unmarshal([]byte(out), &js) != nil || js.Server != static || js.Updated {
		t.Errorf("sync --json through nginx: %v: %q (%+v)", err, out, js)
	}
	start = time.Now()
	out = r.client1("install", "-v", "alpha")
	t.Logf("install from nginx as a web seed: %v", time.Since(start).Round(time.Millisecond))
	if !strings.Contains(out, "installed alpha 1.0.0") || !strings.Contains(out, "seed="+static+"/packages/") {
		t.Fatalf("install through nginx: %s", out)
	}
	cmpfilesOrFail(t, r.path("prefix1", "alpha", "data.bin"), r.path("pkgs", "alpha-1.0.0", "assets", "data.bin"))
	if log := readFile(filepath.Join(root, "access.log")); !strings.Contains(log, "GET /packages/alpha-1.0.0.tar.zst") || !strings.Contains(log, " 206 ") {
		t.Errorf("nginx's access log shows no range request for the archive:\n%s", log)
	}
}

// announceOK asks the tracker about infohash (hex) as a fresh leecher and
// reports whether it answered with peers rather than a failure reason.
func announceOK(t *testing.T, announce, infohash string) (bool, string) {
	t.Helper()
	ih, err := hex.DecodeString(infohash)
	if err != nil || len(ih) != 20 {
		t.Fatalf("infohash %q: %v", infohash, err)
	}
	q := url.Values{"info_hash": {string(ih)}, "peer_id": {"-XX0001-abcdefghijkl"}, "port": {"1"}, "left": {"1"}, "compact": {"1"}, "numwant": {"0"}}
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(announce + "?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return !bytes.Contains(b, []byte("failure reason")), string(b)
}

// TestOpentracker: opentracker replaces the embedded tracker. dist-server
// writes the whitelist opentracker needs on every publication (one it has
// not reloaded refuses the new package; after SIGHUP it serves it); with
// the publisher's seeder gone, a second client finds the first one's
// daemon through opentracker alone and installs from it.
func TestOpentracker(t *testing.T) {
	if testing.Short() {
		t.Skip("runs opentracker")
	}
	// opentracker reads the whitelist as nobody: a world-readable folder.
	dir, err := os.MkdirTemp("", "distpac-opentracker-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	wl := filepath.Join(dir, "whitelist")
	bin := needProgram(t, "opentracker")
	r, ot := opentrackerRig(t, wl)
	otURL := ot.url
	r.server("add", r.mkpkg("alpha", "1.0.0", 300<<10))
	alpha := r.pkgInfoHash("alpha", "1.0.0")
	if got := strings.TrimSpace(readFile(wl)); got != alpha {
		t.Fatalf("whitelist after add: %q, want alpha's infohash %s", got, alpha)
	}
	cmd := daemonProcess(t, ot.addr, syscall.SIGTERM, bin, ot.args...)
	if !poll(5*time.Second, func() bool { ok, _ := announceOK(t, otURL, alpha); return ok }) {
		_, body := announceOK(t, otURL, alpha)
		t.Fatalf("opentracker refuses alpha, which its whitelist lists: %s", body)
	}

	// A new package: refused until opentracker reloads the whitelist.
	r.server("add", r.mkpkg("beta", "1.0.0", 1000))
	beta := r.pkgInfoHash("beta", "1.0.0")
	if lines := strings.Fields(readFile(wl)); len(lines) != 2 {
		t.Fatalf("whitelist after the second add: %q", lines)
	}
	if ok, body := announceOK(t, otURL, beta); ok {
		t.Fatalf("opentracker served beta before reloading its whitelist: %s", body)
	}
	cmd.Process.Signal(syscall.SIGHUP)
	if !poll(5*time.Second, func() bool { ok, _ := announceOK(t, otURL, beta); return ok }) {
		t.Fatal("opentracker still refuses beta after SIGHUP")
	}

	// No embedded tracker: the seeder announces to opentracker.
	r.server("start", "--no-tracker")
	r.client1("sync")
	r.client1("install", "alpha")
	r.start(context.Background(), "dist-client", "client1", "client1.yaml", "daemon")
	if !poll(20*time.Second, func() bool {
		var st struct {
			Daemon *struct {
				Torrents int `json:"torrents"`
			} `json:"daemon"`
		}
		out, err := r.try("dist-client", "client1", "client1.yaml", "status", "--json")
		return err == nil && json.Unmarshal([]byte(out), &st) == nil && st.Daemon != nil && st.Daemon.Torrents == 1
	}) {
		t.Fatal("client1's daemon did not start seeding alpha")
	}
	r.client2("sync")
	r.server("stop") // the publisher's seeder is gone; client1's daemon is not
	start := time.Now()
	out := r.client2("install", "alpha")
	t.Logf("install from a peer found through opentracker alone: %v", time.Since(start).Round(time.Millisecond))
	if !strings.Contains(out, "installed alpha 1.0.0") {
		t.Fatalf("install through opentracker: %s", out)
	}
	cmpfilesOrFail(t, r.path("prefix2", "alpha", "data.bin"), r.path("pkgs", "alpha-1.0.0", "assets", "data.bin"))
}

// TestDeadTrackersCostSeconds: torrents list three trackers (announce_urls),
// the first refusing connections, the second accepting them and never
// answering, the third the embedded one. The seeder has no fixed port (so
// the catalog names no seeder address), so an install must find it
// through a tracker: it costs the 5 s reply timeout once, not minutes.
func TestDeadTrackersCostSeconds(t *testing.T) {
	if testing.Short() {
		t.Skip("a 5 s tracker timeout")
	}
	refused := nettest.Refused(t)
	hanging, accepted := nettest.Hanging(t)
	r := newRig(t, "")
	r.writeYAML("server.yaml", fmt.Sprintf("database_addr: %q\ntracker_addr: %q\npeer_addr: \"127.0.0.1:0\"\nannounce_urls:\n  - http://%s/announce\n  - http://%s/announce\n  - http://%s/announce\n",
		r.h.dbAddr, r.h.trackerAdr, refused, hanging, r.h.trackerAdr))
	r.server("add", r.mkpkg("p1", "1.0.0", 100<<10), r.mkpkg("p2", "1.0.0", 100<<10), r.mkpkg("p3", "1.0.0", 100<<10))
	r.server("start")
	r.client1("sync")
	start := time.Now()
	out := r.client1("install", "p1", "p2", "p3")
	took := time.Since(start)
	t.Logf("install of 3 packages past a refused and a hanging tracker: %v (the hanging one took %d connections)", took.Round(time.Millisecond), accepted.Load())
	for _, p := range []string{"p1", "p2", "p3"} {
		if !strings.Contains(out, "installed "+p+" 1.0.0") {
			t.Fatalf("install: %s", out)
		}
	}
	if accepted.Load() == 0 {
		t.Error("the hanging tracker was never asked: the torrents do not list it first")
	}
}

func (r *rig) client2(args ...string) string {
	return r.run("dist-client", "client2", "client2.yaml", args...)
}

// pkgInfoHash is a published package's infohash, from the server's
// working catalog.
func (r *rig) pkgInfoHash(name, version string) string {
	r.t.Helper()
	ctx := context.Background()
	db, err := catalog.OpenReadOnly(ctx, r.path("server", "distpac", "server", "catalog.db"))
	if err != nil {
		r.t.Fatal(err)
	}
	defer db.Close()
	p, err := db.Get(ctx, name, version)
	if err != nil {
		r.t.Fatal(err)
	}
	return p.InfoHash
}
