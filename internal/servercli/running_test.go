package servercli

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/gofrs/flock"

	"github.com/distpac/distpac/internal/paths"
	"github.com/distpac/distpac/internal/server"
)

// A server killed with -9 leaves its server.json; while the next one
// starts (it holds the run lock, its own server.json not written yet),
// the pid that stop signals is the holder's, never the dead server's.
func TestRunningPIDIsTheLockHolder(t *testing.T) {
	sp := paths.Home{Root: t.TempDir()}.Server()
	if err := os.MkdirAll(sp.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if pid, running := runningPID(sp); running {
		t.Fatalf("runningPID with no lock = %d, running", pid)
	}
	const deadPID = 4194000
	b, _ := json.Marshal(server.Info{PID: deadPID})
	if err := os.WriteFile(sp.PIDFile(), b, 0o644); err != nil {
		t.Fatal(err)
	}
	if pid, running := runningPID(sp); running {
		t.Fatalf("runningPID with a dead server's server.json = %d, running", pid)
	}
	l := flock.New(sp.RunLock()) // the starting server
	if ok, err := l.TryLock(); !ok || err != nil {
		t.Fatal(ok, err)
	}
	defer l.Unlock()
	pid, running := runningPID(sp)
	if !running || pid != os.Getpid() {
		t.Errorf("runningPID = %d, %v; want the lock holder %d (the dead server was %d)", pid, running, os.Getpid(), deadPID)
	}
}
