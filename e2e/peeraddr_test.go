package e2e

// An install and a daemon of one data home share peer_addr: whoever binds
// it second hands over rather than fails. The daemon comes back late, or
// is killed and back at once, while the install is slow to notice (it is
// held with SIGSTOP, as a loaded machine holds it); a daemon started while
// the install downloads on peer_addr itself waits for it.

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDaemonBackAfterRestartWait: SIGTERM to the daemon an install
// downloads through; the install waits 3 s after its exit for one to
// answer again, and a daemon started after those 3 s but before the
// install's engine took peer_addr holds it. The install failed on it
// ("dist-client daemon (pid N) is running but did not answer …, and holds
// peer_addr"); now that daemon downloads the rest.
func TestDaemonBackAfterRestartWait(t *testing.T) {
	t.Parallel() // a waiting test (e2e_test.go)
	if testing.Short() {
		t.Skip("32 MiB download at a capped rate through a daemon stopped mid-way")
	}
	const size = 32 << 20
	r := newRig(t, "")
	pkg, part := r.publishCapped(size, "4MiB")
	r.ownPeerAddr()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	d, _ := r.startDaemon(ctx)
	p := r.installAThird(ctx, size, part, "-v")
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("kill -TERM %d: %v", d.cmd.Process.Pid, err)
	}
	if err := d.wait(); err != nil {
		t.Fatalf("the daemon stopped with %v:\n%s", err, d.out)
	}
	// The install's 3 s run from when it saw the daemon exit: it is held
	// there, a daemon started, and it goes on once its 3 s are over.
	if !poll(20*time.Second, func() bool { return strings.Contains(p.out.String(), "the daemon that stopped has exited") }) {
		t.Fatalf("the install never saw the daemon exit:\n%s", said(p))
	}
	seen := time.Now()
	d2 := r.holdWhileRestarted(ctx, p, seen.Add(3*time.Second+500*time.Millisecond))
	out := r.finishesThrough(p, d2, "dist-client daemon is stopping (restart?) in the middle of the download: ", pkg, size)
	if strings.Contains(out, "this install downloads the rest itself") {
		t.Errorf("the install started an engine of its own beside the daemon")
	}
}

// TestDaemonRestartedAfterKill: kill -9 of the daemon an install downloads
// through, and a daemon started at once (a supervisor that restarts with
// no delay), before the install, slow to notice, started an engine of its
// own. The install closed the daemon that answered, as not the one that
// left, and its engine failed on peer_addr, which that daemon held; now
// that daemon downloads the rest.
func TestDaemonRestartedAfterKill(t *testing.T) {
	t.Parallel() // a waiting test (e2e_test.go)
	if testing.Short() {
		t.Skip("32 MiB download at a capped rate through a daemon killed mid-way")
	}
	const size = 32 << 20
	r := newRig(t, "")
	pkg, part := r.publishCapped(size, "4MiB")
	r.ownPeerAddr()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	d, _ := r.startDaemon(ctx)
	p := r.installAThird(ctx, size, part)
	if err := p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatalf("kill -STOP %d: %v", p.cmd.Process.Pid, err)
	}
	d.kill9(t)
	d2 := r.holdWhileRestarted(ctx, p, time.Time{})
	r.finishesThrough(p, d2, "dist-client daemon stopped answering in the middle of the download (killed or crashed?): ", pkg, size)
}

// TestDaemonWaitsForInstall: kill -9 of the daemon an install downloads
// through, and no restart at once: the install downloads the rest on
// peer_addr itself. A daemon started meanwhile (the unit's restart, 5 s
// on) waits for that install, saying so once, with status answering at
// once; SIGTERM (systemctl stop) stops it at once while it waits; one
// started again waits likewise, and a second install started meanwhile
// waits for the first (the client lock) and then downloads through that
// daemon, which started as the first ended and seeds what it downloaded.
// The daemon exited at once, and the unit started it again every 5 s, a
// journal line each, until the install ended.
func TestDaemonWaitsForInstall(t *testing.T) {
	t.Parallel() // a waiting test (e2e_test.go)
	if testing.Short() {
		t.Skip("32 MiB download at a capped rate, its daemon killed mid-way")
	}
	const size = 32 << 20
	r := newRig(t, "")
	// 2 MiB/s: after the takeover the install has 10 s left, for two
	// daemons and a second install to start beside it.
	r.appendConfig("client1.yaml", "download_rate_limit: \"2MiB\"\n")
	pkg := r.mkpkg("huge", "1.0.0", size)
	r.server("add", pkg, r.mkpkg("tiny", "1.0.0", 64<<10))
	r.server("start")
	r.client1("sync")
	part := filepath.Join(r.clientDir("client1"), "cache", "huge-1.0.0.tar.zst.part")
	peerAddr := r.ownPeerAddr()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	d, _ := r.startDaemon(ctx)
	p := r.installAThird(ctx, size, part)
	d.kill9(t)
	if !poll(20*time.Second, func() bool { return strings.Contains(p.out.String(), "this install downloads the rest itself") }) {
		t.Fatalf("the install did not take the download over:\n%s", p.out)
	}
	waiting := fmt.Sprintf("dist-client daemon: waiting for dist-client (pid %d) to finish: it downloads on peer_addr %s itself", p.cmd.Process.Pid, peerAddr)
	startWaiting := func() *started {
		t.Helper()
		at := time.Now()
		l := r.start(ctx, "dist-client", "client1", "client1.yaml", "daemon")
		if !poll(20*time.Second, func() bool { return strings.Contains(l.out.String(), waiting) || !l.running() }) || !l.running() {
			t.Fatalf("a daemon started while the install downloads on peer_addr: want it to say %q and wait:\n%s", waiting, l.out)
		}
		t.Logf("a daemon started while the install downloads on peer_addr says it waits %v after its start", time.Since(at).Round(time.Millisecond))
		return l
	}
	l1 := startWaiting()
	at := time.Now()
	if st := r.client1("status"); !strings.Contains(st, fmt.Sprintf("daemon:   a daemon (pid %d) is there but does not answer", l1.cmd.Process.Pid)) {
		t.Errorf("status while the daemon waits:\n%s", st)
	}
	t.Logf("status while the daemon waits took %v", time.Since(at).Round(time.Millisecond))
	// The JSON says so too: "daemon": null alone read as no daemon.
	var js struct {
		Daemon       any `json:"daemon"`
		NotAnswering *struct {
			PID int `json:"pid"`
		} `json:"daemon_not_answering"`
	}
	if st := r.client1("status", "--json"); json.Unmarshal([]byte(st), &js) != nil || js.Daemon != nil || js.NotAnswering == nil || js.NotAnswering.PID != l1.cmd.Process.Pid {
		t.Errorf("status --json while the daemon waits: want daemon null and daemon_not_answering with pid %d:\n%s", l1.cmd.Process.Pid, st)
	}
	at = time.Now()
	if err := l1.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("kill -TERM %d: %v", l1.cmd.Process.Pid, err)
	}
	if err := l1.wait(); err != nil {
		t.Errorf("the waiting daemon stopped by SIGTERM: %v, want exit 0:\n%s", err, l1.out)
	}
	t.Logf("the waiting daemon exited %v after SIGTERM", time.Since(at).Round(time.Millisecond))
	l2 := startWaiting()
	i2 := r.start(ctx, "dist-client", "client1", "client1.yaml", "install", "tiny")
	if !poll(20*time.Second, func() bool {
		return strings.Contains(i2.out.String(), "is changing this installation; waiting for it to finish")
	}) {
		t.Fatalf("a second install does not wait for the first:\n%s", i2.out)
	}
	if !p.running() {
		t.Fatalf("the install ended before the story was told (too fast a machine for 2 MiB/s?):\n%s", p.out)
	}
	if err := p.wait(); err != nil {
		t.Fatalf("install: %v\n%s", err, p.out)
	}
	ended := time.Now()
	if !poll(20*time.Second, func() bool { return strings.Contains(l2.out.String(), "seeding 1 archive") }) {
		t.Fatalf("the waiting daemon does not seed the install's archive after it:\n%s", l2.out)
	}
	t.Logf("the daemon that waited seeds huge %v after the install ended", time.Since(ended).Round(time.Millisecond))
	if err := i2.wait(); err != nil {
		t.Fatalf("second install: %v\n%s", err, i2.out)
	}
	t.Logf("second install, started while the daemon waited:\n%s", i2.out)
	for _, w := range []string{"downloading 1 archive through dist-client daemon", "installed tiny 1.0.0"} {
		if !strings.Contains(i2.out.String(), w) {
			t.Errorf("second install's output lacks %q", w)
		}
	}
	if err := cmpfiles(filepath.Join(r.path("prefix1"), "huge", "data.bin"), filepath.Join(pkg, "assets", "data.bin")); err != nil {
		t.Fatal(err)
	}
	t.Logf("the daemon that waited:\n%s", l2.out)
	if n := strings.Count(l2.out.String(), "waiting for"); n != 1 || !l2.running() {
		t.Errorf("the daemon said %d times that it waits, want once, and runs on (running %v)", n, l2.running())
	}
}

// holdWhileRestarted holds the install p (SIGSTOP; one held already
// stays so), starts client1's daemon again and, once it answers and the
// time until has come, lets p go on (SIGCONT); it returns the daemon.
func (r *rig) holdWhileRestarted(ctx context.Context, p *started, until time.Time) *started {
	r.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		r.t.Fatalf("kill -STOP %d: %v", p.cmd.Process.Pid, err)
	}
	restart := time.Now()
	d2 := r.start(ctx, "dist-client", "client1", "client1.yaml", "daemon")
	if !poll(20*time.Second, func() bool {
		return strings.Contains(d2.out.String(), "installs from this data home now download through")
	}) {
		r.t.Fatalf("the restarted daemon never answered:\n%s", d2.out)
	}
	r.t.Logf("the restarted daemon (pid %d) answers %v after its start", d2.cmd.Process.Pid, time.Since(restart).Round(time.Millisecond))
	time.Sleep(time.Until(until)) // the install's wait for a restart is over: the case under test
	if err := p.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		r.t.Fatalf("kill -CONT %d: %v", p.cmd.Process.Pid, err)
	}
	return d2
}

// finishesThrough checks that the install p, let go after its daemon
// left (what it says of that), hands the rest to the daemon d2 at once,
// with one warning, and installs huge (size bytes, from pkg) whole from
// what the one that left had verified; it returns p's output.
func (r *rig) finishesThrough(p, d2 *started, what, pkg string, size int64) string {
	r.t.Helper()
	want := what + fmt.Sprintf("the daemon started since (pid %d) downloads the rest, from what the one that left had verified", d2.cmd.Process.Pid)
	cont := time.Now()
	if poll(20*time.Second, func() bool { return strings.Contains(p.out.String(), want) || !p.running() }) && strings.Contains(p.out.String(), want) {
		r.t.Logf("the install handed the rest to the restarted daemon %v after it went on", time.Since(cont).Round(time.Millisecond))
	}
	if err := p.wait(); err != nil {
		r.t.Fatalf("install: %v\n%s", err, said(p))
	}
	out := said(p)
	r.t.Logf("install:\n%s", out)
	for _, w := range []string{want, "installed huge 1.0.0", "verified by the daemon earlier in this install"} {
		if !strings.Contains(out, w) {
			r.t.Errorf("install's output lacks %q", w)
		}
	}
	if n := strings.Count(out, "warning: dist-client daemon"); n != 1 {
		r.t.Errorf("the install warned %d times of its daemon, want once", n)
	}
	if err := cmpfiles(filepath.Join(r.path("prefix1"), "huge", "data.bin"), filepath.Join(pkg, "assets", "data.bin")); err != nil {
		r.t.Fatal(err)
	}
	if !poll(10*time.Second, func() bool {
		return strings.Contains(d2.out.String(), `msg="download complete" archive=huge-1.0.0.tar.zst`)
	}) {
		r.t.Errorf("the restarted daemon's log does not show the download:\n%s", d2.out)
	}
	if sent := r.uploaded(); sent > size+size/4 {
		r.t.Errorf("the server sent %d bytes for a %d-byte archive: the download did not go on from what the daemon had", sent, size)
	}
	return out
}

// said is what p printed, without its debug log's lines.
func said(p *started) string {
	var keep []string
	for _, l := range strings.Split(p.out.String(), "\n") {
		if !strings.HasPrefix(l, "time=") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}
