package e2e

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestFrozenDaemonDuringInstall: the daemon an install downloads through
// is stopped with SIGSTOP a third of the way in (or hangs), while its
// peers are fine. At the stall timeout the install fails naming the
// daemon, its pid and what to do, not the peers: it said "no data
// received for 15s from any peer or web seed: … 5 peers connected, which
// sent nothing", the figures of the daemon's last event (seen with five
// daemons on 127.0.0.1). Continued, the daemon has kept what it verified,
// and the next install resumes from there. Meanwhile the install, whose
// output is no terminal, warned once that it waits on the daemon.
func TestFrozenDaemonDuringInstall(t *testing.T) {
	t.Parallel() // a waiting test (e2e_test.go)
	if testing.Short() {
		t.Skip("a capped download through a daemon stopped mid-way, until the stall timeout")
	}
	const size = 32 << 20
	r := newRig(t, "")
	_, part := r.publishCapped(size, "8MiB")

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	d, _ := r.startDaemon(ctx)
	p := r.start(ctx, "dist-client", "client1", "client1.yaml", "install", "--stall-timeout", "15s", "huge")
	if !poll(30*time.Second, func() bool { return fileSize(part) > 0 && r.uploaded() >= size/3 }) {
		t.Fatalf("download never got a third of the way:\n%s", p.out)
	}
	pid := d.cmd.Process.Pid
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	defer syscall.Kill(pid, syscall.SIGCONT)
	err := p.wait()
	took := time.Since(stopped)
	out := p.out.String()
	t.Logf("install ended %v after its daemon was stopped: %v\n%s", took.Round(time.Millisecond), err, out)
	if err == nil {
		t.Fatal("install succeeded with its daemon stopped")
	}
	want := fmt.Sprintf("dist-client daemon (pid %d) has sent nothing, not even progress, for ", pid)
	if !strings.Contains(out, want) || !strings.Contains(out, fmt.Sprintf("kill -CONT %d", pid)) {
		t.Errorf("install's error does not name the stopped daemon (%q):\n%s", want, out)
	}
	if strings.Contains(out, "which sent nothing") {
		t.Errorf("install's error blames the peers:\n%s", out)
	}
	// Its output is no terminal (no bar): it warned once, 10 s in, that
	// it waits on the daemon; it said nothing until the error.
	if warned := "warning: " + want; strings.Count(out, warned) != 1 {
		t.Errorf("install did not warn once that it waits on the stopped daemon (%q):\n%s", warned, out)
	}
	syscall.Kill(pid, syscall.SIGCONT)
	out = r.client1("install", "huge")
	if !strings.Contains(out, "installed huge 1.0.0") || !strings.Contains(out, "kept from an interrupted download") {
		t.Errorf("install after the daemon was continued:\n%s", out)
	}
}
