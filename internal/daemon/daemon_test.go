package daemon

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/buftest"
	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/swarm"
	"github.com/distpac/distpac/internal/torrentmeta"
)

// dialEnv makes the test binary, run as another user by
// TestOtherUsersAreRefused, a client of the socket it names.
const dialEnv = "DISTPAC_DAEMON_TEST_DIAL"

func TestMain(m *testing.M) {
	if sock := os.Getenv(dialEnv); sock != "" {
		os.Exit(dialAndReport(sock))
	}
	os.Exit(m.Run())
}

// dialAndReport GETs /status over the socket and prints the status code
// and body, or the error.
func dialAndReport(sock string) int {
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
	}}
	resp, err := c.Get("http://daemon/status")
	if err != nil {
		fmt.Printf("error: %v\n", err)
		return 0
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	fmt.Printf("status %d\n%s", resp.StatusCode, body)
	return 0
}

// startDaemon listens at sock and serves with a real engine and the
// catalog of catalogDir until the test ends; it returns the daemon's log.
func startDaemon(t *testing.T, sock, catalogDir string) *buftest.Buffer {
	t.Helper()
	return startDaemonIn(t, sock, catalogDir, t.TempDir())
}

// startDaemonIn is startDaemon with the engine's files in cacheDir.
func startDaemonIn(t *testing.T, sock, catalogDir, cacheDir string) *buftest.Buffer {
	t.Helper()
	return startDaemonWith(t, sock, catalogDir, swarm.Config{Dir: cacheDir, ListenAddr: "127.0.0.1:0"})
}

// startDaemonWith is startDaemon with an engine of cfg.
func startDaemonWith(t *testing.T, sock, catalogDir string, cfg swarm.Config) *buftest.Buffer {
	t.Helper()
	ln, err := Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ln.Release) // after the cleanup below
	engine, err := swarm.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	logs := &buftest.Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, engine, catalogDir, slog.New(slog.NewTextHandler(logs, nil))) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		engine.Close()
	})
	return logs
}

// The socket is 0600 even under a umask that would make it group-writable.
func TestSocketIsPrivateUnderAnyUmask(t *testing.T) {
	old := syscall.Umask(0o002)
	defer syscall.Umask(old)
	sock := filepath.Join(t.TempDir(), "daemon.sock")
	ln, err := Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	fi, err := os.Stat(sock)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket %s has mode %s, want a socket with 0600", sock, fi.Mode())
	}
	var names []string
	entries, _ := os.ReadDir(filepath.Dir(sock))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != "daemon.sock daemon.sock.lock" {
		t.Errorf("directory holds %q, want only the socket and its lock (the private bind directory is removed)", names)
	}
	if _, err := Listen(sock); err == nil || !strings.Contains(err.Error(), "another daemon is running") {
		t.Errorf("second Listen = %v, want another daemon is running", err)
	}
	ln.Close()
	if _, err := os.Lstat(sock); !os.IsNotExist(err) {
		t.Errorf("socket left after Close (%v)", err)
	}
	// The lock outlives the socket until Release: the daemon still closes
	// its engine then, and another must not start beside it.
	if _, err := Listen(sock); err == nil || !strings.Contains(err.Error(), "another daemon is running") {
		t.Errorf("Listen after Close, before Release = %v, want another daemon is running", err)
	}
	ln.Release()
	ln2, err := Listen(sock)
	if err != nil {
		t.Fatalf("Listen after Release: %v", err)
	}
	ln2.Close()
	ln2.Release()
}

// A process of another user is refused: by the socket's mode, and, when the
// socket was made world-writable by hand, by the uid check (403 and a log
// line). The daemon's own user gets through.
func TestOtherUsersAreRefused(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to run a client as another uid (syscall.Credential); CI runs as root")
	}
	// A directory every user can traverse, holding the socket and a copy
	// of this test binary (the build directory is private).
	shared, err := os.MkdirTemp("", "distpac-daemon-uid-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(shared) })
	if err := os.Chmod(shared, 0o755); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	client := filepath.Join(shared, "client.test")
	if err := os.WriteFile(client, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(shared, "daemon.sock")
	logs := startDaemon(t, sock, t.TempDir())

	run := func(uid uint32) string {
		t.Helper()
		cmd := exec.Command(client, "-test.run=^$")
		cmd.Env = append(os.Environ(), dialEnv+"="+sock)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("client as uid %d: %v\n%s", uid, err, out)
		}
		return string(out)
	}
	const nobody = 65534
	if out := run(nobody); !strings.Contains(out, "permission denied") {
		t.Errorf("uid %d at the 0600 socket got %q, want permission denied", nobody, out)
	}
	if err := os.Chmod(sock, 0o666); err != nil { // widened by hand
		t.Fatal(err)
	}
	out := run(nobody)
	if !strings.HasPrefix(out, "status 403\n") || !strings.Contains(out, "forbidden: uid 65534 may not use the daemon of uid 0") {
		t.Errorf("uid %d at a world-writable socket got %q, want 403 naming the uid", nobody, out)
	}
	if !strings.Contains(logs.String(), "refused a caller of another user") || !strings.Contains(logs.String(), "uid=65534") {
		t.Errorf("no log line for the refused caller; log:\n%s", logs)
	}
	if out := run(0); !strings.HasPrefix(out, "status 200\n") {
		t.Errorf("the daemon's own user got %q, want 200", out)
	}
}

// socketAndEngine listens on a daemon socket and starts an engine, both
// released when the test ends.
func socketAndEngine(t *testing.T) (sock string, ln *Listener, engine *swarm.Engine) {
	t.Helper()
	sock = filepath.Join(t.TempDir(), "daemon.sock")
	ln, err := Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ln.Release)
	engine, err = swarm.New(swarm.Config{Dir: t.TempDir(), ListenAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { engine.Close() })
	return sock, ln, engine
}

// writeCatalog installs a verified-catalog layout (catalog -> catalog-1)
// holding foo 1.0.0 and others (each 1.0.0), whose torrents announce to
// announce, and returns foo's row.
func writeCatalog(t *testing.T, dir, announce string, others ...string) catalog.Package {
	t.Helper()
	work := t.TempDir()
	var rows []catalog.Package
	for _, name := range append([]string{"foo"}, others...) {
		rows = append(rows, archiveRow(t, work, name, bytes.Repeat([]byte("distpac "+name), 8<<10), announce))
	}
	writeRows(t, dir, rows)
	return rows[0]
}

// archiveRow writes data as name's 1.0.0 archive in work and returns its
// catalog row, whose torrent announces to announce and names seeders as
// the publisher's seeder.
func archiveRow(t *testing.T, work, name string, data []byte, announce string, seeders ...netip.AddrPort) catalog.Package {
	t.Helper()
	archive := filepath.Join(work, name+"-1.0.0.tar.zst")
	if err := os.WriteFile(archive, data, 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := torrentmeta.Build(archive, announce, "", seeders...)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return catalog.Package{Name: name, Version: "1.0.0", Archive: name + "-1.0.0.tar.zst", Size: int64(len(data)),
		InstalledSize: int64(len(data)), SHA256: hex.EncodeToString(sum[:]), InfoHash: m.InfoHash, Magnet: m.Magnet, Torrent: m.Torrent}
}

// writeRows installs a verified-catalog layout (catalog -> catalog-1) of
// rows in dir.
func writeRows(t *testing.T, dir string, rows []catalog.Package) {
	t.Helper()
	ctx := context.Background()
	db, err := catalog.Open(ctx, filepath.Join(t.TempDir(), "work.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Add(ctx, rows); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "catalog-1"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := db.Snapshot(ctx, filepath.Join(dir, "catalog-1", "packages.db")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("catalog-1", filepath.Join(dir, "catalog")); err != nil {
		t.Fatal(err)
	}
}

// The daemon takes no metainfo, tracker or URL from a caller: a request
// carrying a torrent that names a tracker and a web seed is refused and
// nothing is contacted; names not in the verified catalog are refused with
// what to do.
func TestDownloadTakesNothingFromTheCaller(t *testing.T) {
	var hits atomic.Int32
	foreign := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.Error(w, "nothing here", http.StatusNotFound)
	}))
	defer foreign.Close()

	dir := t.TempDir()
	row := writeCatalog(t, dir, "http://127.0.0.1:1/announce")
	sock := filepath.Join(t.TempDir(), "daemon.sock")
	startDaemon(t, sock, dir)

	// A torrent of the caller's own, naming the foreign server as its
	// tracker and web seed.
	payload := filepath.Join(t.TempDir(), "evil.tar.zst")
	if err := os.WriteFile(payload, bytes.Repeat([]byte("x"), 64<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	evil, err := torrentmeta.Build(payload, foreign.URL+"/announce", foreign.URL+"/seed/")
	if err != nil {
		t.Fatal(err)
	}
	post := func(body any) (int, string) {
		t.Helper()
		b, _ := json.Marshal(body)
		c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "unix", sock)
			},
		}}
		resp, err := c.Post("http://daemon/download", "application/json", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(out)
	}
	code, body := post(map[string]any{"items": []map[string]any{{"archive": "evil.tar.zst", "size": 64 << 10, "torrent": evil.Torrent}}})
	if code != http.StatusBadRequest || !strings.Contains(body, `unknown field "archive"`) {
		t.Errorf("request with a torrent: %d %q, want 400 naming the field", code, body)
	}
	code, body = post(Request{Items: []Item{{Name: "foo", Version: "9.9.9"}}})
	if code != http.StatusNotFound || !strings.Contains(body, "foo@9.9.9 is not in the catalog; run dist-client sync") {
		t.Errorf("unknown version: %d %q", code, body)
	}
	code, body = post(Request{Items: []Item{{Name: "foo", Version: "1.0.0", InfoHash: evil.InfoHash}}})
	if code != http.StatusNotFound || !strings.Contains(body, "has infohash "+row.InfoHash+" in the daemon's catalog") {
		t.Errorf("infohash of another torrent: %d %q", code, body)
	}
	code, body = post(Request{})
	if code != http.StatusBadRequest || !strings.Contains(body, "0 items") {
		t.Errorf("empty request: %d %q", code, body)
	}
	// A name with control bytes is refused quoted; it used to come back raw
	// in "… is not in the catalog".
	code, body = post(Request{Items: []Item{{Name: "foo\x00\x1b]0;x\a", Version: "1.0.0"}}})
	if code != http.StatusBadRequest || !strings.Contains(body, `"foo\x00\x1b]0;x\a"`) || strings.ContainsAny(body, "\x00\x1b\a") {
		t.Errorf("control bytes in a name: %d %q", code, body)
	}
	// A body that stops half-way is given up after requestReadTime,
	// whichever path it is sent to; before, its connection stayed open for
	// good.
	var wg sync.WaitGroup
	for _, target := range []string{"/download", "/download?progress_ms=x", "/nosuch"} {
		wg.Go(func() {
			conn, err := net.Dial("unix", sock)
			if err != nil {
				t.Error(err)
				return
			}
			defer conn.Close()
			fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: daemon\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"items\": [", target)
			conn.SetReadDeadline(time.Now().Add(requestReadTime + 10*time.Second))
			start := time.Now()
			reply, _ := io.ReadAll(conn)
			if took := time.Since(start); took > requestReadTime+5*time.Second || !strings.Contains(string(reply), "HTTP/1.1 4") {
				t.Errorf("POST %s with a body that stops: %q after %v, want a 4xx within %v", target, reply, took.Round(time.Millisecond), requestReadTime)
			}
		})
	}
	wg.Wait()
	// The library announces at once when it is given a torrent; give it
	// time to show that it was not.
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) && hits.Load() == 0 {
		time.Sleep(50 * time.Millisecond)
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("the daemon contacted the caller's tracker or web seed %d times", n)
	}
}
