package e2e

// More than one seeder (issue 11): dist-server mirror follows a primary,
// clients list servers in server_urls and fail over within seconds, and
// a client finds a mirror's seeder through the primary's tracker.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/nettest"
)

// get fetches url: status code and body (at most 64 MiB).
func get(t *testing.T, url string) (int, []byte) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, b
}

// servedFiles are what a catalog server serves for a mirror to copy.
var servedFiles = []string{"/packages.db", "/packages.db.sig", "/packages.db.rotation"}

// samePair waits until the servers at a and b serve byte-identical
// catalog files (the rotation file may be absent from both), and returns
// the catalog's serial as served by a.
func samePair(t *testing.T, a, b string) {
	t.Helper()
	var diff string
	if poll(20*time.Second, func() bool {
		for _, f := range servedFiles {
			ca, ba := get(t, a+f)
			cb, bb := get(t, b+f)
			if ca != cb || !bytes.Equal(ba, bb) {
				diff = fmt.Sprintf("%s: %d (%d bytes) from %s, %d (%d bytes) from %s", f, ca, len(ba), a, cb, len(bb), b)
				return false
			}
		}
		return true
	}) {
		return
	}
	t.Fatalf("%s and %s never served the same catalog: %s", a, b, diff)
}

// writeYAML writes a config file under the rig's work directory.
func (r *rig) writeYAML(name, text string) {
	r.t.Helper()
	if err := os.WriteFile(r.path(name), []byte(text), 0o644); err != nil {
		r.t.Fatal(err)
	}
}

// mirrorYAML is the server.yaml of a mirror serving at the harness's
// mirrorAddr, its seeder on any port of 127.0.0.1, with extra lines after.
func (r *rig) mirrorYAML(extra string) string {
	return fmt.Sprintf("database_addr: %q\npeer_addr: \"127.0.0.1:0\"\n", r.h.mirrorAddr) + extra
}

// startMirror starts dist-server mirror ARGS in the home "mirror" with
// mirror.yaml's text yaml, stopped when the test ends, and returns what
// the start said. Given an archive, it then waits until the mirror at url
// serves it; with "", it does not ask the mirror (a GET would count in
// its uploads, and a capped mirror would take its time).
func (r *rig) startMirror(yaml, url, archive string, args ...string) string {
	r.t.Helper()
	os.MkdirAll(r.path("mirror"), 0o755)
	r.writeYAML("mirror.yaml", yaml)
	r.t.Cleanup(func() { r.try("dist-server", "mirror", "mirror.yaml", "stop") })
	out := r.run("dist-server", "mirror", "mirror.yaml", append([]string{"mirror"}, args...)...)
	if archive != "" && !poll(30*time.Second, func() bool { code, _ := get(r.t, url+"/packages/"+archive); return code == 200 }) {
		r.t.Fatalf("the mirror never served %s", archive)
	}
	return out
}

// mirrorStatus reads dist-server status --json of the mirror's home.
func (r *rig) mirrorStatus(home, config string) (serial, uploaded int64) {
	r.t.Helper()
	var st struct {
		Serial   int64 `json:"serial"`
		Uploaded int64 `json:"uploaded_bytes"`
	}
	out := r.run("dist-server", home, config, "status", "--json")
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		r.t.Fatalf("mirror status: %v: %s", err, out)
	}
	return st.Serial, st.Uploaded
}

// TestMirror: a mirror follows a primary that runs no seeder of its own
// (so the mirror fetches the archives from the primary's web seed, and
// clients can get them only from the mirror's seeder or a web seed). It
// serves the primary's catalog byte for byte, a key rotation included,
// and drops what the primary withdraws;
// a client with server_urls installs from the mirror's seeder, found
// through the primary's tracker; with the primary gone, a client fails
// over past a refused and a hanging server to the mirror for the catalog
// and to the mirror's web seed for the archive; and the mirror keeps
// following the primary's re-signing, so its catalog never expires.
func TestMirror(t *testing.T) {
	t.Parallel() // a waiting test (e2e_test.go)
	if testing.Short() {
		t.Skip("a primary, a mirror and two clients")
	}
	const validFor = 4 * time.Second
	r := newRig(t, fmt.Sprintf("web_seed: true\ncatalog_valid_for: %s\n", validFor))
	primary := "http://" + r.h.dbAddr
	mirror := "http://" + r.h.mirrorAddr
	size := int64(300 << 10)
	r.server("add", r.mkpkg("alpha", "1.0.0", size), r.mkpkg("beta", "1.0.0", 2000))
	r.server("start", "--no-seeder")
	key := strings.TrimSpace(r.server("key"))

	// The mirror: its own data home and server.yaml.
	os.MkdirAll(r.path("client3"), 0o755)
	start := time.Now()
	out := r.startMirror(r.mirrorYAML(""), mirror, "", "--interval", "300ms", primary)
	t.Logf("mirror ready in %v (archives from the primary's web seed):\n%s", time.Since(start).Round(time.Millisecond), out)
	if !strings.Contains(out, "dist-server mirror running") || !strings.Contains(out, "following "+primary) ||
		!strings.Contains(out, "TRUST ON FIRST USE: pinned the key "+primary+" presented, "+key+" (") {
		t.Fatalf("mirror start said:\n%s", out)
	}
	st := r.run("dist-server", "mirror", "mirror.yaml", "status")
	if !strings.HasPrefix(st, "dist-server mirror running (pid ") || // as mirror said it
		!strings.Contains(st, "mirror of: "+primary) || !strings.Contains(st, "packages:  2") || !strings.Contains(st, "seeding 2") ||
		strings.Contains(st, "known to the tracker") || // a mirror runs no tracker
		!valuesAligned(st) {
		t.Fatalf("mirror status:\n%s", st)
	}
	samePair(t, primary, mirror)
	if code, b := get(t, mirror+"/packages/alpha-1.0.0.tar.zst"); code != 200 || int64(len(b)) < size {
		t.Fatalf("mirror web seed: %d, %d bytes", code, len(b))
	}
	if _, b := get(t, mirror+"/key"); strings.TrimSpace(string(b)) != key {
		t.Fatalf("mirror /key: %q, want %q", b, key)
	}
	// In the mirror's data home, list shows what it serves and key refuses
	// to make a key of its own (clients given it would refuse the mirror).
	if out := r.run("dist-server", "mirror", "mirror.yaml", "list"); !strings.Contains(out, "alpha") || !strings.Contains(out, "beta") {
		t.Fatalf("list in the mirror's data home:\n%s", out)
	}
	if out, err := r.try("dist-server", "mirror", "mirror.yaml", "key"); err == nil || !strings.Contains(out, "run dist-server key on the primary") {
		t.Fatalf("key in the mirror's data home: %v\n%s", err, out)
	}
	if _, err := os.Stat(r.path("mirror", "distpac", "server", "signing.key")); !os.IsNotExist(err) {
		t.Fatalf("key made a signing key in the mirror's data home (%v)", err)
	}

	// A client with both servers installs; the only seeder is the mirror's,
	// which the primary's tracker lists.
	r.writeYAML("client1.yaml", fmt.Sprintf("server_urls:\n  - %s\n  - %s\nserver_key: %q\nprefix: %q\npeer_addr: \"127.0.0.1:0\"\n",
		primary, mirror, key, r.path("prefix1")))
	r.client1("sync")
	start = time.Now()
	out = r.client1("install", "alpha")
	t.Logf("install through the mirror's seeder: %v", time.Since(start).Round(time.Millisecond))
	if !strings.Contains(out, "installed alpha 1.0.0") {
		t.Fatalf("install: %s", out)
	}
	if _, up := r.mirrorStatus("mirror", "mirror.yaml"); up < size {
		t.Errorf("the mirror's seeder sent %d bytes, want the archive (%d): clients did not find it through the tracker", up, size)
	}

	// A key rotation reaches the mirror's clients: the statement is served
	// byte for byte, and a client that pinned the old key follows it
	// from the mirror alone.
	r.writeYAML("client3.yaml", fmt.Sprintf("server_url: %s\nprefix: %q\npeer_addr: \"127.0.0.1:0\"\n", mirror, r.path("prefix3")))
	r.run("dist-client", "client3", "client3.yaml", "sync") // pins the key, from the mirror
	r.server("key", "rotate")
	if !poll(10*time.Second, func() bool { code, _ := get(t, primary+"/packages.db.rotation"); return code == 200 }) {
		t.Fatal("the primary never served its rotation statement")
	}
	samePair(t, primary, mirror)
	out = r.run("dist-client", "client3", "client3.yaml", "sync")
	if !strings.Contains(out, "following the server's key rotation") {
		t.Fatalf("sync from the mirror after a rotation: %s", out)
	}

	// A package the primary withdraws leaves the mirror too: its archive
	// is no longer served, seeded or kept.
	r.server("remove", "beta@1.0.0")
	samePair(t, primary, mirror)
	if !poll(10*time.Second, func() bool {
		code, _ := get(t, mirror+"/packages/beta-1.0.0.tar.zst")
		return code == http.StatusNotFound
	}) {
		t.Error("the mirror still serves a withdrawn archive")
	}
	// The archive goes from the disk after the new catalog is served
	// (mirror_fetch.go): a look right after the 404 saw it still there.
	var kept error
	if !poll(10*time.Second, func() bool {
		_, kept = os.Stat(r.path("mirror", "distpac", "server", "mirror", "archives", "beta-1.0.0.tar.zst"))
		return os.IsNotExist(kept)
	}) {
		t.Errorf("the mirror keeps a withdrawn archive (%v)", kept)
	}
	servedSerial, _ := r.mirrorStatus("mirror", "mirror.yaml")

	// The primary re-signs every validFor/2 and the mirror follows: after
	// the catalog's validity has passed, a client of the mirror alone
	// still syncs a valid, newer catalog.
	time.Sleep(validFor)
	out = r.run("dist-client", "client3", "client3.yaml", "sync")
	if now, _ := r.mirrorStatus("mirror", "mirror.yaml"); now <= servedSerial || !strings.Contains(out, "catalog updated") {
		t.Fatalf("after %v the mirror serves serial %d (was %d); client3 sync: %s", validFor, now, servedSerial, out)
	}

	// A catalog valid for an hour, so that it outlives the primary's
	// absence below (the primary re-signs at start with the new validity).
	r.server("stop")
	r.writeYAML("server.yaml", strings.Replace(readFile(r.path("server.yaml")), fmt.Sprintf("catalog_valid_for: %s\n", validFor), "catalog_valid_for: 1h\n", 1))
	r.server("start", "--no-seeder")
	samePair(t, primary, mirror)

	// The primary goes away. A client listing a refused server, a hanging
	// one, the primary and the mirror syncs from the mirror and installs
	// from the mirror's web seed: no tracker, no seeder it can reach.
	r.server("stop")
	refused := nettest.Refused(t)
	hanging, _ := nettest.Hanging(t)
	r.writeYAML("client2.yaml", fmt.Sprintf("server_urls: [http://%s, http://%s, %s, %s]\nprefix: %q\npeer_addr: \"127.0.0.1:0\"\n",
		refused, hanging, primary, mirror, r.path("prefix2")))
	start = time.Now()
	out = r.run("dist-client", "client2", "client2.yaml", "sync")
	t.Logf("sync failing over past a refused, a hanging and a stopped server: %v\n%s", time.Since(start).Round(time.Millisecond), out)
	for _, want := range []string{
		"warning: server http://" + refused + " failed (after ",
		"connection refused",
		"warning: server http://" + hanging + " failed (after 5",
		"no answer within 5s",
		"warning: server " + primary + " failed (after ",
		"catalog from " + mirror,
		"TRUST ON FIRST USE: pinned the key of " + mirror,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("sync output lacks %q", want)
		}
	}
	start = time.Now()
	out = r.run("dist-client", "client2", "client2.yaml", "install", "-v", "alpha")
	t.Logf("install from the mirror's web seed, primary down: %v", time.Since(start).Round(time.Millisecond))
	if !strings.Contains(out, "installed alpha 1.0.0") || !strings.Contains(out, "seed="+mirror+"/packages/") {
		t.Fatalf("install with the primary down: %s", out)
	}
	cmpfilesOrFail(t, r.path("prefix2", "alpha", "data.bin"), filepath.Join(r.path("pkgs"), "alpha-1.0.0", "assets", "data.bin"))
}

func cmpfilesOrFail(t *testing.T, a, b string) {
	t.Helper()
	if err := cmpfiles(a, b); err != nil {
		t.Fatal(err)
	}
}

// With the publisher's default web_seed (off), a mirror in server_urls
// still serves an install when the publisher is down, its tracker and
// seeder with it: the client turns to the mirrors' /packages/ as a last
// resort, once BitTorrent has no source. Before, the install failed with
// "no source" while the mirror had the archive.
func TestMirrorFailoverWithoutWebSeed(t *testing.T) {
	if testing.Short() {
		t.Skip("a primary, a mirror and a client")
	}
	r := newRig(t, "")
	primary := "http://" + r.h.dbAddr
	mirror := "http://" + r.h.mirrorAddr
	r.server("add", r.mkpkg("alpha", "1.0.0", 200<<10))
	r.server("start")
	key := strings.TrimSpace(r.server("key"))
	r.startMirror(r.mirrorYAML(""), mirror, "alpha-1.0.0.tar.zst", "--interval", "300ms", primary)
	r.writeYAML("client1.yaml", fmt.Sprintf("server_urls:\n  - %s\n  - %s\nserver_key: %q\nprefix: %q\npeer_addr: \"127.0.0.1:0\"\n",
		primary, mirror, key, r.path("prefix1")))
	r.client1("sync")
	r.server("stop")
	start := time.Now()
	out := r.client1("install", "-v", "alpha")
	t.Logf("install with the publisher down, from the mirror's /packages/: %v", time.Since(start).Round(time.Millisecond))
	if !strings.Contains(out, "installed alpha 1.0.0") || !strings.Contains(out, "seed="+mirror+"/packages/") {
		t.Fatalf("install with the primary down: %s", out)
	}
	if d := time.Since(start); d > 8*time.Second {
		t.Errorf("the install took %v; want the mirror within seconds", d)
	}
	cmpfilesOrFail(t, r.path("prefix1", "alpha", "data.bin"), filepath.Join(r.path("pkgs"), "alpha-1.0.0", "assets", "data.bin"))
}

// TestPublisherAndMirrorShareARelease: a publisher and a mirror, both with
// a capped uplink, and clients installing a package at once: the mirror's
// seeder takes its share, and the two send different pieces (third_party
// patch 47): 1.05-1.11 F together in 2.6-2.9 s (F/2U 2 s). Before, both
// gave the clients their pieces in the same order, and the clients asked
// neither seed while they traded, since each had what the other had: 1.5-
// 1.6 F in 33 s, two runs.
func TestPublisherAndMirrorShareARelease(t *testing.T) {
	if testing.Short() {
		t.Skip("a capped publisher, a capped mirror and six clients")
	}
	const clients = 6
	r := newRig(t, "upload_rate_limit: \"1MiB\"\n")
	primary := "http://" + r.h.dbAddr
	size := int64(4 << 20)
	r.server("add", r.mkpkg("big", "1.0.0", size))
	r.server("start")
	// The mirror's start returns once it seeds the archive.
	r.startMirror(r.mirrorYAML("upload_rate_limit: \"1MiB\"\n"), "", "", primary)
	pubBefore := r.uploaded() // what the mirror downloaded
	for i := range clients {
		home := fmt.Sprintf("c%d", i)
		os.MkdirAll(r.path(home), 0o755)
		r.writeYAML(home+".yaml", fmt.Sprintf("server_url: %s\nprefix: %q\npeer_addr: \"127.0.0.1:0\"\nupload_rate_limit: \"2MiB\"\n", primary, r.path(home, "prefix")))
		r.run("dist-client", home, home+".yaml", "sync")
	}
	start := time.Now()
	errs := make(chan error, clients)
	for i := range clients {
		home := fmt.Sprintf("c%d", i)
		go func() {
			out, err := r.try("dist-client", home, home+".yaml", "install", "big")
			if err != nil {
				err = fmt.Errorf("%s: install: %v\n%s", home, err, out)
			}
			errs <- err
		}()
	}
	for range clients {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	pub := float64(r.uploaded()-pubBefore) / float64(size)
	_, m := r.mirrorStatus("mirror", "mirror.yaml")
	mir := float64(m) / float64(size)
	t.Logf("%d installs in %v: the publisher sent them %.2f F, the mirror %.2f F", clients, time.Since(start).Round(time.Millisecond), pub, mir)
	if mir < 0.3 || pub+mir > 1.5 {
		t.Errorf("the publisher sent %.2f F and the mirror %.2f F, want the mirror at least 0.3 F and both at most 1.5 F: they sent the same pieces", pub, mir)
	}
}

// valuesAligned reports whether the values of a status's "  label: value"
// lines all start in one column (a mirror's longer labels were one off).
func valuesAligned(status string) bool {
	col := -1
	for _, l := range strings.Split(status, "\n") {
		label, _, ok := strings.Cut(l, ":")
		if name := strings.TrimSpace(label); !strings.HasPrefix(l, "  ") || !ok || strings.Contains(name, " ") && name != "mirror of" {
			continue
		}
		c := len(l) - len(strings.TrimLeft(l[len(label)+1:], " "))
		if col >= 0 && c != col {
			return false
		}
		col = c
	}
	return col >= 0
}
