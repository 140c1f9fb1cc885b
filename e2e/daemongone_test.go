package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestKillDaemonDuringInstall: kill -9 of the daemon an install downloads
// through, a third of the way in. The install failed ("the daemon stopped
// answering"), leaving the rest to a second install; it now downloads the
// rest itself, from what the daemon had verified, and installs the package
// whole.
func TestKillDaemonDuringInstall(t *testing.T) {
	if testing.Short() {
		t.Skip("32 MiB download at a capped rate through a daemon killed mid-way")
	}
	const size = 32 << 20
	r := newRig(t, "")
	pkg, part := r.publishCapped(size, "8MiB")

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	d := r.start(ctx, "dist-client", "client1", "client1.yaml", "daemon")
	sock := filepath.Join(r.clientDir("client1"), "daemon.sock")
	if !poll(20*time.Second, func() bool { _, err := os.Stat(sock); return err == nil }) {
		t.Fatal("the daemon never listened")
	}
	p := r.start(ctx, "dist-client", "client1", "client1.yaml", "install", "--stall-timeout", "30s", "huge")
	if !poll(30*time.Second, func() bool { return fileSize(part) > 0 && r.uploaded() >= size/3 }) {
		t.Fatalf("download never got a third of the way: part file %d bytes, server sent %d", fileSize(part), r.uploaded())
	}
	if !p.running() {
		t.Fatal("install finished before the daemon could be killed")
	}
	d.kill9(t)
	err := <-p.done
	p.done <- err // for the rig's cleanup
	if err != nil {
		t.Fatalf("install: %v\n%s", err, p.out)
	}
	out := p.out.String()
	t.Logf("install, its daemon killed a third of the way:\n%s", out)
	for _, want := range []string{"daemon stopped answering in the middle of the download", "installed huge 1.0.0"} {
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
