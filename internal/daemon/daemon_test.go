package daemon

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
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
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/cache"
	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/config"
	"github.com/distpac/distpac/internal/paths"
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

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startDaemon listens at sock and serves with a real engine and the
// catalog of catalogDir until the test ends; it returns the daemon's log.
func startDaemon(t *testing.T, sock, catalogDir string) *syncBuffer {
	t.Helper()
	return startDaemonIn(t, sock, catalogDir, t.TempDir())
}

// startDaemonIn is startDaemon with the engine's files in cacheDir.
func startDaemonIn(t *testing.T, sock, catalogDir, cacheDir string) *syncBuffer {
	t.Helper()
	ln, err := Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ln.Release) // after the cleanup below
	engine, err := swarm.New(swarm.Config{Dir: cacheDir, ListenAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
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

// A request whose header is over maxHeaderBytes is refused (431) without
// the daemon keeping it: net/http's default of 1 MiB let 400 connections
// that each sent a megabyte of header lines hold 450 MB (an attacker's run).
func TestLargeHeaderRefused(t *testing.T) {
	dir := t.TempDir()
	writeCatalog(t, dir, "http://127.0.0.1:1/announce")
	sock := filepath.Join(t.TempDir(), "daemon.sock")
	startDaemon(t, sock, dir)
	for _, tc := range []struct {
		name   string
		header int
		want   int
	}{
		{"small", 1 << 10, http.StatusOK},
		{"over the bound", 4 * maxHeaderBytes, http.StatusRequestHeaderFieldsTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("unix", sock)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			req := "GET /status?items=0 HTTP/1.1\r\nHost: daemon\r\nX-Pad: " + strings.Repeat("a", tc.header) + "\r\n\r\n"
			go c.Write([]byte(req)) // the daemon may answer before reading all of it
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.want)
			}
		})
	}
}

func TestOverLimits(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	ih := func(b byte) string { return strings.Repeat(fmt.Sprintf("%02x", b), 20) }
	ts := []swarm.TorrentStatus{
		{InfoHash: ih(1), Name: "fresh", State: "seeding", Ratio: 0.5, Seeding: now.Add(-time.Minute)},
		{InfoHash: ih(2), Name: "shared-a-lot", State: "seeding", Ratio: 3, Seeding: now.Add(-time.Minute)},
		{InfoHash: ih(3), Name: "old", State: "seeding", Ratio: 0.1, Seeding: now.Add(-100 * time.Hour)},
		{InfoHash: ih(4), Name: "downloading", State: "downloading", Ratio: 9},
	}
	tests := []struct {
		name  string
		cfg   config.Client
		drops []string
	}{
		{"no limits", config.Client{}, nil},
		{"ratio", config.Client{SeedRatioLimit: 2}, []string{ih(2)}},
		{"time", config.Client{SeedTimeLimit: config.Duration(72 * time.Hour)}, []string{ih(3)}},
		{"both", config.Client{SeedRatioLimit: 2, SeedTimeLimit: config.Duration(72 * time.Hour)}, []string{ih(2), ih(3)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, h := range overLimits(ts, &tc.cfg, now, slog.New(slog.DiscardHandler)) {
				got = append(got, h.HexString())
			}
			if !slices.Equal(got, tc.drops) {
				t.Errorf("dropped %v, want %v", got, tc.drops)
			}
		})
	}
}

func TestProgressPeriod(t *testing.T) {
	for _, c := range []struct {
		query string
		want  time.Duration
		bad   bool
	}{
		{"", progressEvery, false},
		{"?progress_ms=0", progressEvery, false},
		{"?progress_ms=50", progressEvery, false},
		{"?progress_ms=1000", time.Second, false},
		{"?progress_ms=999999999", maxProgressEvery, false},
		{"?progress_ms=9223372036855", maxProgressEvery, false}, // overflows a Duration in ms*Millisecond
		{"?progress_ms=-1", 0, true},
		{"?progress_ms=1s", 0, true},
		{"?progress_ms=99999999999999999999", 0, true},
	} {
		got, err := progressPeriod(httptest.NewRequest(http.MethodPost, "http://daemon/download"+c.query, nil))
		if c.bad {
			if err == nil || !strings.Contains(err.Error(), "progress_ms") {
				t.Errorf("%q: %v, %v; want an error naming progress_ms", c.query, got, err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%q: %v, %v; want %v", c.query, got, err, c.want)
		}
	}
}

// A caller that asks for progress every second gets it that often, not
// five times a second; one that asks for nothing gets the default.
func TestDownloadProgressEvery(t *testing.T) {
	dir := t.TempDir()
	writeCatalog(t, dir, "http://127.0.0.1:1/announce") // no tracker, no peer: the download waits
	sock := filepath.Join(t.TempDir(), "daemon.sock")
	startDaemon(t, sock, dir)
	events := func(every time.Duration) int {
		t.Helper()
		c := Dial(context.Background(), sock)
		if c == nil {
			t.Fatal("no daemon at the socket")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2200*time.Millisecond)
		defer cancel()
		n := 0
		err := c.Download(ctx, Request{Items: []Item{{Name: "foo", Version: "1.0.0"}}}, every, func(Event) { n++ })
		if !errors.Is(err, context.DeadlineExceeded) && (err == nil || !strings.Contains(err.Error(), "deadline exceeded")) {
			t.Fatalf("download with no source ended with %v; want the caller's deadline", err)
		}
		return n
	}
	// Upper bounds only for the slow caller (a slow machine sends fewer),
	// and a lower bound far under the default's 11 for the other.
	if n := events(time.Second); n > 3 {
		t.Errorf("asked for progress every second: %d events in 2.2 s", n)
	}
	if n := events(0); n < 5 {
		t.Errorf("default progress: %d events in 2.2 s; want about 11", n)
	}
}

// Two daemons start at once beside the socket of one killed with -9: one
// takes the socket, the other is told a daemon runs. Without the lock both
// found the old socket dead, and the second removed the first one's new
// socket and linked its own (both ran; 40-100 rounds in 500).
func TestListenRaceAfterKill(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "daemon.sock")
	const rounds = 300
	for round := range rounds {
		// What kill -9 leaves: a socket file nobody listens on.
		l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
		if err != nil {
			t.Fatal(err)
		}
		l.SetUnlinkOnClose(false)
		l.Close()
		start := make(chan struct{})
		var wg sync.WaitGroup
		lns := make([]*Listener, 2)
		errs := make([]error, 2)
		for i := range lns {
			wg.Go(func() { <-start; lns[i], errs[i] = Listen(sock) })
		}
		close(start)
		wg.Wait()
		taken := 0
		for i, ln := range lns {
			if ln != nil {
				taken++
				continue
			}
			if !strings.Contains(errs[i].Error(), "another daemon is running") {
				t.Fatalf("round %d: Listen = %v, want another daemon is running", round, errs[i])
			}
		}
		if taken != 1 {
			t.Fatalf("round %d: %d daemons took the socket, want 1", round, taken)
		}
		// The one that runs is the one at the path.
		c, err := net.Dial("unix", sock)
		if err != nil {
			t.Fatalf("round %d: the daemon that took the socket is unreachable: %v", round, err)
		}
		c.Close()
		for _, ln := range lns {
			if ln != nil {
				ln.Close()
				ln.Release()
			}
		}
	}
}

// Trimming the cache drops the torrent of every file it removed, a
// download's ".part" included, and no other.
func TestTorrentsOfRemoved(t *testing.T) {
	const a, b, c = "1111111111111111111111111111111111111111", "2222222222222222222222222222222222222222", "3333333333333333333333333333333333333333"
	torrents := []swarm.TorrentStatus{
		{InfoHash: a, Name: "a-1.0.0.tar.zst"},
		{InfoHash: b, Name: "b-1.0.0.tar.zst"},
		{InfoHash: c, Name: "c-1.0.0.tar.zst"},
	}
	removed := []cache.Entry{{Name: "a-1.0.0.tar.zst"}, {Name: "b-1.0.0.tar.zst.part"}, {Name: "gone-1.0.0.tar.zst"}}
	got := torrentsOf(removed, torrents)
	want := []string{a, b}
	if len(got) != len(want) {
		t.Fatalf("torrentsOf = %v, want %v", got, want)
	}
	for i, ih := range got {
		if ih.HexString() != want[i] {
			t.Errorf("torrentsOf[%d] = %s, want %s", i, ih.HexString(), want[i])
		}
	}
}

// What the synced catalog no longer lists (a package its publisher
// withdrew) stops being seeded: the daemon seeded it on until restarted (a
// newcomer's run). Torrents still downloading are left alone, and the
// catalog is read again only when its serial changes.
func TestUnlistedStopsSeeding(t *testing.T) {
	dir := t.TempDir()
	row := writeCatalog(t, dir, "http://127.0.0.1:1/announce")
	const gone, busy = "2222222222222222222222222222222222222222", "3333333333333333333333333333333333333333"
	torrents := []swarm.TorrentStatus{
		{InfoHash: row.InfoHash, Name: row.Archive, State: "seeding"},
		{InfoHash: gone, Name: "gone-1.0.0.tar.zst", State: "seeding"},
		{InfoHash: busy, Name: "new-2.0.0.tar.zst", State: "downloading"},
	}
	logs := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, nil))
	drop, serial, err := unlisted(context.Background(), torrents, dir, 0, logger)
	if err != nil || serial != 0 || len(drop) != 1 || drop[0].HexString() != gone {
		t.Fatalf("unlisted = %v, serial %d, %v; want only %s, and the serial not taken as seen (one still downloading)", drop, serial, err, gone)
	}
	if !strings.Contains(logs.String(), "archive=gone-1.0.0.tar.zst") || !strings.Contains(logs.String(), "no longer lists it") {
		t.Errorf("log: %s", logs)
	}
	// The download finished: it goes too, and the serial is seen.
	torrents = []swarm.TorrentStatus{torrents[0], {InfoHash: busy, Name: "new-2.0.0.tar.zst", State: "seeding"}}
	drop, serial, err = unlisted(context.Background(), torrents, dir, serial, logger)
	if err != nil || serial != 1 || len(drop) != 1 || drop[0].HexString() != busy {
		t.Fatalf("unlisted = %v, serial %d, %v; want only %s, serial 1", drop, serial, err, busy)
	}
	if drop, _, err := unlisted(context.Background(), torrents, dir, serial, logger); err != nil || len(drop) != 0 {
		t.Fatalf("the same serial again: %v, %v; want nothing", drop, err)
	}
	// Before the first sync there is no catalog: nothing was withdrawn,
	// and nothing to warn of every 15 s.
	if drop, serial, err := unlisted(context.Background(), torrents, t.TempDir(), 0, logger); err != nil || len(drop) != 0 || serial != 0 {
		t.Fatalf("no catalog yet: %v, serial %d, %v; want nothing, no error", drop, serial, err)
	}
}

// With seed: installed, an archive installed at the daemon's last look and
// not now (uninstalled, or upgraded away from) stops being seeded; it was
// seeded until the daemon restarted. One never seen installed (downloaded
// for an install not yet committed) and one still downloading stay.
func TestUninstalledStopsSeeding(t *testing.T) {
	const kept, gone, pending, busy = "1111111111111111111111111111111111111111", "2222222222222222222222222222222222222222",
		"3333333333333333333333333333333333333333", "4444444444444444444444444444444444444444"
	torrents := []swarm.TorrentStatus{
		{InfoHash: kept, Name: "kept-1.0.0.tar.zst", State: "seeding"},
		{InfoHash: gone, Name: "gone-1.0.0.tar.zst", State: "seeding"},
		{InfoHash: pending, Name: "new-1.0.0.tar.zst", State: "seeding"},
		{InfoHash: busy, Name: "busy-1.0.0.tar.zst", State: "downloading"},
	}
	before := map[string]bool{"kept-1.0.0.tar.zst": true, "gone-1.0.0.tar.zst": true, "busy-1.0.0.tar.zst": true}
	now := map[string]bool{"kept-1.0.0.tar.zst": true}
	logs := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, nil))
	drop := uninstalledSince(before, now, torrents, logger)
	if len(drop) != 1 || drop[0].HexString() != gone {
		t.Fatalf("uninstalledSince = %v, want only %s", drop, gone)
	}
	if !strings.Contains(logs.String(), "archive=gone-1.0.0.tar.zst") || !strings.Contains(logs.String(), "no longer installed") {
		t.Errorf("log: %s", logs)
	}
	// The next look finds nothing new: the pending archive was never installed.
	if drop := uninstalledSince(now, now, torrents, logger); len(drop) != 0 {
		t.Errorf("the same installed set again: %v, want nothing", drop)
	}
	// A missing state file is nothing installed, not an error.
	if got, err := installedArchives(filepath.Join(t.TempDir(), "installed.db")); err != nil || len(got) != 0 {
		t.Errorf("installedArchives of no state = %v, %v", got, err)
	}
}

// An archive installed since the last look and not held by the engine (a
// reinstall from the cache, which does not go through the daemon) is to be
// seeded; one held already, or installed before, is not.
func TestNewlyInstalled(t *testing.T) {
	before := map[string]bool{"old-1.0.0.tar.zst": true}
	now := map[string]bool{"old-1.0.0.tar.zst": true, "b-1.0.0.tar.zst": true, "a-1.0.0.tar.zst": true, "held-1.0.0.tar.zst": true}
	ts := []swarm.TorrentStatus{{InfoHash: "1111111111111111111111111111111111111111", Name: "held-1.0.0.tar.zst", State: "seeding"}}
	if got, want := newlyInstalled(before, now, ts), []string{"a-1.0.0.tar.zst", "b-1.0.0.tar.zst"}; !slices.Equal(got, want) {
		t.Errorf("newlyInstalled = %v, want %v", got, want)
	}
	if got := newlyInstalled(now, now, nil); len(got) != 0 {
		t.Errorf("nothing new: %v", got)
	}
}

// A daemon stopped while a download waits tells its caller it is stopping
// and returns only once that download has ended. Before, Serve returned at
// once, the caller closed the engine under the download, and the client
// heard of it only when the connection broke.
func TestStopEndsDownloads(t *testing.T) {
	dir := t.TempDir()
	writeCatalog(t, dir, "http://127.0.0.1:1/announce") // no tracker, no peer: the download waits
	sock, ln, engine := socketAndEngine(t)
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	served := make(chan error, 1)
	go func() { served <- Serve(ctx, ln, engine, dir, slog.New(slog.DiscardHandler)) }()
	c := Dial(context.Background(), sock)
	if c == nil {
		t.Fatal("no daemon at the socket")
	}
	downloaded := make(chan error, 1)
	started := make(chan struct{})
	var once sync.Once
	go func() {
		downloaded <- c.Download(context.Background(), Request{Items: []Item{{Name: "foo", Version: "1.0.0"}}}, 50*time.Millisecond, func(Event) { once.Do(func() { close(started) }) })
	}()
	select {
	case <-started:
	case err := <-downloaded:
		t.Fatalf("download ended before the daemon stopped: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("no progress event in 10 s")
	}
	stop()
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve still running 10 s after the stop")
	}
	// The handler has sent its last event; the client reads it now.
	select {
	case err := <-downloaded:
		if err == nil || !strings.Contains(err.Error(), "the daemon is stopping") {
			t.Fatalf("download ended with %v; want the daemon is stopping", err)
		}
		// The archive it failed on crosses the socket beside the text.
		if ae := (*ArchiveError)(nil); !errors.As(err, &ae) || ae.Archive != "foo-1.0.0.tar.zst" {
			t.Errorf("download ended with %#v; want an ArchiveError of foo-1.0.0.tar.zst", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("the download still runs 3 s after Serve returned")
	}
}

// The servers' web seeds are tried in the order a sync would try the
// servers now: one that failed a sync in the last ten minutes
// (servers.json) after the others (an attacker's run: a refused, a
// black-holed and a hanging server listed first cost each install 11.6 s
// before its first byte).
func TestEngineConfigOrdersServers(t *testing.T) {
	dir := t.TempDir()
	cfg := &config.Client{ServerURLs: []string{"http://down:1", "http://up:2"}}
	cfg.ApplyDefaults()
	if got := EngineConfig(cfg, "", dir, nil).MirrorWebSeeds; !slices.Equal(got, []string{"http://down:1/packages/", "http://up:2/packages/"}) {
		t.Fatalf("no failures: %q, want the configured order", got)
	}
	failed := fmt.Sprintf(`{"failed": {"http://down:1": %q}}`, time.Now().Add(-time.Minute).Format(time.RFC3339Nano))
	if err := os.WriteFile(filepath.Join(dir, "servers.json"), []byte(failed), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := EngineConfig(cfg, "", dir, nil).MirrorWebSeeds; !slices.Equal(got, []string{"http://up:2/packages/", "http://down:1/packages/"}) {
		t.Fatalf("down failed a minute ago: %q, want it last", got)
	}
	if got := EngineConfig(cfg, "", "", nil).MirrorWebSeeds; !slices.Equal(got, []string{"http://down:1/packages/", "http://up:2/packages/"}) {
		t.Fatalf("no servers.json dir: %q, want the configured order", got)
	}
}

// A daemon started before the first sync seeds what its cache holds once a
// catalog is synced (seed: cached): it seeded nothing until a restart. The
// archive an install has fetched through it meanwhile is left as it is.
func TestFirstCatalogSeedsTheCache(t *testing.T) {
	ctx := context.Background()
	cp := paths.Client{Dir: t.TempDir()}
	if err := os.MkdirAll(cp.Cache(), 0o755); err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	foo := archiveRow(t, work, "foo", bytes.Repeat([]byte("distpac foo"), 8<<10), "http://127.0.0.1:1/announce")
	bar := archiveRow(t, work, "bar", bytes.Repeat([]byte("distpac bar"), 8<<10), "http://127.0.0.1:1/announce")
	for _, r := range []catalog.Package{foo, bar} {
		b, err := os.ReadFile(filepath.Join(work, r.Archive))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(cp.Cache(), r.Archive), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	engine, err := swarm.New(swarm.Config{Dir: cp.Cache(), ListenAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer engine.Close()
	logger := slog.New(slog.DiscardHandler)
	if seedFirstCatalog(ctx, engine, config.SeedCached, cp, logger) || len(engine.Torrents()) != 0 {
		t.Fatalf("no catalog yet: seeded %v", engine.Torrents())
	}
	if _, err := engine.Seed(ctx, bar.Torrent, true); err != nil { // fetched through the daemon since
		t.Fatal(err)
	}
	writeRows(t, cp.Dir, []catalog.Package{foo, bar})
	if !seedFirstCatalog(ctx, engine, config.SeedCached, cp, logger) {
		t.Fatal("the catalog synced was not read")
	}
	var seeding []string
	for _, ts := range engine.Torrents() {
		if ts.State == "seeding" {
			seeding = append(seeding, ts.Name)
		}
	}
	slices.Sort(seeding)
	if want := []string{bar.Archive, foo.Archive}; !slices.Equal(seeding, want) {
		t.Errorf("seeding %v, want %v", seeding, want)
	}
}
