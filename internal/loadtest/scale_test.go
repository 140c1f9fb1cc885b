package loadtest

// Per-operation costs behind docs/SCALING.md: the embedded tracker's
// memory per peer and CPU per announce, opentracker's announces per
// second and memory per peer, the catalog's bytes per package, and a
// seeder's CPU per GiB served with a downloader's CPU and memory. Figures
// are logged ("figure: ..."), never asserted. DISTPAC_LOAD_SCALE (default
// 1) multiplies the sizes, for the runs SCALING.md quotes:
//
//	DISTPAC_LOAD_SCALE=5 go test -count=1 -v -run 'TestLoad|TestTracker|TestOpentracker|TestCatalogSize|TestSeederCost' ./internal/loadtest

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/catalogclient"
	"github.com/distpac/distpac/internal/proctest"
	"github.com/distpac/distpac/internal/swarm"
	"github.com/distpac/distpac/internal/torrentmeta"
	"github.com/distpac/distpac/internal/tracker"
)

// scale is DISTPAC_LOAD_SCALE, at least 1.
func scale() int {
	n, err := strconv.Atoi(os.Getenv("DISTPAC_LOAD_SCALE"))
	if err != nil || n < 1 {
		return 1
	}
	return n
}

// figure logs one measured figure in a form easy to collect.
func figure(t *testing.T, format string, args ...any) {
	t.Helper()
	t.Logf("figure: "+format, args...)
}

// heapInUse is the live heap after a full collection.
func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestTrackerMemory fills the embedded tracker through its HTTP handler
// (in process: the cost of the tracker itself, without sockets) with
// peers of distinct addresses, 1,000 a torrent, and reports the live heap
// per peer and the CPU per announce.
func TestTrackerMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("load test: skipped with -short")
	}
	peers := 20000 * scale()
	const perTorrent = 1000
	tr := tracker.New(tracker.Options{MaxPeersPerIP: -1})
	h := tr.Handler()
	before := heapInUse()
	var ru0, ru1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	start := time.Now()
	for i := range peers {
		var ih [20]byte
		copy(ih[:], fmt.Sprintf("distpac-mem-%08d", i/perTorrent))
		q := url.Values{
			"info_hash": {string(ih[:])}, "peer_id": {fmt.Sprintf("-DP0001-%012d", i)},
			"port": {"6881"}, "left": {"1000"}, "compact": {"1"}, "numwant": {"50"}, "event": {"started"},
		}
		req := httptest.NewRequest(http.MethodGet, "/announce?"+q.Encode(), nil)
		ip := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		req.RemoteAddr = netip.AddrPortFrom(ip, 40000).String()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK || strings.Contains(rec.Body.String(), "failure reason") {
			t.Fatalf("announce %d: %d %q", i, rec.Code, rec.Body.String())
		}
	}
	elapsed := time.Since(start)
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	after := heapInUse()
	st := tr.Stats()
	if st.Peers != peers {
		t.Fatalf("tracker holds %d peers, want %d", st.Peers, peers)
	}
	cpu := cpuOf(ru1) - cpuOf(ru0)
	figure(t, "embedded tracker: %d peers in %d torrents: %.0f bytes of heap a peer; %.1f µs of CPU an announce (in process, numwant 50): %.0f announces/s per core",
		peers, st.Torrents, float64(after-before)/float64(peers), cpu.Seconds()*1e6/float64(peers), float64(peers)/cpu.Seconds())
	t.Logf("(wall %v)", elapsed.Round(time.Millisecond))
	runtime.KeepAlive(tr)
}

func cpuOf(ru syscall.Rusage) time.Duration {
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestOpentrackerLoad runs Debian's opentracker (when installed) and sends
// it the same HTTP announces as TestLoad sends the embedded tracker: its
// announces per second over loopback, and its resident memory per peer.
func TestOpentrackerLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("load test: skipped with -short")
	}
	bin, err := exec.LookPath("opentracker")
	if err != nil {
		t.Skip("opentracker is not installed (apt-get install opentracker)")
	}
	raiseNoFile(t)
	n := announces * scale()
	hashes := n / 625 // 625 peers a torrent, as in TestLoad
	dir, err := os.MkdirTemp("", "distpac-loadtest-ot-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755) // read as nobody
	ihs := make([][20]byte, hashes)
	var wl strings.Builder
	for i := range ihs {
		copy(ihs[i][:], fmt.Sprintf("distpac-loadtest-%03d", i))
		fmt.Fprintf(&wl, "%x\n", ihs[i])
	}
	wlPath := filepath.Join(dir, "whitelist")
	if err := os.WriteFile(wlPath, []byte(wl.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, port, _ := strings.Cut(addr, ":")
	args := []string{"-i", "127.0.0.1", "-p", port, "-P", port, "-w", wlPath}
	if os.Geteuid() == 0 {
		args = append(args, "-u", "nobody", "-d", "/")
	}
	cmd := exec.Command(bin, args...)
	if err := proctest.Start(cmd); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() })
	base := "http://" + addr
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 128}}
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	for start := time.Now(); announce(ctx, client, base, ihs[0], 1, true) != nil; {
		if time.Since(start) > 10*time.Second {
			t.Fatal("opentracker did not answer within 10 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	rss0 := rssOf(cmd.Process.Pid)
	lat, elapsed := run(ctx, t, n, announceFlight, func(ctx context.Context, i int) error {
		return announce(ctx, client, base, ihs[i%hashes], uint16(10000+i), i%3 == 0)
	})
	report(t, "opentracker announce", lat, elapsed)
	rss1 := rssOf(cmd.Process.Pid)
	cpu := procCPU(cmd.Process.Pid)
	figure(t, "opentracker: %d announces over loopback HTTP at %.0f/s (%d in flight), its CPU %.1f µs an announce; resident memory grew %d KiB for %d peers (%.0f bytes a peer)",
		n, float64(n)/elapsed.Seconds(), announceFlight, cpu.Seconds()*1e6/float64(n), (rss1-rss0)>>10, n, float64(rss1-rss0)/float64(n))
}

// TestCatalogSize publishes catalogs of 1 and 200 small packages with the
// real publisher: the bytes a package's row adds to packages.db (one piece
// hash each; a larger package adds 20 bytes a 64 KiB piece), and how long
// a full sync of the larger catalog takes.
func TestCatalogSize(t *testing.T) {
	if testing.Short() {
		t.Skip("load test: skipped with -short")
	}
	ctx := context.Background()
	n := 200 * scale()
	_, one, _ := buildCatalog(ctx, t, 1)
	pub, many, archives := buildCatalog(ctx, t, n)
	perRow := float64(len(many.DB)-len(one.DB)) / float64(n-1)
	srv := newCatalogServer(pub, many, archives)
	catURL := serve(t, srv.Handler())
	dir := t.TempDir()
	start := time.Now()
	if _, err := catalogclient.Sync(ctx, catalogclient.Options{ServerURL: catURL, Dir: dir, Key: pub}); err != nil {
		t.Fatal(err)
	}
	figure(t, "catalog: %d bytes with 1 package, %d with %d: %.0f bytes a package row; a full sync of it (download, verify, check every row, install) %v",
		len(one.DB), len(many.DB), n, perRow, time.Since(start).Round(time.Millisecond))
}

// seedChildEnv selects the role of a re-run of this test binary in
// TestSeederCost: "seed" or "leech".
const seedChildEnv = "DISTPAC_LOAD_CHILD"

// childStats is what a child process reports when it ends.
type childStats struct {
	Bytes  int64 `json:"bytes"`   // uploaded (seed) or downloaded (leech)
	CPU    int64 `json:"cpu_ns"`  // user+system CPU while serving or downloading
	MaxRSS int64 `json:"max_rss"` // peak resident set, bytes
	Wall   int64 `json:"wall_ns"`
}

// TestSeederCost measures a seeder's CPU per GiB served and a
// downloader's CPU per GiB and peak memory, each in a process of its own
// (this test binary re-run): one seeder, several downloaders fetching the
// same archive straight from it over loopback.
func TestSeederCost(t *testing.T) {
	if testing.Short() {
		t.Skip("load test: skipped with -short")
	}
	size := int64(32<<20) * int64(scale())
	const leechers = 2
	dir := t.TempDir()
	path := filepath.Join(dir, "seed", "big-1.0.0.tar.zst")
	os.MkdirAll(filepath.Dir(path), 0o755)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyN(f, rand.Reader, size); err != nil {
		t.Fatal(err)
	}
	f.Close()
	meta, err := torrentmeta.Build(path, "", "")
	if err != nil {
		t.Fatal(err)
	}
	tpath := filepath.Join(dir, "big.torrent")
	os.WriteFile(tpath, meta.Torrent, 0o644)

	seed := exec.Command(os.Args[0], "-test.run=^TestSeederChild$", "-test.v")
	seed.Env = append(os.Environ(), seedChildEnv+"=seed", "DISTPAC_LOAD_DIR="+filepath.Dir(path), "DISTPAC_LOAD_TORRENT="+tpath)
	stdin, _ := seed.StdinPipe()
	stdout, _ := seed.StdoutPipe()
	seed.Stderr = os.Stderr
	if err := proctest.Start(seed); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { seed.Process.Kill(); seed.Wait() })
	lines := bufio.NewScanner(stdout)
	peer := ""
	for lines.Scan() {
		if rest, ok := strings.CutPrefix(lines.Text(), "seeding at "); ok {
			peer = rest
			break
		}
	}
	if peer == "" {
		t.Fatal("the seeder child never said where it listens")
	}
	type result struct {
		st  childStats
		err error
	}
	results := make(chan result, leechers)
	start := time.Now()
	for i := range leechers {
		go func() {
			c := exec.Command(os.Args[0], "-test.run=^TestSeederChild$", "-test.v")
			c.Env = append(os.Environ(), seedChildEnv+"=leech", "DISTPAC_LOAD_DIR="+filepath.Join(dir, fmt.Sprint("leech", i)), "DISTPAC_LOAD_TORRENT="+tpath, "DISTPAC_LOAD_PEER="+peer)
			out, err := proctest.Output(c)
			results <- result{parseStats(out), err}
		}()
	}
	var leech []childStats
	for range leechers {
		r := <-results
		if r.err != nil {
			t.Fatalf("leecher: %v", r.err)
		}
		leech = append(leech, r.st)
	}
	wall := time.Since(start)
	stdin.Close()
	var rest strings.Builder
	for lines.Scan() {
		rest.WriteString(lines.Text() + "\n")
	}
	seeder := parseStats([]byte(rest.String()))
	seed.Wait()
	gib := float64(1 << 30)
	figure(t, "seeder: served %d MiB to %d downloaders in %v: %.2f s of CPU a GiB served (%.0f MiB/s a core), peak RSS %d MiB",
		seeder.Bytes>>20, leechers, wall.Round(time.Millisecond), float64(seeder.CPU)/1e9/(float64(seeder.Bytes)/gib), float64(seeder.Bytes)/(1<<20)/(float64(seeder.CPU)/1e9), seeder.MaxRSS>>20)
	for i, l := range leech {
		figure(t, "downloader %d: %d MiB in %v: %.2f s of CPU a GiB, peak RSS %d MiB", i, l.Bytes>>20, time.Duration(l.Wall).Round(time.Millisecond), float64(l.CPU)/1e9/(float64(l.Bytes)/gib), l.MaxRSS>>20)
	}
}

func parseStats(out []byte) childStats {
	var st childStats
	for _, line := range strings.Split(string(out), "\n") {
		if rest, ok := strings.CutPrefix(line, "stats "); ok {
			json.Unmarshal([]byte(rest), &st)
		}
	}
	return st
}

// TestSeederChild is TestSeederCost's child process; it does nothing when
// run by itself.
func TestSeederChild(t *testing.T) {
	role := os.Getenv(seedChildEnv)
	if role == "" {
		t.Skip("helper process of TestSeederCost")
	}
	torrentBytes, err := os.ReadFile(os.Getenv("DISTPAC_LOAD_TORRENT"))
	if err != nil {
		t.Fatal(err)
	}
	// No PEX: every byte a downloader gets comes from the seeder.
	e, err := swarm.New(swarm.Config{Dir: os.Getenv("DISTPAC_LOAD_DIR"), ListenAddr: "127.0.0.1:0", DisableTrackers: true, DisablePEX: true})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx := context.Background()
	var ru0 syscall.Rusage
	start := time.Now()
	switch role {
	case "seed":
		if _, err := e.Seed(ctx, torrentBytes, false); err != nil {
			t.Fatal(err)
		}
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
		fmt.Printf("seeding at 127.0.0.1:%d\n", e.Port())
		io.Copy(io.Discard, os.Stdin) // until the parent closes it
		report := childReport(ru0, start, e.Stats().Uploaded)
		fmt.Printf("stats %s\n", report)
	case "leech":
		peer, err := netip.ParseAddrPort(os.Getenv("DISTPAC_LOAD_PEER"))
		if err != nil {
			t.Fatal(err)
		}
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
		if err := e.Download(ctx, torrentBytes, []netip.AddrPort{peer}, nil); err != nil {
			t.Fatal(err)
		}
		fmt.Printf("stats %s\n", childReport(ru0, start, e.Stats().Downloaded))
	}
}

func childReport(ru0 syscall.Rusage, start time.Time, bytes int64) string {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	b, _ := json.Marshal(childStats{Bytes: bytes, CPU: int64(cpuOf(ru) - cpuOf(ru0)), MaxRSS: int64(ru.Maxrss) << 10, Wall: int64(time.Since(start))})
	return string(b)
}

// rssOf is a process's resident set (VmRSS) in bytes, or 0.
func rssOf(pid int) int64 { return procStatusKB(pid, "VmRSS:") << 10 }

func procStatusKB(pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return n
		}
	}
	return 0
}

// procCPU is a running process's user+system CPU time (/proc/PID/stat).
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name may hold spaces; the fields after it do not.
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(fields[11], 10, 64)
	st, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // clock ticks (USER_HZ = 100 on Linux)
}
