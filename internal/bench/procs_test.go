//go:build linux

package bench

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/proctest"
)

// TestStartedOutlivesForkingThread: a program a row starts on a host (a
// seeder, a daemon, aria2c, transmission-daemon) runs until the row stops
// it, even when the goroutine that started it was locked to a thread
// that has ended since (Pdeathsig counts from the forking thread: set on
// that thread's fork, it killed the program at once).
func TestStartedOutlivesForkingThread(t *testing.T) {
	var p *proc
	var err error
	if terr := proctest.OnEndingThread(func() {
		p, err = host{name: "h", addr: "127.0.0.1"}.start(filepath.Join(t.TempDir(), "sleep.log"), nil, "sleep", "60")
	}); terr != nil {
		t.Skip(terr)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer p.stop()
	select {
	case err := <-p.done:
		p.done <- err
		t.Fatalf("the program ended when the thread that started it did: %v", err)
	case <-time.After(time.Second):
	}
}
