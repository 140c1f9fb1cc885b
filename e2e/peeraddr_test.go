package e2e

// An install and a daemon of one data home share peer_addr: whoever binds
// it second hands over rather than fails. The daemon comes back late, or
// is killed and back at once, while the install is slow to notice (it is
// held with SIGSTOP, as a loaded machine holds it).

import (
	"context"
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
