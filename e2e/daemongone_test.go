package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestKillDaemonDuringInstall: kill -9 of the daemon an install downloads
// through, a third of the way in. The install failed ("the daemon stopped
// answering"), leaving the rest to a second install; it now downloads the
// rest itself, from what the daemon had verified, and installs the package
// whole.
func TestKillDaemonDuringInstall(t *testing.T) {
	t.Parallel() // a waiting test (e2e_test.go)
	if testing.Short() {
		t.Skip("32 MiB download at a capped rate through a daemon killed mid-way")
	}
	const size = 32 << 20
	r := newRig(t, "")
	pkg, part := r.publishCapped(size, "8MiB")

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	d, _ := r.startDaemon(ctx)
	p := r.installAThird(ctx, size, part)
	d.kill9(t)
	if err := p.wait(); err != nil {
		t.Fatalf("install: %v\n%s", err, p.out)
	}
	out := p.out.String()
	t.Logf("install, its daemon killed a third of the way:\n%s", out)
	for _, want := range []string{"daemon stopped answering in the middle of the download", "installed huge 1.0.0",
		"verified by the daemon earlier in this install"} {
		if !strings.Contains(out, want) {
			t.Errorf("install's output lacks %q", want)
		}
	}
	if err := cmpfiles(filepath.Join(r.path("prefix1"), "huge", "data.bin"), filepath.Join(pkg, "assets", "data.bin")); err != nil {
		t.Fatal(err)
	}
	if h := r.client1("history"); !strings.Contains(h, "+huge 1.0.0") || !strings.Contains(h, "ok") {
		t.Errorf("history does not record the install as done:\n%s", h)
	}
	if sent := r.uploaded(); sent > size+size/4 {
		t.Errorf("the server sent %d bytes for a %d-byte archive: the install did not go on from what the daemon had", sent, size)
	}
}

// TestStopDaemonDuringInstall: SIGTERM to the daemon an install downloads
// through, a third of the way in (systemctl stop or restart of the unit,
// an upgrade): the daemon tells the install it is stopping, and the
// install failed with that ("install again to finish"). It now waits a
// moment for a daemon to answer again: with none, it downloads the rest
// itself; with one (the test starts it as the old one exits, as systemctl
// restart does), that one downloads the rest. Either way from what the
// stopped daemon had verified, and the package is installed whole.
func TestStopDaemonDuringInstall(t *testing.T) {
	t.Parallel() // a waiting test (e2e_test.go)
	if testing.Short() {
		t.Skip("two 32 MiB downloads at a capped rate through a daemon stopped mid-way")
	}
	for _, restart := range []bool{false, true} {
		t.Run(fmt.Sprintf("restart=%v", restart), func(t *testing.T) { stopDaemonDuringInstall(t, restart) })
	}
}

func stopDaemonDuringInstall(t *testing.T, restart bool) {
	const size = 32 << 20
	r := newRig(t, "")
	// 4 MiB/s: after the takeover the install has 5 s left, in which the
	// late daemon below must find peer_addr taken (at 8 MiB/s, 2.7 s,
	// tight on a loaded machine).
	pkg, part := r.publishCapped(size, "4MiB")
	peerAddr := r.ownPeerAddr()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	d, _ := r.startDaemon(ctx)
	p := r.installAThird(ctx, size, part)
	term := time.Now()
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("kill -TERM %d: %v", d.cmd.Process.Pid, err)
	}
	if err := d.wait(); err != nil {
		t.Fatalf("the daemon stopped with %v:\n%s", err, d.out)
	}
	t.Logf("the daemon exited %v after SIGTERM", time.Since(term).Round(time.Millisecond))
	var d2 *started
	if restart {
		d2 = r.start(ctx, "dist-client", "client1", "client1.yaml", "daemon")
	} else if poll(20*time.Second, func() bool { return strings.Contains(p.out.String(), "this install downloads the rest itself") }) && p.running() {
		// A daemon started while the install's engine holds peer_addr
		// (the unit's restart) waits for the install, saying so once,
		// and starts when it ends. It exited, and the unit started it
		// again every 5 s, a journal line each, until the install ended.
		d2 = r.start(ctx, "dist-client", "client1", "client1.yaml", "daemon")
		waiting := fmt.Sprintf("waiting for dist-client (pid %d) to finish: it downloads on peer_addr %s itself", p.cmd.Process.Pid, peerAddr)
		if !poll(20*time.Second, func() bool { return strings.Contains(d2.out.String(), waiting) || !d2.running() }) || !d2.running() {
			t.Errorf("a daemon started while the install downloads on peer_addr, want it to say %q and wait:\n%s", waiting, d2.out)
		}
	}
	if err := p.wait(); err != nil {
		t.Fatalf("install: %v\n%s", err, p.out)
	}
	if !restart && d2 != nil {
		ended := time.Now()
		if poll(20*time.Second, func() bool { return strings.Contains(d2.out.String(), "seeding 1 archive") }) {
			t.Logf("the daemon that waited seeds %v after the install ended", time.Since(ended).Round(time.Millisecond))
		}
	}
	out := p.out.String()
	t.Logf("install, its daemon stopped a third of the way (restart %v):\n%s", restart, out)
	want := []string{"dist-client daemon is stopping (restart?) in the middle of the download: ", "installed huge 1.0.0",
		"verified by the daemon earlier in this install"}
	if restart {
		want = append(want, fmt.Sprintf("the daemon that answered again (pid %d) downloads the rest, from what the stopped one had verified", d2.cmd.Process.Pid))
	} else {
		want = append(want, "no daemon answered again within 3s; this install downloads the rest itself")
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("install's output lacks %q", w)
		}
	}
	if err := cmpfiles(filepath.Join(r.path("prefix1"), "huge", "data.bin"), filepath.Join(pkg, "assets", "data.bin")); err != nil {
		t.Fatal(err)
	}
	if v := r.client1("verify", "huge"); !strings.Contains(v, "0 problems") {
		t.Errorf("verify huge:\n%s", v)
	}
	if sent := r.uploaded(); sent > size+size/4 {
		t.Errorf("the server sent %d bytes for a %d-byte archive: the install did not go on from what the daemon had", sent, size)
	}
	if !restart {
		if d2 == nil { // the install ended before a daemon could be started beside it
			d2 = r.start(ctx, "dist-client", "client1", "client1.yaml", "daemon")
		}
		if !poll(20*time.Second, func() bool { return strings.Contains(d2.out.String(), "seeding 1 archive") }) {
			t.Errorf("the daemon does not seed the install's archive after it:\n%s", d2.out)
		}
		t.Logf("the daemon's output:\n%s", d2.out)
		if n := strings.Count(d2.out.String(), "waiting for dist-client"); n > 1 {
			t.Errorf("the daemon said %d times that it waits, want once", n)
		}
	} else {
		// The new daemon downloaded the rest, and seeds the archive.
		if !poll(10*time.Second, func() bool {
			return strings.Contains(d2.out.String(), `msg="download complete" archive=huge-1.0.0.tar.zst`)
		}) {
			t.Errorf("the new daemon's log does not show the download:\n%s", d2.out)
		}
		if st := r.client1("status"); !strings.Contains(st, "huge") {
			t.Errorf("the new daemon does not seed huge:\n%s", st)
		}
	}
}

// TestCutDaemonConnectionDuringInstall: the connection between an install
// and its daemon breaks a third of the way in while the daemon runs on (a
// proxy on the socket, as any program between them, closes it). The
// install took that for a dead daemon and started an engine of its own
// beside the live one, both downloading into the same .part (the rig's
// peer_addr is port 0, so nothing stopped the second); it now sees the
// daemon still holds its lock, asks it again, and the daemon downloads
// the rest.
func TestCutDaemonConnectionDuringInstall(t *testing.T) {
	t.Parallel() // a waiting test (e2e_test.go)
	if testing.Short() {
		t.Skip("32 MiB download at a capped rate through a daemon whose connection is cut mid-way")
	}
	const size = 32 << 20
	r := newRig(t, "")
	pkg, part := r.publishCapped(size, "8MiB")

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	d, sock := r.startDaemon(ctx)
	// The daemon's socket moves aside (its listener follows the inode);
	// a proxy takes its place and can cut what goes through it.
	real := sock + ".real"
	if err := os.Rename(sock, real); err != nil {
		t.Fatal(err)
	}
	px := newCutProxy(t, sock, real)
	p := r.installAThird(ctx, size, part)
	px.cut()
	if err := p.wait(); err != nil {
		t.Fatalf("install: %v\n%s", err, p.out)
	}
	out := p.out.String()
	t.Logf("install, its connection to the daemon cut a third of the way:\n%s", out)
	want := fmt.Sprintf("the connection to the dist-client daemon broke in the middle of the download: the daemon (pid %d), still running, was asked again and downloads the rest", d.cmd.Process.Pid)
	if !strings.Contains(out, want) || strings.Contains(out, "this install downloads the rest itself") {
		t.Errorf("install's output: want %q, and no engine of the install's own", want)
	}
	if err := cmpfiles(filepath.Join(r.path("prefix1"), "huge", "data.bin"), filepath.Join(pkg, "assets", "data.bin")); err != nil {
		t.Fatal(err)
	}
	if !poll(10*time.Second, func() bool {
		return strings.Contains(d.out.String(), `msg="download complete" archive=huge-1.0.0.tar.zst`)
	}) {
		t.Errorf("the daemon's log does not show it completing the download:\n%s", d.out)
	}
	if sent := r.uploaded(); sent > size+size/4 {
		t.Errorf("the server sent %d bytes for a %d-byte archive", sent, size)
	}
}

// ownPeerAddr gives client1 a peer_addr port of its own, as a user's
// daemon has (the rig's port 0 lets any number of engines run): a new
// daemon binds the one the old one freed, and a daemon started while an
// install's engine has it cannot. It returns the address.
func (r *rig) ownPeerAddr() string {
	r.t.Helper()
	ports, err := freePorts(1)
	if err != nil {
		r.t.Fatal(err)
	}
	cfg, err := os.ReadFile(r.path("client1.yaml"))
	if err != nil {
		r.t.Fatal(err)
	}
	cfg = []byte(strings.Replace(string(cfg), `peer_addr: "127.0.0.1:0"`, fmt.Sprintf("peer_addr: %q", ports[0]), 1))
	if err := os.WriteFile(r.path("client1.yaml"), cfg, 0o644); err != nil {
		r.t.Fatal(err)
	}
	return ports[0]
}

// cutProxy passes unix-socket connections at path on to target, and cuts
// those under way when told.
type cutProxy struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func newCutProxy(t *testing.T, path, target string) *cutProxy {
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	px := &cutProxy{ln: ln}
	t.Cleanup(func() { ln.Close(); px.cut() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("unix", target)
			if err != nil {
				c.Close()
				continue
			}
			px.mu.Lock()
			px.conns = append(px.conns, c, u)
			px.mu.Unlock()
			go func() { io.Copy(u, c); u.Close() }()
			go func() { io.Copy(c, u); c.Close() }()
		}
	}()
	return px
}

// cut closes every connection passed on so far.
func (px *cutProxy) cut() {
	px.mu.Lock()
	defer px.mu.Unlock()
	for _, c := range px.conns {
		c.Close()
	}
	px.conns = nil
}
