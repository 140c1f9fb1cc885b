package daemon

import (
	"context"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/config"
	"github.com/distpac/distpac/internal/fsutil"
	"github.com/distpac/distpac/internal/paths"
	"github.com/distpac/distpac/internal/proctest"
	"github.com/distpac/distpac/internal/state"
)

// TestDaemonWaitsThroughTheHandover: the install a daemon waits for ends,
// and the next dist-client of the data home takes the client lock while
// the ended install's listener is still on peer_addr (its engine closes
// as it lets the lock go; a loaded machine shows that moment). The daemon
// exited there, blaming another program for peer_addr, since the
// dist-client at work held no listener on it (e2e
// TestDaemonWaitsForInstall failed so, once); it now starts once the
// listener is gone, within peerFreeGrace, and says nothing of the new
// dist-client.
func TestDaemonWaitsThroughTheHandover(t *testing.T) {
	cp := paths.Client{Dir: t.TempDir()}
	writeCatalog(t, cp.Dir, "http://127.0.0.1:1/announce")
	peer, err := net.Listen("tcp", "127.0.0.1:0") // the install's engine
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	cfg := &config.Client{PeerAddr: peer.Addr().String(), Seed: config.SeedCached}
	cfg.ApplyDefaults()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	lock, err := state.Acquire(ctx, cp.Lock(), nil)
	if err != nil {
		t.Fatal(err)
	}
	out, done, stop := runDaemon(ctx, cp, cfg)
	defer stop()
	if !poll(10*time.Second, func() bool { return strings.Contains(out.String(), "waiting for") }) {
		t.Fatalf("the daemon does not say it waits:\n%s", out.String())
	}
	// The install ends: the next dist-client (a flock holding the lock)
	// takes the lock while the install's listener is still there.
	lock.Release()
	next := exec.Command("flock", "-x", cp.Lock(), "sleep", "60")
	if err := proctest.Start(next); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { next.Process.Kill(); next.Wait() })
	if !poll(5*time.Second, func() bool { return fsutil.LockHolder(cp.Lock()) == next.Process.Pid }) {
		t.Fatal("the next dist-client does not hold the lock")
	}
	time.Sleep(3 * peerWaitPoll) // the daemon tries peer_addr meanwhile
	select {
	case err := <-done:
		t.Fatalf("the daemon ended with %v while the ended install's listener was still there:\n%s", err, out.String())
	default:
	}
	peer.Close()
	var d *Client
	if !poll(5*time.Second, func() bool { d = Dial(ctx, cp.DaemonSocket()); return d != nil }) {
		t.Fatalf("no daemon answers 5 s after peer_addr was freed:\n%s", out.String())
	}
	d.Close()
	if n := strings.Count(out.String(), "waiting for"); n != 1 {
		t.Errorf("the daemon said it waits %d times, want once (for the install, not the next dist-client):\n%s", n, out.String())
	}
	stop()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}
