package e2e

// The hostile network (issue 9): trackers that lie or attack, announces
// that try to hide the publisher's seeder, strangers using the tracker.
// Each test runs the real binaries against an attacker on loopback and
// asserts what the user sees, how fast, and that no process fell over.

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/proctest"
	"github.com/distpac/distpac/internal/swarm/peertest"
	"github.com/distpac/distpac/internal/trackerclient"
)

// peakRSS is a process's peak resident set (VmHWM) in bytes, or -1.
func peakRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err == nil {
				return kb << 10
			}
		}
	}
	return -1
}

// serverPID reads the running server's pid from dist-server status.
func (r *rig) serverPID() int {
	r.t.Helper()
	var st struct {
		PID int `json:"pid"`
	}
	out := r.server("status", "--json")
	if err := json.Unmarshal([]byte(out), &st); err != nil || st.PID == 0 {
		r.t.Fatalf("dist-server status --json: %v: %s", err, out)
	}
	return st.PID
}

// infoHash is a package's infohash from client1's synced catalog.
func (r *rig) infoHash(name string) [20]byte {
	r.t.Helper()
	var info struct {
		InfoHash string `json:"infohash"`
	}
	out := r.client1("info", "--json", name)
	if err := json.Unmarshal([]byte(out), &info); err != nil {
		r.t.Fatalf("info --json %s: %v: %s", name, err, out)
	}
	var ih [20]byte
	if n, err := hex.Decode(ih[:], []byte(info.InfoHash)); err != nil || n != 20 {
		r.t.Fatalf("infohash %q: %v", info.InfoHash, err)
	}
	return ih
}

// hostileTrackers are replies that each crashed, exhausted or stalled
// nodes through the BitTorrent library's tracker client.
var hostileTrackers = []struct {
	name  string
	serve http.HandlerFunc
}{
	{"list-peer", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("d8:intervali30e5:peerslleee"))
	}},
	{"deep", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("d8:intervali30e5:extra"))
		chunk := []byte(strings.Repeat("l", 1<<20))
		for range 10 {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}},
	{"endless", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("d8:intervali30e5:peers999999999999:"))
		chunk := make([]byte, 1<<20)
		for range 4096 { // 4 GiB at most; a client must stop long before
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}},
	{"million", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("d8:intervali30e5:peers6000000:"))
		for i := range 1000000 {
			if _, err := w.Write([]byte{10, byte(i >> 16), byte(i >> 8), byte(i), 0x1a, 0xe1}); err != nil {
				return
			}
		}
		w.Write([]byte("e"))
	}},
	{"dead", func(w http.ResponseWriter, r *http.Request) {
		var b strings.Builder
		b.WriteString("d8:intervali30e5:peers1200:")
		for i := range 200 {
			b.Write([]byte{127, 0, 0, 1, 0xff, byte(i)}) // ports 65280..65479: nothing listens
		}
		b.WriteString("e")
		w.Write([]byte(b.String()))
	}},
}

// TestHostileTracker points dist-server (--no-tracker) and clients at a
// tracker that attacks with each reply above. Before the fix the first
// reply panicked every node, the second overflowed the stack and the third
// grew memory past 4 GB. Now a bad reply is a failed announce: the server
// keeps seeding, an install finishes through the publisher's seeder (whose
// address the signed catalog carries), a client daemon keeps running, and
// no process grows past 128 MiB.
func TestHostileTracker(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server per hostile reply")
	}
	for _, tc := range hostileTrackers {
		t.Run(tc.name, func(t *testing.T) {
			hits := make(chan struct{}, 1000)
			evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
				select {
				case hits <- struct{}{}:
				default:
				}
				tc.serve(w, req)
			}))
			defer evil.Close()
			r := newRig(t, fmt.Sprintf("announce_url: %q\n", evil.URL+"/announce"))
			r.server("add", r.mkpkg("target", "1.0.0", 256<<10))
			r.server("start", "--no-tracker")
			serverPID := r.serverPID()
			r.client1("sync")

			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			daemon := r.start(ctx, "dist-client", "client1", "client1.yaml", "daemon")
			if !poll(10*time.Second, func() bool {
				_, err := os.Stat(r.path("client1", "distpac", "client", "daemon.sock"))
				return err == nil
			}) {
				t.Fatalf("daemon never listened:\n%s", daemon.out)
			}
			start := time.Now()
			out := r.client1("install", "target")
			took := time.Since(start)
			if !strings.Contains(out, "installed target 1.0.0") {
				t.Fatalf("install through the daemon:\n%s", out)
			}
			// And a client without a daemon, in-process.
			out2 := r.run("dist-client", "client2", "client2.yaml", "sync")
			out2 += r.run("dist-client", "client2", "client2.yaml", "install", "target")
			if !strings.Contains(out2, "installed target 1.0.0") {
				t.Fatalf("install without a daemon:\n%s", out2)
			}
			if len(hits) == 0 {
				t.Fatal("the hostile tracker was never asked: the test proves nothing")
			}
			if !daemon.running() {
				t.Fatalf("the client daemon died:\n%s", daemon.out)
			}
			if err := syscallAlive(serverPID); err != nil {
				t.Fatalf("dist-server died: %v\n%s", err, readFile(r.path("server", "distpac", "server", "server.log")))
			}
			for who, pid := range map[string]int{"dist-server": serverPID, "client daemon": daemon.cmd.Process.Pid} {
				if rss := peakRSS(pid); rss > 128<<20 {
					t.Errorf("%s peaked at %d MiB", who, rss>>20)
				}
			}
			t.Logf("install through the daemon took %v; %d tracker requests; server peak %d MiB, daemon peak %d MiB",
				took.Round(time.Millisecond), len(hits), peakRSS(serverPID)>>20, peakRSS(daemon.cmd.Process.Pid)>>20)
		})
	}
}

// TestFakeAnnouncesCannotHideSeeder: 999 announces for a package from
// ports where nothing listens, and a forged "stopped" in the seeder's
// name. Before the fix the forged stop removed the seeder from its own
// tracker and a fresh install failed after two minutes with "no peer has
// the package". Now the tracker keeps at most 16 peers an address, the
// pinned seeder leads every reply, and the install takes seconds.
func TestFakeAnnouncesCannotHideSeeder(t *testing.T) {
	r := newRig(t, "")
	r.server("add", r.mkpkg("target", "1.0.0", 1<<20))
	r.server("start")
	r.client1("sync")
	ih := r.infoHash("target")
	announceURL := "http://" + r.h.trackerAdr + "/announce"
	seeder := netip.MustParseAddrPort(r.h.peerAddr)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	attacker := &trackerclient.Client{HTTP: trackerclient.NewHTTPClient(netip.MustParseAddr("127.0.0.1"))}
	for i := range 999 {
		req := trackerclient.Request{InfoHash: ih, Port: uint16(40000 + i), Left: 1, Event: trackerclient.Started, NumWant: -1}
		copy(req.PeerID[:], fmt.Sprintf("-XX0001-%012d", i))
		if _, err := attacker.Announce(ctx, announceURL, req); err != nil {
			t.Fatalf("fake announce %d: %v", i, err)
		}
	}
	forged := trackerclient.Request{InfoHash: ih, Port: seeder.Port(), Event: trackerclient.Stopped, NumWant: -1}
	if _, err := attacker.Announce(ctx, announceURL, forged); err != nil {
		t.Fatalf("forged stop: %v", err)
	}
	// What a newcomer is told: the seeder, first.
	res, err := attacker.Announce(ctx, announceURL, trackerclient.Request{InfoHash: ih, Port: 50000, Left: 1, NumWant: 5})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Peers) == 0 || res.Peers[0] != seeder {
		t.Fatalf("after the forged stop a newcomer is told %v; want the seeder %v first", res.Peers, seeder)
	}
	var st struct {
		TrackedPeers int `json:"tracked_peers"`
	}
	json.Unmarshal([]byte(r.server("status", "--json")), &st)
	if st.TrackedPeers > 1+16+1 {
		t.Errorf("the tracker holds %d peers after 999 fake announces from one address", st.TrackedPeers)
	}
	start := time.Now()
	out := r.run("dist-client", "client2", "client2.yaml", "sync")
	out += r.run("dist-client", "client2", "client2.yaml", "install", "target")
	if !strings.Contains(out, "installed target 1.0.0") {
		t.Fatalf("install:\n%s", out)
	}
	t.Logf("tracker holds %d peers; a fresh sync and install took %v", st.TrackedPeers, time.Since(start).Round(time.Millisecond))
}

// TestTrackerServesOnlyTheCatalog: the embedded tracker refused nothing,
// so anyone could run swarms of their own on it (200,000 announces for
// 400 foreign infohashes were held). Now it serves the catalog's
// packages only, scrapes answer only for them, and open_tracker: true
// opens it.
func TestTrackerServesOnlyTheCatalog(t *testing.T) {
	for _, open := range []bool{false, true} {
		t.Run(fmt.Sprintf("open_tracker=%v", open), func(t *testing.T) {
			r := newRig(t, fmt.Sprintf("open_tracker: %v\n", open))
			r.server("add", r.mkpkg("target", "1.0.0", 64<<10))
			r.server("start")
			r.client1("sync")
			ih := r.infoHash("target")
			announceURL := "http://" + r.h.trackerAdr + "/announce"
			c := &trackerclient.Client{}
			ctx := context.Background()
			foreign := [20]byte{1, 2, 3}
			_, err := c.Announce(ctx, announceURL, trackerclient.Request{InfoHash: foreign, Port: 7000, Left: 1, Event: trackerclient.Started, NumWant: 10})
			if open && err != nil {
				t.Fatalf("open tracker refused a foreign torrent: %v", err)
			}
			if !open && (err == nil || !strings.Contains(err.Error(), "not served by this tracker")) {
				t.Fatalf("foreign announce: %v, want a refusal", err)
			}
			if _, err := c.Announce(ctx, announceURL, trackerclient.Request{InfoHash: ih, Port: 7001, Left: 1, Event: trackerclient.Started, NumWant: 10}); err != nil {
				t.Fatalf("announce for a catalog package: %v", err)
			}
			got, err := c.Scrape(ctx, announceURL, [][20]byte{ih, foreign})
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := got[ih]; !ok {
				t.Errorf("scrape left out the catalog's package: %v", got)
			}
			if _, ok := got[foreign]; ok != open {
				t.Errorf("scrape answered for the foreign torrent: %v (open %v)", ok, open)
			}
		})
	}
}

func syscallAlive(pid int) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	return p.Signal(syscall.Signal(0))
}

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// TestHoardingPeers: 50 connections on each of four 16 MiB packages ask
// the publisher's seeder for every block and never read the replies. The
// library kept each connection's request data (16 MiB): dist-server grew
// from 30 MB to 3.2 GB. Now one budget bounds it, the server stays under
// 128 MiB, and a client still installs a package beside the attack.
func TestHoardingPeers(t *testing.T) {
	if testing.Short() {
		t.Skip("64 MiB of packages")
	}
	r := newRig(t, "")
	names := []string{"a", "b", "c", "d"}
	for _, n := range names {
		r.server("add", r.mkpkg(n, "1.0.0", 16<<20))
	}
	r.server("add", r.mkpkg("honest", "1.0.0", 4<<20))
	r.server("start")
	pid := r.serverPID()
	r.client1("sync")
	before := peakRSS(pid)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, n := range names {
		ih := r.infoHash(n)
		for range 50 {
			// 16 MiB packages have 64 KiB pieces; 255 of them are whole.
			h, err := peertest.Hoard(ctx, r.h.peerAddr, ih, 255, 64<<10)
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
		}
	}
	time.Sleep(3 * time.Second) // the seeder reads ahead what it will
	start := time.Now()
	out := r.run("dist-client", "client2", "client2.yaml", "sync")
	out += r.run("dist-client", "client2", "client2.yaml", "install", "honest")
	if !strings.Contains(out, "installed honest 1.0.0") {
		t.Fatalf("install beside the hoarders:\n%s", out)
	}
	peak := peakRSS(pid)
	t.Logf("dist-server peak RSS %d MiB before the attack, %d MiB under 200 hoarding connections; an install beside them took %v",
		before>>20, peak>>20, time.Since(start).Round(time.Millisecond))
	if peak > 128<<20 {
		t.Fatalf("dist-server peaked at %d MiB under the attack", peak>>20)
	}
}

// TestInterruptKeepsPartialDownload: Ctrl-C during a download ends with
// "interrupted", says the partial download is kept, the history records the
// install as interrupted, and the next install
// resumes it: its report says how much was already verified, and its rate
// counts only the new bytes.
func TestInterruptKeepsPartialDownload(t *testing.T) {
	t.Parallel() // a waiting test (e2e_test.go)
	if testing.Short() {
		t.Skip("16 MiB at a capped rate")
	}
	const size = 16 << 20
	r := newRig(t, "")
	r.appendConfig("client1.yaml", "download_rate_limit: \"4MiB\"\n")
	r.server("add", r.mkpkg("big", "1.0.0", size))
	r.server("start")
	r.client1("sync")
	part := filepath.Join(r.clientDir("client1"), "cache", "big-1.0.0.tar.zst.part")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p := r.start(ctx, "dist-client", "client1", "client1.yaml", "install", "big")
	if !poll(20*time.Second, func() bool { return r.uploaded() >= size/3 }) {
		t.Fatalf("the download never got a third of the way:\n%s", p.out)
	}
	p.cmd.Process.Signal(syscall.SIGINT)
	p.wait()
	out := p.out.String()
	if !regexp.MustCompile(`(?m)^warning: interrupted: [0-9.]+ [KM]iB of big 1\.0\.0's archive is kept in .*: the next install or upgrade that needs it resumes from there$`).MatchString(out) ||
		!strings.Contains(out, "dist-client: interrupted") {
		t.Fatalf("after Ctrl-C:\n%s", out)
	}
	if fileSize(part) <= 0 {
		t.Fatalf("the partial download was not kept")
	}
	// The history calls it interrupted, not a failure with "context canceled".
	// Said once: not "interrupted: interrupted by a signal".
	if h := r.client1("history"); !strings.Contains(h, " interrupted by a signal") || strings.Contains(h, "interrupted: interrupted") || strings.Contains(h, "failed") {
		t.Fatalf("history after Ctrl-C:\n%s", h)
	}
	out = r.client1("install", "big")
	if !strings.Contains(out, "already verified from an earlier, interrupted download") {
		t.Fatalf("resumed install:\n%s", out)
	}
	t.Logf("interrupted:\n%s\nresumed:\n%s", p.out.String(), out)
}

// TestHostileWireMessages: one message from any peer that reaches a
// BitTorrent port (anyone can, through the publisher's own tracker) killed
// the whole dist-server (catalog, tracker and seeder) or a client's daemon
// (third_party patch 24; the messages are peertest.HostileMessages). Each
// now ends that connection only: both keep running and serving.
func TestHostileWireMessages(t *testing.T) {
	r := newRig(t, "")
	r.server("add", r.mkpkg("victim", "1.0.0", 64<<10))
	r.server("start")
	pid := r.serverPID()
	// client1 caches the archive, and its daemon seeds it on a known port.
	r.writeYAML("client1.yaml", fmt.Sprintf("server_url: %q\nprefix: %q\npeer_addr: %q\n", "http://"+r.h.dbAddr, r.path("prefix1"), r.h.mirrorAddr))
	r.client1("sync")
	r.client1("install", "victim")
	ih := r.infoHash("victim")
	daemon := r.cmd(context.Background(), "dist-client", "client1", "client1.yaml", "daemon")
	if err := proctest.Start(daemon); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- daemon.Wait() }()
	t.Cleanup(func() {
		daemon.Process.Signal(syscall.SIGTERM) // our own child, by its PID
		<-exited
	})
	if err := waitTCP(r.h.mirrorAddr, 10*time.Second); err != nil {
		t.Fatalf("client1's daemon: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, target := range []struct{ name, addr string }{{"dist-server", r.h.peerAddr}, {"dist-client daemon", r.h.mirrorAddr}} {
		for _, h := range peertest.HostileMessages {
			w, err := peertest.Dial(ctx, target.addr, ih)
			if err != nil {
				t.Fatalf("%s, before %s: %v", target.name, h.Name, err)
			}
			if err := w.Send(h.Msg(w)); err != nil {
				t.Fatalf("%s: %s: %v", target.name, h.Name, err)
			}
			if !w.Closed(5 * time.Second) {
				t.Errorf("%s: %s: the connection stays open", target.name, h.Name)
			}
			w.Close()
		}
	}
	if err := syscallAlive(pid); err != nil {
		t.Fatalf("dist-server died: %v", err)
	}
	select {
	case err := <-exited:
		t.Fatalf("client1's daemon died: %v", err)
	default:
	}
	out := r.run("dist-client", "client2", "client2.yaml", "sync")
	out += r.run("dist-client", "client2", "client2.yaml", "install", "victim")
	if !strings.Contains(out, "installed victim 1.0.0") {
		t.Fatalf("install after the hostile messages:\n%s", out)
	}
}

// TestInterruptWhileStagingIsScanned: what install.sh leaves is hashed
// before it is placed, and a script may leave a sparse file of any size.
// One that left 1 TiB (truncate -s 1T) kept install hashing for 15
// minutes, deaf to Ctrl-C and SIGTERM. Ctrl-C now ends the install
// within seconds, as interrupted, with nothing installed or left.
func TestInterruptWhileStagingIsScanned(t *testing.T) {
	r := newRig(t, "")
	dir := r.path("pkgs", "sparse")
	r.writeFiles(dir, map[string]string{
		"manifest.yaml":      "name: sparse\nversion: 1.0.0\n",
		"assets/readme":      "a package whose script leaves a terabyte\n",
		"scripts/install.sh": "#!/bin/sh\nset -eu\nmkdir -p \"$DISTPAC_DESTDIR$DISTPAC_PREFIX\"\ntruncate -s 1T \"$DISTPAC_DESTDIR$DISTPAC_PREFIX/sparse.img\"\n",
	})
	r.server("add", dir)
	r.server("start")
	r.client1("sync")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p := r.start(ctx, "dist-client", "client1", "client1.yaml", "install", "-y", "sparse")
	staging := filepath.Join(r.clientDir("client1"), "staging")
	staged := func() bool {
		found := false
		filepath.WalkDir(staging, func(p string, d os.DirEntry, err error) error {
			found = found || (err == nil && d.Name() == "sparse.img")
			return nil
		})
		return found
	}
	if !poll(20*time.Second, staged) {
		if !p.running() {
			t.Skipf("the install ended before it was interrupted (no sparse terabyte here?):\n%s", p.out)
		}
		t.Fatal("install.sh never left its file")
	}
	time.Sleep(300 * time.Millisecond) // the script has ended; the scan is hashing
	if !p.running() {
		t.Skipf("the install ended before it was interrupted:\n%s", p.out)
	}
	sent := time.Now()
	p.cmd.Process.Signal(syscall.SIGINT)
	select {
	case err := <-p.done:
		p.done <- err
	case <-time.After(20 * time.Second):
		t.Fatal("install still running 20 s after Ctrl-C: it is hashing the terabyte")
	}
	out := p.out.String()
	if !strings.Contains(out, "dist-client: interrupted") {
		t.Fatalf("after Ctrl-C (%s):\n%s", time.Since(sent).Round(time.Millisecond), out)
	}
	r.nothingOf("sparse", r.path("prefix1"))
	if staged() {
		t.Errorf("the staged terabyte was left in %s", staging)
	}
	t.Logf("ended %s after Ctrl-C:\n%s", time.Since(sent).Round(time.Millisecond), out)
}

// TestDaemonMetricsBounded: the daemon's metrics_addr is a TCP listener
// anyone who reaches the address can use. It had none of the bounds of
// dist-server's listeners: an attacker's run held 18,000 idle connections
// there (the daemon's descriptor limit: its peer listener then spun a core
// on failed accepts, and installs found no daemon) and 400 connections
// sending a megabyte of header lines took it to 470 MB. Now its headers
// are capped at 16 KiB and one address holds at most 256 connections, the
// longest idle closed first.
func TestDaemonMetricsBounded(t *testing.T) {
	r := newRig(t, "")
	addrs, err := freePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	metrics := addrs[0]
	r.appendConfig("client1.yaml", fmt.Sprintf("metrics_addr: %q\n", metrics))
	r.server("add", r.mkpkg("m", "1.0.0", 1<<10))
	r.server("start")
	r.client1("sync")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d := r.start(ctx, "dist-client", "client1", "client1.yaml", "daemon")
	if !poll(20*time.Second, func() bool {
		c, err := net.Dial("tcp", metrics)
		if err == nil {
			c.Close()
		}
		return err == nil
	}) {
		t.Fatalf("the daemon never listened on %s:\n%s", metrics, d.out)
	}
	get := func(c net.Conn, extra string) (int, error) {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := fmt.Fprintf(c, "GET /metrics HTTP/1.1\r\nHost: x\r\n%s\r\n", extra); err != nil {
			return 0, err
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		_, err = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, err
	}
	// 64 KiB of header lines.
	c, err := net.Dial("tcp", metrics)
	if err != nil {
		t.Fatal(err)
	}
	code, err := get(c, strings.Repeat("X-Filler: "+strings.Repeat("a", 1000)+"\r\n", 64))
	c.Close()
	if err != nil || code != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("64 KiB of headers: status %d, %v; want 431", code, err)
	}
	// 300 keep-alive connections, each idle after one request.
	const n = 300
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range n {
		c, err := net.Dial("tcp", metrics)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		if code, err := get(c, ""); err != nil || code != http.StatusOK {
			t.Fatalf("connection %d: status %d, %v", len(conns), code, err)
		}
	}
	time.Sleep(200 * time.Millisecond) // the closes have arrived
	closed := 0
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(5 * time.Millisecond))
		if _, err := c.Read(make([]byte, 1)); err == io.EOF {
			closed++
		}
	}
	if closed < n-256 {
		t.Fatalf("the daemon holds %d of %d idle connections from one address open; want at most 256", n-closed, n)
	}
	if !d.running() {
		t.Fatalf("the daemon exited:\n%s", d.out)
	}
}
