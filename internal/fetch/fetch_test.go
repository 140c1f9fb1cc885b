package fetch

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gofrs/flock"

	"github.com/distpac/distpac/internal/config"
	"github.com/distpac/distpac/internal/paths"
)

func TestQuietProgress(t *testing.T) {
	for _, c := range []struct{ stall, want time.Duration }{
		{0, quietProgressEvery},
		{2 * time.Minute, quietProgressEvery},
		{8 * time.Second, quietProgressEvery},
		{4 * time.Second, time.Second},
		{500 * time.Millisecond, 200 * time.Millisecond},
	} {
		if got := quietProgress(c.stall); got != c.want {
			t.Errorf("quietProgress(%v) = %v; want %v", c.stall, got, c.want)
		}
	}
}

// TestSilentDaemonNamed: when the daemon runs but does not answer on its
// socket (out of descriptors, stopped), an install starts an engine of
// its own, whose bind fails on the daemon's peer_addr. The error named
// "another program"; it names the daemon and its pid.
func TestSilentDaemonNamed(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the lock's holder is read from /proc/locks")
	}
	cfg := &config.Client{Prefix: filepath.Join(t.TempDir(), "prefix")}
	cfg.ApplyDefaults()
	o := &Options{Paths: paths.Home{Root: filepath.Join(t.TempDir(), "distpac")}.Client(), Config: cfg}
	peer, err := net.Listen("tcp", "127.0.0.1:0") // the daemon's peer_addr
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	o.Config.PeerAddr = peer.Addr().String()
	if err := os.MkdirAll(o.Paths.Dir, 0o700); err != nil {
		t.Fatal(err)
	}
	lock := flock.New(o.Paths.DaemonSocket() + ".lock") // the daemon's, held by this process
	if ok, err := lock.TryLock(); !ok || err != nil {
		t.Fatalf("lock: %v %v", ok, err)
	}
	defer lock.Unlock()
	_, err = o.openSource(context.Background())
	want := fmt.Sprintf("dist-client daemon (pid %d) is running but did not answer", os.Getpid())
	if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "another program") {
		t.Fatalf("openSource: %v\nwant an error naming the daemon: %s", err, want)
	}
}
