package e2e

// The rig: one harness (a server and two clients, each with its own data
// home) driven from Go instead of a script, for the tests whose timing
// matters (exec.Cmd, deadlines, kill by pid). Every wait is bounded.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/buftest"
	"github.com/distpac/distpac/internal/catalog/catalogtest"
	"github.com/distpac/distpac/internal/proctest"
)

// rig is one harness driven from Go instead of a script.
type rig struct {
	t   *testing.T
	h   *harness
	env []string
}

func newRig(t *testing.T, serverYAMLExtra string) *rig {
	t.Helper()
	h, err := newHarness(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, h: h, env: h.environ(os.Getenv("PATH"))}
	r.appendConfig("server.yaml", serverYAMLExtra)
	t.Cleanup(func() {
		if err := h.stopServer(); err != nil {
			t.Error(err)
		}
	})
	return r
}

// appendConfig adds lines to one of the harness's yaml files.
func (r *rig) appendConfig(name, text string) {
	r.t.Helper()
	if text == "" {
		return
	}
	p := r.path(name)
	b, err := os.ReadFile(p)
	if err != nil {
		r.t.Fatal(err)
	}
	if err := os.WriteFile(p, append(b, text...), 0o644); err != nil {
		r.t.Fatal(err)
	}
}

// waitServed waits until the running server serves the catalog published
// last (public/packages.db): it polls the published catalog every 500 ms,
// so an add is served a moment after it returns. Serials are the time's
// (catalog.TimeSerial), so a test waits for the one published, not for a
// number.
func (r *rig) waitServed() {
	r.t.Helper()
	want := r.publishedSerial("server")
	var st struct {
		Serial int64 `json:"serial"`
	}
	if !poll(20*time.Second, func() bool {
		out, err := r.try("dist-server", "server", "server.yaml", "status", "--json")
		return err == nil && json.Unmarshal([]byte(out), &st) == nil && st.Serial >= want
	}) {
		r.t.Fatalf("server never served serial %d, the one published (at %d)", want, st.Serial)
	}
}

// publishedSerial is the serial of the catalog the server in home
// published (its public/packages.db).
func (r *rig) publishedSerial(home string) int64 {
	r.t.Helper()
	return catalogtest.Serial(r.t, r.path(home, "distpac", "server", "public", "packages.db"))
}

// path joins elements under the harness's work directory.
func (r *rig) path(elem ...string) string {
	return filepath.Join(append([]string{r.h.work}, elem...)...)
}

// clientDir is a client's state directory ($XDG_DATA_HOME/distpac/client).
func (r *rig) clientDir(home string) string { return r.path(home, "distpac", "client") }

// cmd prepares binary for the installation in home with config, bounded by
// ctx. home is "server", "client1" or "client2"; config is the yaml's name.
func (r *rig) cmd(ctx context.Context, binary, home, config string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, binary), append([]string{"--config", r.path(config)}, args...)...)
	cmd.Env = append(append([]string{}, r.env...), "XDG_DATA_HOME="+r.path(home))
	cmd.WaitDelay = 5 * time.Second
	// Start it with proctest.Start (or Run, Output, CombinedOutput): it is
	// then killed with the test binary. A `go test` stopped by kill -9 (or
	// a timeout's) runs no cleanup, and its daemons and installs went on
	// holding ports and files (seen: a killed test binary's daemon and
	// install, which die with it now). A server the rig starts with
	// `dist-server start` runs in a session of its own, as for a user:
	// the rig's cleanup stops it, and the watchdog (TestMain) should the
	// test binary die first.
	return cmd
}

// run runs a command to completion (at most two minutes) and returns its
// combined output, failing the test on a non-zero exit.
func (r *rig) run(binary, home, config string, args ...string) string {
	r.t.Helper()
	out, err := r.try(binary, home, config, args...)
	if err != nil {
		r.t.Fatalf("%s %s: %v\n%s", binary, strings.Join(args, " "), err, out)
	}
	return out
}

// try is run without failing the test.
func (r *rig) try(binary, home, config string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := proctest.CombinedOutput(r.cmd(ctx, binary, home, config, args...))
	return string(out), err
}

func (r *rig) server(args ...string) string {
	return r.run("dist-server", "server", "server.yaml", args...)
}
func (r *rig) client1(args ...string) string {
	return r.run("dist-client", "client1", "client1.yaml", args...)
}

// uploaded is the running server's uploaded_bytes.
func (r *rig) uploaded() int64 {
	r.t.Helper()
	var st struct {
		Uploaded int64 `json:"uploaded_bytes"`
	}
	out := r.server("status", "--json")
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		r.t.Fatalf("dist-server status --json: %v: %s", err, out)
	}
	return st.Uploaded
}

// mkpkg writes a package like the script command mkpkg.
func (r *rig) mkpkg(name, version string, size int64) string {
	r.t.Helper()
	dir := r.path("pkgs", name+"-"+version)
	files := map[string]string{
		"manifest.yaml":      fmt.Sprintf("name: %s\nversion: %s\n", name, version),
		"scripts/install.sh": fmt.Sprintf("#!/bin/sh\nset -eu\nmkdir -p \"$DISTPAC_DESTDIR$DISTPAC_PREFIX/%[1]s\"\ncp -R \"$DISTPAC_ASSETS/.\" \"$DISTPAC_DESTDIR$DISTPAC_PREFIX/%[1]s/\"\n", name),
	}
	r.writeFiles(dir, files)
	if err := writeRandom(filepath.Join(dir, "assets", "data.bin"), name+"@"+version, size); err != nil {
		r.t.Fatal(err)
	}
	return dir
}

func (r *rig) writeFiles(dir string, files map[string]string) {
	r.t.Helper()
	for rel, text := range files {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			r.t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o755); err != nil {
			r.t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "assets"), 0o755); err != nil {
		r.t.Fatal(err)
	}
}

// poll waits for cond, at most timeout, checking every 20 ms.
func poll(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return cond()
}

// started is a process started in the background whose exit is watched.
type started struct {
	cmd  *exec.Cmd
	out  *buftest.Buffer
	done chan error
}

func (r *rig) start(ctx context.Context, binary, home, config string, args ...string) *started {
	r.t.Helper()
	cmd := r.cmd(ctx, binary, home, config, args...)
	out := &buftest.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := proctest.Start(cmd); err != nil {
		r.t.Fatal(err)
	}
	s := &started{cmd: cmd, out: out, done: make(chan error, 1)}
	go func() { s.done <- cmd.Wait() }()
	r.t.Cleanup(func() {
		cmd.Process.Kill() // our own child, by pid; harmless when it has exited
		<-s.done
	})
	return s
}

// running reports whether the process has not exited yet.
func (s *started) running() bool {
	select {
	case err := <-s.done:
		s.done <- err
		return false
	default:
		return true
	}
}

// wait waits for the process to exit and returns how it ended, leaving
// that in done for the rig's cleanup (and the next wait).
func (s *started) wait() error {
	err := <-s.done
	s.done <- err
	return err
}

// kill9 sends SIGKILL to the process and waits for it.
func (s *started) kill9(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 %d: %v", s.cmd.Process.Pid, err)
	}
	s.wait()
}

// nothingOf checks that name is not recorded and that the prefix holds
// nothing but what the test put there.
func (r *rig) nothingOf(name string, prefix string) {
	r.t.Helper()
	if out := r.client1("list", "--installed"); strings.Contains(out, name) {
		r.t.Fatalf("%s is recorded after a failed install:\n%s", name, out)
	}
	filepath.WalkDir(prefix, func(p string, d os.DirEntry, err error) error {
		if err == nil && p != prefix && filepath.Base(p) != "filler" {
			r.t.Errorf("left in the prefix: %s", p)
		}
		return nil
	})
}

func fileSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return -1
	}
	return st.Size()
}

// publishCapped publishes a package huge of size bytes, starts the server
// and syncs client1 with its downloads capped at rate ("16MiB"), so that
// an install of huge takes seconds; it returns the package's folder and
// the path of the partial archive in client1's cache.
func (r *rig) publishCapped(size int64, rate string) (pkg, part string) {
	r.t.Helper()
	r.appendConfig("client1.yaml", "download_rate_limit: \""+rate+"\"\n")
	pkg = r.mkpkg("huge", "1.0.0", size)
	r.server("add", pkg)
	r.server("start")
	r.client1("sync")
	return pkg, filepath.Join(r.clientDir("client1"), "cache", "huge-1.0.0.tar.zst.part")
}

// installAThird starts client1's install of the package publishCapped
// made (size bytes, its .part at part), with flags, and returns it once
// the .part exists and the server has sent a third of it, still running.
func (r *rig) installAThird(ctx context.Context, size int64, part string, flags ...string) *started {
	r.t.Helper()
	p := r.start(ctx, "dist-client", "client1", "client1.yaml", append(append([]string{"install", "--stall-timeout", "30s"}, flags...), "huge")...)
	if !poll(30*time.Second, func() bool { return fileSize(part) > 0 && r.uploaded() >= size/3 }) {
		r.t.Fatalf("download never got a third of the way: part file %d bytes, server sent %d\n%s", fileSize(part), r.uploaded(), p.out)
	}
	if !p.running() {
		r.t.Fatalf("install finished before a third of it was downloaded:\n%s", p.out)
	}
	return p
}

// startDaemon starts client1's daemon and returns it, with its socket's
// path, once the socket is there.
func (r *rig) startDaemon(ctx context.Context) (*started, string) {
	r.t.Helper()
	d := r.start(ctx, "dist-client", "client1", "client1.yaml", "daemon")
	sock := filepath.Join(r.clientDir("client1"), "daemon.sock")
	if !poll(20*time.Second, func() bool { _, err := os.Stat(sock); return err == nil }) {
		r.t.Fatalf("the daemon never listened:\n%s", d.out)
	}
	return d, sock
}

// manyFiles writes a package of n one-byte files and no scripts.
func (r *rig) manyFiles(name string, n int) string {
	r.t.Helper()
	dir := r.path("pkgs", name+"-1.0.0")
	r.writeFiles(dir, map[string]string{"manifest.yaml": "name: " + name + "\nversion: 1.0.0\n"})
	for i := range n {
		p := filepath.Join(dir, "assets", name, fmt.Sprintf("d%02d", i%50), fmt.Sprintf("f%05d", i))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte{'x'}, 0o644); err != nil {
			r.t.Fatal(err)
		}
	}
	return dir
}
