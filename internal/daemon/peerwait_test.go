package daemon

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/buftest"
	"github.com/distpac/distpac/internal/config"
	"github.com/distpac/distpac/internal/paths"
	"github.com/distpac/distpac/internal/proctest"
	"github.com/distpac/distpac/internal/state"
)

// TestDaemonWaitsForInstall: a daemon started while an install of its
// data home (the client lock, held here by the test) holds peer_addr
// says once that it waits for that install, with its socket given up
// (commands find no daemon rather than one that does not answer) and its
// lock kept (a second daemon is refused), and starts once peer_addr is
// free, seeding what the install put in the cache meanwhile; Ctrl-C
// stops it at once while it waits. It exited at once with an error naming
// the install. peer_addr taken with no dist-client at
// work is another program's, and an error at once, as before; so is
// peer_addr held by another program while an install is at work that
// holds no listener on it: the daemon said it waited for that install.
func TestDaemonWaitsForInstall(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the install's pid is read from /proc/locks")
	}
	for _, c := range []struct {
		name    string
		atWork  bool // a dist-client holds the client lock
		stopped bool // the daemon is stopped while it waits, not the install ended
		other   bool // another program holds peer_addr, not the dist-client at work
	}{
		{"the install ends", true, false, false},
		{"the daemon is stopped while it waits", true, true, false},
		{"another program", false, false, false},
		{"another program while an install is at work", true, false, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			cp := paths.Client{Dir: t.TempDir()}
			// foo, whose data is writeCatalog's.
			row := writeCatalog(t, cp.Dir, "http://127.0.0.1:1/announce")
			peer, err := net.Listen("tcp", "127.0.0.1:0") // the install's engine
			if err != nil {
				t.Fatal(err)
			}
			defer peer.Close()
			if c.other {
				handToOther(t, peer)
			}
			cfg := &config.Client{PeerAddr: peer.Addr().String(), Seed: config.SeedCached}
			cfg.ApplyDefaults()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			var lock *state.Lock
			if c.atWork {
				if lock, err = state.Acquire(ctx, cp.Lock(), nil); err != nil {
					t.Fatal(err)
				}
				defer lock.Release()
			}
			out, done, stop := runDaemon(ctx, cp, cfg)
			defer stop()
			if !c.atWork || c.other {
				select {
				case err := <-done:
					if err == nil || !strings.Contains(err.Error(), "another program has that address") {
						t.Fatalf("Run: %v, want peer_addr another program's", err)
					}
					if notIt := fmt.Sprintf("it is not dist-client (pid %d), at work in this data home", os.Getpid()); c.other && !strings.Contains(err.Error(), notIt) {
						t.Errorf("Run: %v, want it to say %q", err, notIt)
					}
					if c.other && strings.Contains(out.String(), "waiting for") {
						t.Errorf("the daemon said it waits for the install:\n%s", out.String())
					}
				case <-time.After(10 * time.Second):
					t.Fatalf("Run still runs 10 s after peer_addr was found another program's:\n%s", out.String())
				}
				return
			}
			want := fmt.Sprintf("waiting for dist-client (pid %d) to finish: it downloads on peer_addr %s itself", os.Getpid(), cfg.PeerAddr)
			if !poll(10*time.Second, func() bool { return strings.Contains(out.String(), want) }) {
				t.Fatalf("the daemon does not say it waits (want %q):\n%s", want, out.String())
			}
			sock := cp.DaemonSocket()
			if d := Dial(ctx, sock); d != nil {
				t.Errorf("a daemon answers on %s while it waits for peer_addr", sock)
			}
			if _, err := os.Lstat(sock); err == nil {
				t.Errorf("the socket %s is there while the daemon waits: commands would wait for an answer", sock)
			}
			if !Locked(sock) || Holder(sock) != os.Getpid() {
				t.Errorf("the waiting daemon's lock: held %v by pid %d, want held by %d", Locked(sock), Holder(sock), os.Getpid())
			}
			if ln, err := Listen(sock); err == nil || !strings.Contains(err.Error(), "another daemon is running") {
				if ln != nil {
					ln.Close()
					ln.Release()
				}
				t.Errorf("a second daemon's Listen while the first waits: %v, want another daemon is running", err)
			}
			at := time.Now()
			if c.stopped {
				stop()
				select {
				case err := <-done:
					if err != nil {
						t.Fatalf("Run stopped while it waited: %v, want nil", err)
					}
				case <-time.After(2 * time.Second):
					t.Fatal("Run still waits 2 s after it was stopped")
				}
				t.Logf("stopped %v after it was told", time.Since(at).Round(time.Millisecond))
				if Locked(sock) {
					t.Error("the stopped daemon's lock is still held")
				}
				return
			}
			// The install's download, which the daemon seeds once it starts.
			if err := os.MkdirAll(cp.Cache(), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(cp.Cache(), row.Archive), bytes.Repeat([]byte("distpac foo"), 8<<10), 0o644); err != nil {
				t.Fatal(err)
			}
			peer.Close()
			lock.Release()
			var d *Client
			if !poll(5*time.Second, func() bool { d = Dial(ctx, sock); return d != nil }) {
				t.Fatalf("no daemon answers 5 s after peer_addr was freed:\n%s", out.String())
			}
			d.Close()
			t.Logf("answering %v after peer_addr was freed", time.Since(at).Round(time.Millisecond))
			if !poll(5*time.Second, func() bool { return strings.Contains(out.String(), "seeding 1 archive") }) {
				t.Errorf("the daemon does not seed the archive the install downloaded while it waited:\n%s", out.String())
			}
			if n := strings.Count(out.String(), "waiting for"); n != 1 {
				t.Errorf("the daemon said it waits %d times, want once:\n%s", n, out.String())
			}
			stop()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
}

// handToOther hands the listener ln to another program (a sleep, given
// the socket as its descriptor 3), which holds it for the test's time,
// and closes this process's copy: peer_addr is then held by a process
// that is not the test's.
func handToOther(t *testing.T, ln net.Listener) {
	t.Helper()
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sleep", "60")
	cmd.ExtraFiles = []*os.File{f}
	if err := proctest.Start(cmd); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	f.Close()
	ln.Close()
}

// poll waits for cond, at most timeout, checking every 20 ms.
func poll(timeout time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

// runDaemon runs the daemon of cp with cfg on a goroutine until stop (or
// ctx) ends it; out is what it prints, and done gets what Run returns.
func runDaemon(ctx context.Context, cp paths.Client, cfg *config.Client) (out *buftest.Buffer, done chan error, stop func()) {
	runCtx, stop := context.WithCancel(ctx)
	out, done = &buftest.Buffer{}, make(chan error, 1)
	printf := func(format string, args ...any) { fmt.Fprintf(out, format, args...) }
	go func() { done <- Run(runCtx, Options{Paths: cp, Config: cfg, Printf: printf, Warnf: printf}) }()
	return out, done, stop
}
