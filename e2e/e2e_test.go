// Package e2e runs the real dist-server, dist-client and named-file-server
// binaries end to end, as a user would in a terminal: each script under
// testdata/ is a testscript session with its own server and client data
// homes, loopback ports and configuration files.
package e2e

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/nettest"
	"github.com/distpac/distpac/internal/proctest"
	"github.com/rogpeppe/go-internal/testscript"
)

// binDir holds the three binaries, built once by TestMain, and mark is
// the watchdog's environment entry (proctest.Watchdog). Each is written
// once before any test runs and only read afterwards; a package variable
// is the only way TestMain can hand them to the tests.
var binDir, mark string

func TestMain(m *testing.M) {
	proctest.WatchdogMain()
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	// Everything a test starts dies with this binary, should it die
	// without its cleanup (kill -9, the go command's kill after a
	// timeout): most of it is out of Pdeathsig's reach. testscript's exec
	// takes no SysProcAttr, `dist-server start` leaves its server in a
	// session of its own and ends, install scripts leave background jobs.
	// The watchdog finds them by the mark in their environment: this
	// process's, which they inherit, and the harness's (environ).
	// Measured with a kill -9 of this binary mid-story: in two_clients
	// the server and the daemon ran on, in a story whose install.sh
	// leaves two jobs the server, the jobs and the script's `exec sleep`,
	// in TestThrottledServerUpload the server; nothing runs on now.
	var err error
	if mark, err = proctest.Watchdog(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		return 1
	}
	if k, v, ok := strings.Cut(mark, "="); ok {
		os.Setenv(k, v)
	}
	dir, err := os.MkdirTemp("", "distpac-e2e-bin-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		return 1
	}
	defer os.RemoveAll(dir)
	// The binaries are built without -race even under go test -race: they
	// are the product under test, and race-built they would be too slow for
	// the big-package script.
	build := exec.Command("go", "build", "-o", dir+string(filepath.Separator), "./cmd/...")
	build.Dir = ".."
	build.Env = append(os.Environ(), "CGO_ENABLED=0") // as make build makes them
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: go build ./cmd/...: %v\n", err)
		return 1
	}
	binDir = dir
	return m.Run()
}

// A waiting test, one whose time goes to timers, capped rates and
// processes it holds back (a daemon stopped and started again, a tracker
// down for 17 s, a stall timeout) while the binaries use a fraction of a
// core, calls t.Parallel, as testscript does for every script: each has
// its own harness (work directory, ports), so their waits overlap. Tests
// that move big archives at full speed, measure a rate or a timing that
// CPU contention changes, or mount file systems do not: Go runs them
// first, one at a time, and the parallel ones after every other top-level
// test has ended, -parallel (GOMAXPROCS by default) at a time.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata",
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		Setup: func(env *testscript.Env) error {
			h, err := newHarness(env.WorkDir)
			if err != nil {
				return err
			}
			for _, kv := range h.environ(env.Getenv("PATH")) {
				k, v, _ := strings.Cut(kv, "=")
				env.Setenv(k, v)
			}
			env.Values[stateKey{}] = &scriptState{}
			env.Defer(func() {
				if err := h.stopServer(); err != nil {
					env.T().Log(err)
				}
			})
			return nil
		},
		Cmds: commands(),
	})
}

// harness is one isolated installation: a server home, two client homes,
// their configuration files and the loopback ports they use.
type harness struct {
	work       string
	dbAddr     string // catalog HTTP server
	trackerAdr string // embedded tracker
	peerAddr   string // server's seeder
	mirrorAddr string // for a named-file-server mirror
}

func newHarness(work string) (*harness, error) {
	ports, err := freePorts(4)
	if err != nil {
		return nil, err
	}
	h := &harness{work: work, dbAddr: ports[0], trackerAdr: ports[1], peerAddr: ports[2], mirrorAddr: ports[3]}
	files := map[string]string{
		"server.yaml": fmt.Sprintf("database_addr: %q\ntracker_addr: %q\npeer_addr: %q\n", h.dbAddr, h.trackerAdr, h.peerAddr),
		"client1.yaml": fmt.Sprintf("server_url: %q\nprefix: %q\npeer_addr: \"127.0.0.1:0\"\n",
			"http://"+h.dbAddr, filepath.Join(work, "prefix1")),
		"client2.yaml": fmt.Sprintf("server_url: %q\nprefix: %q\npeer_addr: \"127.0.0.1:0\"\n",
			"http://"+h.dbAddr, filepath.Join(work, "prefix2")),
		// client1's installation, but syncing from a mirror instead.
		"mirror.yaml": fmt.Sprintf("server_url: %q\nprefix: %q\npeer_addr: \"127.0.0.1:0\"\n",
			"http://"+h.mirrorAddr, filepath.Join(work, "prefix1")),
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(work, name), []byte(text), 0o644); err != nil {
			return nil, fmt.Errorf("harness: %w", err)
		}
	}
	for _, d := range []string{"server", "client1", "client2", "prefix1", "prefix2", "home", "default"} {
		if err := os.MkdirAll(filepath.Join(work, d), 0o755); err != nil {
			return nil, fmt.Errorf("harness: %w", err)
		}
	}
	return h, nil
}

// environ is the environment a script (or a plain Go test) runs the
// binaries with, given the PATH to extend.
func (h *harness) environ(path string) []string {
	examples, _ := filepath.Abs(filepath.Join("..", "examples"))
	w := h.work
	env := []string{
		"PATH=" + binDir + string(os.PathListSeparator) + path,
		"HOME=" + filepath.Join(w, "home"),
		// Any binary run without a wrapper gets an empty home of its own,
		// never the user's.
		"XDG_DATA_HOME=" + filepath.Join(w, "default"),
		"NO_COLOR=1",
		"EXAMPLES=" + examples,
		"SERVER_HOME=" + filepath.Join(w, "server"),
		"SERVER_CONFIG=" + filepath.Join(w, "server.yaml"),
		"ARCHIVES=" + filepath.Join(w, "server", "distpac", "server", "archives"),
		"PUBLIC=" + filepath.Join(w, "server", "distpac", "server", "public"),
		"CLIENT1_HOME=" + filepath.Join(w, "client1"),
		"CLIENT1_CONFIG=" + filepath.Join(w, "client1.yaml"),
		"CLIENT2_HOME=" + filepath.Join(w, "client2"),
		"CLIENT2_CONFIG=" + filepath.Join(w, "client2.yaml"),
		"PREFIX1=" + filepath.Join(w, "prefix1"),
		"PREFIX2=" + filepath.Join(w, "prefix2"),
		"DB_ADDR=" + h.dbAddr,
		"TRACKER_ADDR=" + h.trackerAdr,
		"PEER_ADDR=" + h.peerAddr,
		"MIRROR_ADDR=" + h.mirrorAddr,
		"SERVER_URL=http://" + h.dbAddr,
	}
	if mark != "" {
		env = append(env, mark) // built from scratch: the watchdog's mark is not inherited
	}
	return env
}

// stopServer stops every server a story started under its work
// directory: the harness's, and any other data home's (a mirror's, started
// with XDG_DATA_HOME=$WORK/mirrorhome). Politely with dist-server stop,
// then by its pid. A story that failed before its own stop left a mirror
// running, which went on writing into the removed work directory (an
// operator's run found four).
func (h *harness) stopServer() error {
	var errs []error
	filepath.WalkDir(h.work, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "server.json" || filepath.Base(filepath.Dir(path)) != "server" {
			return nil
		}
		home := filepath.Dir(filepath.Dir(filepath.Dir(path))) // HOME/distpac/server/server.json
		errs = append(errs, stopServerAt(home, filepath.Join(h.work, "server.yaml"), path))
		return nil
	})
	return errors.Join(errs...)
}

// stopServerAt stops the server whose data home is home and pid file
// pidFile.
func stopServerAt(home, config, pidFile string) error {
	cmd := exec.Command(filepath.Join(binDir, "dist-server"), "--config", config, "stop", "--timeout", "15s")
	cmd.Env = append(os.Environ(), "XDG_DATA_HOME="+home)
	out, err := cmd.CombinedOutput()
	if err == nil {
		return nil
	}
	pid, perr := readPID(pidFile)
	if perr != nil {
		return fmt.Errorf("cleanup: dist-server stop: %v: %s; and %v", err, out, perr)
	}
	// Only kill what is still our server: a pid can be reused.
	cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if !strings.Contains(string(cmdline), "dist-server") {
		return nil
	}
	syscall.Kill(pid, syscall.SIGKILL)
	return fmt.Errorf("cleanup: dist-server stop failed (%v: %s); killed pid %d", err, out, pid)
}

// givenPorts are the ports freePorts gave out.
var givenPorts = struct {
	sync.Mutex
	m map[int]bool
}{m: map[int]bool{}}

// freePorts picks n distinct free loopback TCP ports below the kernel's
// ephemeral range (ip_local_port_range). The binaries bind them only after
// this returns, and meanwhile a port of the ephemeral range can be taken by
// any outgoing connection or bind to port 0 of the tests running in
// parallel: seen once, the embedded tracker's bind failed with "address
// already in use". Ports below the range are taken only by binds that name
// them; they are tried from a random start, so that harnesses running at
// once rarely try the same ones.
func freePorts(n int) ([]string, error) {
	const low = 10000
	high := nettest.EphemeralLow()
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	// A port is given out once per test binary: the ports are free when
	// picked, not when used, and a test that picked its server's ports and
	// then one for opentracker got the server's peer port again (nothing
	// listened there yet), so the seeder found it taken (TestOpentracker
	// in a clean clone's make test).
	givenPorts.Lock()
	defer givenPorts.Unlock()
	var addrs []string
	span := high - low
	start := rand.IntN(span)
	for i := 0; i < span && len(addrs) < n; i++ {
		port := low + (start+i)%span
		if givenPorts.m[port] {
			continue
		}
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue // taken
		}
		lns = append(lns, ln)
		addrs = append(addrs, ln.Addr().String())
		givenPorts.m[port] = true
	}
	if len(addrs) < n {
		return nil, fmt.Errorf("free port: found %d free ports of %d under %d", len(addrs), span, high)
	}
	return addrs, nil
}

// waitTCP waits until addr accepts connections.
func waitTCP(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not listening after %s: %w", addr, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
