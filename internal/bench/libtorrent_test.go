//go:build linux

package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/swarm"
	"github.com/distpac/distpac/internal/torrentmeta"
	"github.com/distpac/distpac/internal/tracker"
)

func TestLtPeerSpecArgv(t *testing.T) {
	s := ltPeerSpec{Script: "/w/p.py", Torrent: "/w/t", Dir: "/w/d", Listen: "127.0.1.3:4000", UpCap: 2 << 20, Status: "/w/s"}
	want := []string{"/w/p.py", "--torrent", "/w/t", "--dir", "/w/d", "--listen", "127.0.1.3:4000", "--upload-limit", "2097152", "--status", "/w/s"}
	if got := s.argv(); !slices.Equal(got, want) {
		t.Errorf("leecher argv = %q, want %q", got, want)
	}
	s.Seed, s.Super = true, true
	if got := s.argv(); !slices.Equal(got, append(want, "--seed", "--super-seed")) {
		t.Errorf("super-seeder argv = %q", got)
	}
}

func TestLtStatusComplete(t *testing.T) {
	for _, c := range []struct {
		st   ltStatus
		want bool
	}{
		{ltStatus{State: "ready"}, false},
		{ltStatus{Wanted: 100, Done: 99}, false},
		{ltStatus{Wanted: 100, Done: 100}, true},
	} {
		if got := c.st.complete(); got != c.want {
			t.Errorf("%+v complete = %v, want %v", c.st, got, c.want)
		}
	}
}

// needLibtorrent writes the peer script into a temp dir and returns its
// path, or skips the test where the module is missing.
func needLibtorrent(t *testing.T) string {
	t.Helper()
	if err := libtorrentUsable(); err != nil {
		t.Skipf("libtorrent rows cannot run: %v", err)
	}
	script := filepath.Join(t.TempDir(), "libtorrent_peer.py")
	if err := os.WriteFile(script, ltPeerScript, 0o644); err != nil {
		t.Fatal(err)
	}
	return script
}

// The settings the script gives libtorrent: hermetic and TCP only as the
// aria2 row, the cap as given, and every address in the global peer class
// (1 << global_peer_class_id), loopback and private ranges included, so
// the cap binds between local peers.
func TestLtPeerScriptSettings(t *testing.T) {
	script := needLibtorrent(t)
	out, err := exec.Command(ltPython, script, "--print-settings", "--listen", "127.0.1.7:4100", "--upload-limit", "2097152").Output()
	if err != nil {
		t.Fatalf("--print-settings: %v", err)
	}
	var got struct {
		Settings    map[string]any
		PeerClasses map[string]float64 `json:"peer_classes"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("--print-settings printed %s: %v", out, err)
	}
	for k, want := range map[string]any{
		"listen_interfaces": "127.0.1.7:4100", "outgoing_interfaces": "127.0.1.7",
		"enable_dht": false, "enable_lsd": false, "enable_upnp": false, "enable_natpmp": false,
		"enable_outgoing_utp": false, "enable_incoming_utp": false,
		"upload_rate_limit": float64(2 << 20), "download_rate_limit": float64(0), "rate_limit_ip_overhead": false,
	} {
		if v, ok := got.Settings[k]; !ok || v != want {
			t.Errorf("%s = %v (set %v), want %v", k, v, ok, want)
		}
	}
	if len(got.PeerClasses) == 0 {
		t.Fatal("no peer classes printed")
	}
	for ip, class := range got.PeerClasses {
		if class != 1 {
			t.Errorf("%s is in peer classes %v, want only the global class (1)", ip, class)
		}
	}
}

func TestLtPeerScriptRefusesBadArgs(t *testing.T) {
	script := needLibtorrent(t)
	for _, args := range [][]string{
		{"--torrent", "t", "--dir", "d", "--listen", "127.0.0.1:1", "--status", "s", "--super-seed"},
		{"--torrent", "t", "--dir", "d", "--listen", "127.0.0.1", "--status", "s"},
		{"--dir", "d", "--listen", "127.0.0.1:1", "--status", "s"},
		{"--torrent", "t", "--dir", "d", "--listen", "127.0.0.1:1", "--status", "s", "--upload-limit", "-1"},
	} {
		err := exec.Command(ltPython, append([]string{script}, args...)...).Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 {
			t.Errorf("%q: %v, want exit status 2", args, err)
		}
	}
}

// ltTestSwarm publishes a torrent of f random bytes on an embedded tracker
// and returns the .torrent and the seeder's directory.
func ltTestSwarm(t *testing.T, dir string, f int64) (torrent, seedDir string) {
	t.Helper()
	// The library's global logger is set once, before any tracker logs to
	// it, as dist-server does: a test's swarm.New would set it under a
	// running tracker (a data race).
	swarm.RouteLibraryLogs(slog.New(slog.DiscardHandler))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: tracker.New(tracker.Options{}).Handler(), ReadHeaderTimeout: 5 * time.Second}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	seedDir = filepath.Join(dir, "seeder")
	if err := os.MkdirAll(seedDir, 0o755); err != nil {
		t.Fatal(err)
	}
	data := make([]byte, f)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	archive := filepath.Join(seedDir, "pkg.tar.zst")
	if err := os.WriteFile(archive, data, 0o644); err != nil {
		t.Fatal(err)
	}
	meta, err := torrentmeta.Build(archive, "http://"+ln.Addr().String()+"/announce", "")
	if err != nil {
		t.Fatal(err)
	}
	torrent = filepath.Join(dir, "pkg.torrent")
	if err := os.WriteFile(torrent, meta.Torrent, 0o644); err != nil {
		t.Fatal(err)
	}
	return torrent, seedDir
}

func ltTestOptions(f, U, u int64) Options {
	return Options{F: f, U: U, u: u, Timeout: time.Minute, Stdout: io.Discard, Stderr: io.Discard}
}

// A libtorrent seeder and two leechers complete a 1 MiB swarm, and the
// counters add up: every leecher got at least F, the seeder sent at
// least F.
func TestLibtorrentSwarm(t *testing.T) {
	if testing.Short() {
		t.Skip("a swarm of three libtorrent processes")
	}
	needLibtorrent(t)
	dir := t.TempDir()
	const f = 1 << 20
	torrent, seedDir := ltTestSwarm(t, dir, f)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	row, err := ltSwarm(ctx, ltTestOptions(f, 1<<20, 1<<20), loopbackLayout(2, true), torrent, seedDir, dir, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("last %v, server up %.2f F, max client down %.2f F, CPU %v, peak RSS %d MiB", row.Last, row.ServerUp, row.ClientDownMax, row.CPU, row.PeakRSS>>20)
	if row.Last <= 0 || row.ServerUp < 0.99 || row.ClientDownMax < 0.99 || row.PeakRSS <= 0 {
		t.Errorf("row %+v: want a time, server up and client down of at least F, a peak RSS", row)
	}
	for _, l := range []string{"leecher00", "leecher01"} {
		b, err := os.ReadFile(filepath.Join(dir, l, "pkg.tar.zst"))
		if err != nil || len(b) != f {
			t.Errorf("%s: %d bytes, %v", l, len(b), err)
		}
	}
}

// The cap binds between peers on loopback: one leecher from a seeder
// capped at U takes at least ltCapCheckMin × F/U (uncapped, the start
// alone, about 1.5 s, is all it takes).
func TestLibtorrentCapBinds(t *testing.T) {
	if testing.Short() {
		t.Skip("a 4 s transfer")
	}
	needLibtorrent(t)
	dir := t.TempDir()
	const f, U = 4 << 20, 1 << 20
	torrent, seedDir := ltTestSwarm(t, dir, f)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	row, err := ltSwarm(ctx, ltTestOptions(f, U, U), loopbackLayout(1, true), torrent, seedDir, dir, false)
	if err != nil {
		t.Fatal(err)
	}
	fu := Bound(1, f, U, U)
	t.Logf("one leecher: %v, F/U %v", row.Last, fu)
	if row.Last < time.Duration(ltCapCheckMin*float64(fu)) {
		t.Errorf("one leecher from a seeder capped at 1 MiB/s took %v, less than %.1f × F/U = %v: the cap does not bind", row.Last, ltCapCheckMin, fu)
	}
}

// A distpac engine downloads from a libtorrent seeder, which refuses
// requests longer than BEP 3's 16 KiB (and says nothing of them in its
// handshake): the engine asks its chunks of 64 KiB of it in parts of
// 16 KiB and gathers them (third_party patch 35). Asked whole, the
// seeder rejected every request and nothing came.
func TestSwarmFetchesInPartsFromLibtorrent(t *testing.T) {
	if testing.Short() {
		t.Skip("a libtorrent seeder")
	}
	needLibtorrent(t)
	dir := t.TempDir()
	const f = 3<<20 + 5000 // a last piece and chunk shorter than the rest
	torrentPath, seedDir := ltTestSwarm(t, dir, f)
	script := filepath.Join(dir, "libtorrent_peer.py")
	if err := os.WriteFile(script, ltPeerScript, 0o644); err != nil {
		t.Fatal(err)
	}
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	h := host{name: "seeder", addr: "127.0.0.1"}
	seeder, err := startLtPeer(h, dir, "seeder", ltPeerSpec{Script: script, Torrent: torrentPath, Dir: seedDir,
		Listen: fmt.Sprintf("127.0.0.1:%d", port), Seed: true})
	if err != nil {
		t.Fatal(err)
	}
	defer seeder.proc.stop()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := seeder.waitState(ctx, 30*time.Second, "seeding"); err != nil {
		t.Fatal(err)
	}
	leechDir := filepath.Join(dir, "leecher")
	e, err := swarm.New(swarm.Config{Dir: leechDir, ListenAddr: "127.0.0.1:0", DisableTrackers: true, DisablePEX: true})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	meta, err := os.ReadFile(torrentPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Download(ctx, meta, []netip.AddrPort{netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port))}, nil); err != nil {
		t.Fatalf("download from libtorrent: %v (seeder log %s)", err, tail(seeder.log, 300))
	}
	got, err := os.ReadFile(filepath.Join(leechDir, "pkg.tar.zst"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join(seedDir, "pkg.tar.zst"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) { // the seeder is its only source: no tracker, no web seed
		t.Fatalf("downloaded %d bytes, not the seeder's %d", len(got), len(want))
	}
}
