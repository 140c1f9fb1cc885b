//go:build linux

package bench

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The Transmission row. Transmission refuses peers in 127/8 that a tracker
// hands it and a second concurrent handshake from one IP (see PEERS.md), so
// the row runs in a network namespace of its own: the benchmark re-executes
// itself under `unshare --net` with transmissionRowFlag, the child gives
// loopback one 198.18.0.0/15 address per host (the benchmarking range; the
// namespace keeps every packet inside), binds each daemon to its own
// address, and prints its Row as JSON on stdout.

// transmissionRowFlag, as the first argument of dist-bench, runs one
// Transmission row inside a fresh network namespace (internal use).
const transmissionRowFlag = "-internal-transmission-row"

// Addresses inside the namespace. Leechers take 198.18.1.1 upwards, so the
// tracker and the seeder never collide with one, for every N the flag allows.
const (
	trTrackerAddr = "198.18.0.254"
	trSeederAddr  = "198.18.0.1"
	trTrackerPort = 6969
	trRPCPort     = 9091 // the same on every host: each RPC binds its own address
	// Peer ports differ although the addresses do too: every daemon also
	// listens on [::1], where one port would clash.
	trPeerPort = 51413
)

func trLeecherAddr(i int) string { return fmt.Sprintf("198.18.%d.%d", 1+i/200, 1+i%200) }

// Transmission torrent status codes (RPC spec, 3.00).
const (
	trStatusStopped = 0
	trStatusSeed    = 6
)

// trSpec is what the parent hands the child in DIR/spec.json.
type trSpec struct {
	N       int
	F, U    int64
	UC      int64 // Options.u, which encoding/json would skip
	Timeout time.Duration
	BinDir  string
	Pkg     string
	// ParentNetns is the parent's /proc/self/ns/net: the child refuses to
	// touch loopback unless it is somewhere else.
	ParentNetns string
	// NoCaps runs the daemons uncapped: bench-net's links have their rates
	// set by the kernel.
	NoCaps bool
}

// upKB is a daemon's upload cap in kB/s for a cap of bps, 0 for none.
func (s trSpec) upKB(bps int64) int64 {
	if s.NoCaps {
		return 0
	}
	return kBps(bps)
}

// trResult is the child's answer on stdout.
type trResult struct {
	Row Row
	Err string `json:",omitempty"`
}

func haveTransmission() bool {
	_, err := exec.LookPath("transmission-daemon")
	return err == nil
}

// transmissionUsable says why the Transmission row cannot run here, or nil.
func transmissionUsable() error {
	if !haveTransmission() {
		return errors.New("transmission-daemon is not on PATH")
	}
	// One probe covers unshare, ip and the privilege to make a namespace.
	out, err := exec.Command("unshare", "--net", "--", "ip", "link", "set", "lo", "up").CombinedOutput()
	if err != nil {
		return fmt.Errorf("cannot create a network namespace (unshare --net, ip): %v: %s", err, bytes.TrimSpace(out))
	}
	return nil
}

// kBps turns bytes per second into Transmission's unit, kB/s of 1000 B,
// rounded down; at least 1, since 0 would not be a cap at all.
func kBps(bytesPerSec int64) int64 {
	return max(bytesPerSec/1000, 1)
}

// trSettings is a daemon's settings.json: bound to addr for peers, RPC and
// tracker requests, hermetic (no DHT, LPD, port forwarding or uTP), seeding
// forever, with its upload capped at upKB kB/s (0: not capped).
func trSettings(addr string, peerPort int, dlDir string, upKB int64) ([]byte, error) {
	s := map[string]any{
		"bind-address-ipv4":           addr,
		"bind-address-ipv6":           "::1",
		"peer-port":                   peerPort,
		"peer-port-random-on-start":   false,
		"port-forwarding-enabled":     false,
		"dht-enabled":                 false,
		"lpd-enabled":                 false,
		"utp-enabled":                 false,
		"ratio-limit-enabled":         false,
		"idle-seeding-limit-enabled":  false,
		"speed-limit-up":              upKB,
		"speed-limit-up-enabled":      upKB > 0,
		"speed-limit-down-enabled":    false,
		"alt-speed-enabled":           false,
		"download-dir":                dlDir,
		"incomplete-dir-enabled":      false,
		"start-added-torrents":        true,
		"rpc-enabled":                 true,
		"rpc-bind-address":            addr,
		"rpc-port":                    trRPCPort,
		"rpc-whitelist-enabled":       false,
		"rpc-host-whitelist-enabled":  false,
		"rpc-authentication-required": false,
		"message-level":               2,
	}
	return json.MarshalIndent(s, "", "  ")
}

// runTransmission runs the Transmission row in a child process inside a
// network namespace of its own and decodes the Row it prints.
func runTransmission(ctx context.Context, o Options, n int, pkg, dir string) (Row, error) {
	exe, err := os.Executable()
	if err != nil {
		return Row{}, fmt.Errorf("transmission row: find this program: %w", err)
	}
	bin, err := filepath.Abs(o.BinDir)
	if err != nil {
		return Row{}, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Row{}, err
	}
	netns, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		return Row{}, fmt.Errorf("transmission row: %w", err)
	}
	spec, _ := json.Marshal(trSpec{N: n, F: o.F, U: o.U, UC: o.u, Timeout: o.Timeout, BinDir: bin, Pkg: pkg, ParentNetns: netns})
	if err := os.WriteFile(filepath.Join(dir, "spec.json"), spec, 0o644); err != nil {
		return Row{}, err
	}
	logPath := filepath.Join(dir, "child.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return Row{}, err
	}
	defer logf.Close()
	// The child bounds itself by o.Timeout; the margin covers its setup
	// and an orderly stop of N daemons before we force it.
	ctx, cancel := context.WithTimeout(ctx, o.Timeout+30*time.Second)
	defer cancel()
	var stdout bytes.Buffer
	cmd := exec.CommandContext(ctx, "unshare", "--net", "--", exe, transmissionRowFlag, dir)
	cmd.Stdout, cmd.Stderr = &stdout, logf
	// unshare execs the benchmark in place, so this PID is the child's: a
	// SIGTERM lets it stop its daemons, and it gets one if we die.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 20 * time.Second
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	runErr := cmd.Run()
	var res trResult
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		if runErr == nil {
			runErr = err
		}
		return Row{}, fmt.Errorf("transmission row: %v (log %s: %s)", runErr, logPath, tail(logPath, 300))
	}
	if res.Err != "" {
		return res.Row, errors.New(res.Err)
	}
	return res.Row, runErr
}

// tail returns about the last n bytes of a file, on one line.
func tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	return tailText(b, n)
}

// tailText is about the last n bytes of b, on one line.
func tailText(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return strings.Join(strings.Fields(string(b)), " ")
}

// transmissionRowMain is the child: it runs inside the namespace, reads
// DIR/spec.json and prints a trResult on stdout.
func transmissionRowMain(args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 {
		fmt.Fprintf(stderr, "dist-bench: %s wants one directory\n", transmissionRowFlag)
		return 2
	}
	dir := args[0]
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var res trResult
	row, err := transmissionChild(ctx, dir, stderr)
	res.Row = row
	if err != nil {
		res.Err = err.Error()
	}
	b, _ := json.Marshal(res)
	fmt.Fprintf(stdout, "%s\n", b)
	if err != nil {
		fmt.Fprintf(stderr, "dist-bench: transmission row: %v\n", err)
		return 1
	}
	return 0
}

func transmissionChild(ctx context.Context, dir string, logw io.Writer) (Row, error) {
	var s trSpec
	b, err := os.ReadFile(filepath.Join(dir, "spec.json"))
	if err == nil {
		err = json.Unmarshal(b, &s)
	}
	if err != nil {
		return Row{}, fmt.Errorf("read spec: %w", err)
	}
	if s.N < 1 || s.F <= 0 || s.U <= 0 || s.UC <= 0 || s.Timeout <= 0 {
		return Row{}, fmt.Errorf("%s: want positive N, F, U, UC and Timeout", filepath.Join(dir, "spec.json"))
	}
	if err := trSetupNetns(s.N, s.ParentNetns); err != nil {
		return Row{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.Timeout)
	defer cancel()
	lay := layout{publisher: host{name: "seeder", addr: trSeederAddr}, tracker: host{name: "tracker", addr: trTrackerAddr}}
	for _, a := range trLeecherAddrs(s.N) {
		lay.clients = append(lay.clients, host{name: a, addr: a})
	}
	return trScenario(ctx, s, lay, dir, logw)
}

// trSetupNetns brings up loopback and gives it one address per host. It
// refuses to run in the parent's namespace (or with none named), where it
// would add addresses to the machine's real loopback.
func trSetupNetns(n int, parent string) error {
	self, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		return fmt.Errorf("network namespace: %w", err)
	}
	if parent == "" || self == parent {
		return fmt.Errorf("network namespace: %s must run under unshare --net, not in the machine's namespace", transmissionRowFlag)
	}
	var cmds strings.Builder
	cmds.WriteString("link set lo up\n")
	for _, a := range append([]string{trTrackerAddr, trSeederAddr}, trLeecherAddrs(n)...) {
		fmt.Fprintf(&cmds, "addr add %s/32 dev lo\n", a)
	}
	cmd := exec.Command("ip", "-batch", "-")
	cmd.Stdin = strings.NewReader(cmds.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("network namespace: ip -batch: %v: %s", err, bytes.TrimSpace(out))
	}
	return nil
}

func trLeecherAddrs(n int) []string {
	a := make([]string, n)
	for i := range a {
		a[i] = trLeecherAddr(i)
	}
	return a
}

// reaped binds a child to our life: if this process dies without stopping
// it, the kernel kills it, so no daemon outlives the row (in a namespace,
// where nobody could reach it).
func reaped() *syscall.SysProcAttr { return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} }

// stopAll stops processes by PID, all at once: each Transmission daemon
// says goodbye to the tracker on SIGTERM, which one by one adds up.
func stopAll(ps []*proc) {
	var wg sync.WaitGroup
	for _, p := range ps {
		if p != nil {
			wg.Add(1)
			go func() { defer wg.Done(); p.stop() }()
		}
	}
	wg.Wait()
}

// trDaemon is one running transmission-daemon.
type trDaemon struct {
	name string
	proc *proc
	rpc  *trRPC
}

// startTrDaemon starts a daemon named name on h, bound to h's address,
// its upload capped at upKB kB/s (0: no cap).
func startTrDaemon(dir, name string, h host, peerPort int, upKB int64) (*trDaemon, error) {
	cfg, dl := filepath.Join(dir, name, "config"), filepath.Join(dir, name, "download")
	for _, d := range []string{cfg, dl} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	settings, err := trSettings(h.addr, peerPort, dl, upKB)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(cfg, "settings.json"), settings, 0o644); err != nil {
		return nil, err
	}
	p, err := h.start(filepath.Join(dir, name+".log"), nil, "transmission-daemon", "-f", "-g", cfg)
	if err != nil {
		return nil, fmt.Errorf("start transmission-daemon %s: %w", name, err)
	}
	return &trDaemon{name: name, proc: p, rpc: newTrRPC(fmt.Sprintf("http://%s:%d/transmission/rpc", h.addr, trRPCPort))}, nil
}

// torrent returns the daemon's one torrent.
func (d *trDaemon) torrent(ctx context.Context) (trTorrent, error) {
	var out trTorrentGet
	if err := d.rpc.call(ctx, "torrent-get", map[string]any{"fields": trTorrentFields}, &out); err != nil {
		return trTorrent{}, fmt.Errorf("%s: %w", d.name, err)
	}
	if len(out.Torrents) != 1 {
		return trTorrent{}, fmt.Errorf("%s: torrent-get: want 1 torrent, have %d", d.name, len(out.Torrents))
	}
	return out.Torrents[0], nil
}

func (d *trDaemon) add(ctx context.Context, metainfo []byte) error {
	var out struct {
		Added *struct {
			ID int `json:"id"`
		} `json:"torrent-added"`
	}
	args := map[string]any{"metainfo": base64.StdEncoding.EncodeToString(metainfo), "paused": false}
	if err := d.rpc.call(ctx, "torrent-add", args, &out); err != nil {
		return fmt.Errorf("%s: %w", d.name, err)
	}
	if out.Added == nil {
		return fmt.Errorf("%s: torrent-add: no torrent-added in the reply", d.name)
	}
	return nil
}

// trScenario runs the row on the hosts of lay, with the caps of s (a cap
// of 0 leaves a daemon uncapped, for links whose rate the kernel sets).
func trScenario(ctx context.Context, s trSpec, lay layout, dir string, logw io.Writer) (Row, error) {
	var row Row
	// The daemons stop first, all at once, then the tracker they say
	// goodbye to.
	var procs []*proc
	var srv *proc
	defer func() {
		stopAll(procs)
		if srv != nil {
			srv.stop()
		}
	}()

	// The tracker: a tracker-only dist-server inside the namespace, whose
	// torrents announce to it.
	yaml := fmt.Sprintf("tracker_addr: \"%s:%d\"\nannounce_url: \"http://%[1]s:%[2]d/announce\"\n", lay.tracker.addr, trTrackerPort)
	p, meta, archive, err := startTracker(ctx, s.BinDir, s.Pkg, dir, yaml, lay.tracker)
	if err != nil {
		return row, err
	}
	srv = p
	metainfo := meta.Torrent

	// The seeder, with the archive in its download directory, verified
	// before any leecher starts.
	seeder, err := startTrDaemon(dir, "seeder", lay.publisher, trPeerPort, s.upKB(s.U))
	if err != nil {
		return row, err
	}
	procs = append(procs, seeder.proc)
	if err := linkOrCopy(archive, filepath.Join(dir, "seeder", "download", meta.Archive)); err != nil {
		return row, err
	}
	if err := trWaitRPC(ctx, seeder); err != nil {
		return row, err
	}
	if err := seeder.add(ctx, metainfo); err != nil {
		return row, err
	}
	verifyAsked := false
	var st trTorrent
	if err := trPoll(ctx, "the Transmission seeder to verify the archive", func() (bool, error) {
		st, err = seeder.torrent(ctx)
		if err != nil {
			return false, err
		}
		if st.Error == trErrorLocal {
			return false, fmt.Errorf("seeder: %s", st.ErrorString)
		}
		// Should it have started without checking, ask once.
		if !verifyAsked && st.Status == trStatusStopped && !st.complete() {
			verifyAsked = true
			return false, seeder.rpc.call(ctx, "torrent-verify", map[string]any{}, nil)
		}
		return st.complete() && st.Status == trStatusSeed, nil
	}); err != nil {
		return row, err
	}
	up0 := st.UploadedEver

	// The leechers: daemons up first, then every torrent added at once.
	leechers := make([]*trDaemon, s.N)
	for i := range leechers {
		leechers[i], err = startTrDaemon(dir, fmt.Sprintf("leecher%02d", i), lay.clients[i], trPeerPort+1+i, s.upKB(s.UC))
		if err != nil {
			return row, err
		}
		procs = append(procs, leechers[i].proc)
	}
	for _, l := range leechers {
		if err := trWaitRPC(ctx, l); err != nil {
			return row, err
		}
	}
	meter, err := lay.startMeter()
	if err != nil {
		return row, err
	}
	defer meter.stop()
	fmt.Fprintf(logw, "%d leechers ready; starting\n", s.N)
	cpu := rowCPU{}
	cpu.start(procs...)
	t0 := time.Now()
	addErrs := make([]error, s.N)
	var wg sync.WaitGroup
	for i, l := range leechers {
		wg.Add(1)
		go func() { defer wg.Done(); addErrs[i] = l.add(ctx, metainfo) }()
	}
	wg.Wait()
	if err := errors.Join(addErrs...); err != nil {
		return row, err
	}
	times := make([]time.Duration, s.N)
	done := make([]bool, s.N)
	left := s.N
	nextLog := t0
	if err := trPoll(ctx, "the Transmission leechers", func() (bool, error) {
		// Every few seconds, a line per daemon in the row's log, so a
		// slow row can be told apart from a badly connected swarm.
		logNow := time.Now().After(nextLog)
		if logNow {
			nextLog = nextLog.Add(trLogEvery)
			if st, err := seeder.torrent(ctx); err == nil {
				fmt.Fprintf(logw, "%6.1fs %s\n", time.Since(t0).Seconds(), st.progress("seeder"))
			}
		}
		for i, l := range leechers {
			if done[i] {
				continue
			}
			st, err := l.torrent(ctx)
			if err != nil {
				return false, err
			}
			if logNow {
				fmt.Fprintf(logw, "%6.1fs %s\n", time.Since(t0).Seconds(), st.progress(l.name))
			}
			if st.Error == trErrorLocal {
				return false, fmt.Errorf("%s: %s", l.name, st.ErrorString)
			}
			if st.complete() {
				done[i], times[i] = true, time.Since(t0)
				left--
			}
		}
		return left == 0, nil
	}); err != nil {
		return row, fmt.Errorf("%w (%d of %d leechers done)", err, s.N-left, s.N)
	}
	summarise(&row, times)
	st, err = seeder.torrent(ctx)
	if err != nil {
		return row, err
	}
	row.ServerUp = float64(st.UploadedEver-up0) / float64(s.F)
	row.ServerPayload = row.ServerUp
	for _, l := range leechers {
		if st, err := l.torrent(ctx); err == nil {
			row.ClientDownMax = max(row.ClientDownMax, float64(st.DownloadedEver)/float64(s.F))
		}
		row.PeakRSS = max(row.PeakRSS, peakRSS(l.proc.cmd.Process.Pid))
		row.CPU += cpu.of(l.proc)
	}
	row.CPU += cpu.of(seeder.proc)
	return row, meter.finish(&row, s.F, s.U, s.UC)
}

// trPollEvery is how often the leechers are asked for their progress: a
// tenth of a second is fine next to row times of seconds, and polling N
// daemons faster would add their RPC work to the CPU column.
const trPollEvery = 100 * time.Millisecond

// trLogEvery is how often the row's log gets a progress line per daemon.
const trLogEvery = 5 * time.Second

// trPoll calls check until it reports done or fails, or ctx ends.
func trPoll(ctx context.Context, what string, check func() (bool, error)) error {
	for {
		ok, err := check()
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
			}
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-time.After(trPollEvery):
		}
	}
}

// trWaitRPC waits until a daemon answers its RPC, and fails at once if it
// exits instead.
func trWaitRPC(ctx context.Context, d *trDaemon) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return trPoll(ctx, d.name+"'s RPC", func() (bool, error) {
		if exited, err := d.proc.exited(); exited {
			return false, fmt.Errorf("transmission-daemon exited: %v (see %s.log)", err, d.name)
		}
		return d.rpc.call(ctx, "session-get", nil, nil) == nil, nil
	})
}

func linkOrCopy(src, dst string) error {
	if os.Link(src, dst) == nil {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// trRPC is a client of Transmission's RPC: JSON over HTTP, with the
// X-Transmission-Session-Id header it hands out on a 409 and then wants on
// every request (its CSRF guard).
type trRPC struct {
	url     string
	client  *http.Client
	mu      sync.Mutex
	session string // guarded by mu
}

const trSessionHeader = "X-Transmission-Session-Id"

func newTrRPC(url string) *trRPC {
	return &trRPC{url: url, client: &http.Client{Timeout: 10 * time.Second}}
}

// call runs method with args and decodes the reply's arguments into out
// (when not nil).
func (c *trRPC) call(ctx context.Context, method string, args, out any) error {
	body, err := json.Marshal(map[string]any{"method": method, "arguments": args})
	if err != nil {
		return err
	}
	for range 2 {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
		if err != nil {
			return err
		}
		c.mu.Lock()
		req.Header.Set(trSessionHeader, c.session)
		c.mu.Unlock()
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.client.Do(req)
		if err != nil {
			return fmt.Errorf("%s: %w", method, err)
		}
		reply, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
		resp.Body.Close()
		if err != nil {
			return fmt.Errorf("%s: read reply: %w", method, err)
		}
		if resp.StatusCode == http.StatusConflict {
			c.mu.Lock()
			c.session = resp.Header.Get(trSessionHeader)
			c.mu.Unlock()
			continue
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: HTTP %s", method, resp.Status)
		}
		return decodeTrReply(method, reply, out)
	}
	return fmt.Errorf("%s: still HTTP 409 after taking a new %s", method, trSessionHeader)
}

// decodeTrReply checks a reply's result and decodes its arguments.
func decodeTrReply(method string, reply []byte, out any) error {
	var r struct {
		Result    string          `json:"result"`
		Arguments json.RawMessage `json:"arguments"`
	}
	if err := json.Unmarshal(reply, &r); err != nil {
		return fmt.Errorf("%s: reply is not JSON: %w", method, err)
	}
	if r.Result != "success" {
		if r.Result == "" {
			return fmt.Errorf("%s: reply has no result", method)
		}
		return fmt.Errorf("%s: %s", method, r.Result)
	}
	if out == nil {
		return nil
	}
	if len(r.Arguments) == 0 {
		return fmt.Errorf("%s: reply has no arguments", method)
	}
	if err := json.Unmarshal(r.Arguments, out); err != nil {
		return fmt.Errorf("%s: arguments: %w", method, err)
	}
	return nil
}

// trErrorLocal is torrent-get's error code for a local failure (disk,
// data); codes 1 and 2 are tracker warnings and errors, which may pass.
const trErrorLocal = 3

var trTorrentFields = []string{"id", "status", "percentDone", "haveValid", "sizeWhenDone", "uploadedEver", "downloadedEver", "error", "errorString",
	"peersConnected", "peersGettingFromUs", "peersSendingToUs", "rateDownload", "rateUpload"}

type trTorrentGet struct {
	Torrents []trTorrent `json:"torrents"`
}

// trTorrent is the part of torrent-get this benchmark reads.
type trTorrent struct {
	ID             int     `json:"id"`
	Status         int     `json:"status"`
	PercentDone    float64 `json:"percentDone"`
	HaveValid      int64   `json:"haveValid"`
	SizeWhenDone   int64   `json:"sizeWhenDone"`
	UploadedEver   int64   `json:"uploadedEver"`
	DownloadedEver int64   `json:"downloadedEver"`
	Error          int     `json:"error"`
	ErrorString    string  `json:"errorString"`
	// For the progress lines in the row's log.
	PeersConnected     int   `json:"peersConnected"`
	PeersGettingFromUs int   `json:"peersGettingFromUs"`
	PeersSendingToUs   int   `json:"peersSendingToUs"`
	RateDownload       int64 `json:"rateDownload"`
	RateUpload         int64 `json:"rateUpload"`
}

// complete reports whether every wanted byte is there and hash-checked:
// haveValid counts only verified pieces, unlike percentDone's float.
func (t trTorrent) complete() bool {
	return t.SizeWhenDone > 0 && t.HaveValid >= t.SizeWhenDone
}

// progress is a one-line summary for the row's log.
func (t trTorrent) progress(name string) string {
	return fmt.Sprintf("%s: %.1f%% peers %d (sending to us %d, getting from us %d) down %d kB/s up %d kB/s",
		name, t.PercentDone*100, t.PeersConnected, t.PeersSendingToUs, t.PeersGettingFromUs, t.RateDownload/1000, t.RateUpload/1000)
}
