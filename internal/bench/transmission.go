//go:build linux

package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/distpac/distpac/internal/deathsig"
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
	runErr := deathsig.Run(cmd, syscall.SIGTERM)
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
