package fsutil

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/gofrs/flock"

	"github.com/distpac/distpac/internal/proctest"
)

func TestLockLineHolder(t *testing.T) {
	tests := []struct {
		line, devIno string
		want         int
	}{
		{"1: FLOCK  ADVISORY  WRITE 2061 fd:01:131090 0 EOF", "fd:01:131090", 2061},
		{"1: FLOCK  ADVISORY  WRITE 2061 fd:01:131090 0 EOF", "fd:01:131091", 0},
		{"1: -> FLOCK  ADVISORY  WRITE 2077 fd:01:131090 0 EOF", "fd:01:131090", 0}, // a waiter
		{"1: FLOCK  ADVISORY  READ  2088 fd:01:131090 0 EOF", "fd:01:131090", 0},    // a shared lock: someone checking
		{"2: POSIX  ADVISORY  WRITE 2061 fd:01:131090 0 EOF", "fd:01:131090", 0},
		{"3: OFDLCK ADVISORY  READ  -1 00:06:5 0 EOF", "00:06:5", 0},
		{"garbage", "fd:01:131090", 0},
		{"", "fd:01:131090", 0},
		{"1: FLOCK  ADVISORY  WRITE x fd:01:131090 0 EOF", "fd:01:131090", 0},
	}
	for _, tt := range tests {
		if got := lockLineHolder(tt.line, tt.devIno); got != tt.want {
			t.Errorf("lockLineHolder(%q, %q) = %d, want %d", tt.line, tt.devIno, got, tt.want)
		}
	}
}

// The holder of a lock is the process that took it, another process here,
// and no one once it is gone.
func TestLockHolder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run.lock")
	if got := LockHolder(path); got != 0 {
		t.Fatalf("LockHolder of a missing file = %d", got)
	}
	l := flock.New(path)
	if ok, err := l.TryLock(); !ok || err != nil {
		t.Fatal(ok, err)
	}
	got := LockHolder(path)
	if got == 0 {
		l.Unlock()
		t.Skip("this process's lock is not in /proc/locks (another pid namespace, or a filesystem that lists it otherwise)")
	}
	if got != os.Getpid() {
		t.Errorf("LockHolder = %d, want this process %d", got, os.Getpid())
	}
	l.Unlock()
	if got := LockHolder(path); got != 0 {
		t.Errorf("LockHolder after unlock = %d, want 0", got)
	}
	// A shared lock (runningPID's check) is no holder.
	if ok, err := l.TryRLock(); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if got := LockHolder(path); got != 0 {
		t.Errorf("LockHolder of a shared lock = %d, want 0", got)
	}
	l.Unlock()
	// Another process: flock(1) from util-linux holds it while cat runs,
	// and cat runs until its stdin, a pipe only this process writes, ends:
	// when the test closes it, or when the test binary dies, however it
	// dies (the kernel closes the pipe then). `sleep 30` held it 30 s
	// after either, flock being killed and sleep, its child, not.
	if _, err := exec.LookPath("flock"); err != nil {
		t.Skip("no flock(1)")
	}
	cmd := exec.Command("flock", "-n", path, "cat")
	release, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := proctest.Start(cmd); err != nil {
		t.Fatal(err)
	}
	defer func() { release.Close(); cmd.Wait() }()
	deadline := time.Now().Add(5 * time.Second)
	got = 0
	for got == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		got = LockHolder(path)
	}
	// flock(1) takes the lock and runs cat as its child: the table names flock.
	if got != cmd.Process.Pid {
		t.Errorf("LockHolder = %d, want flock's pid %s", got, strconv.Itoa(cmd.Process.Pid))
	}
	// Killed, as the test binary's death kills it (proctest.Start), flock
	// leaves the lock to cat, which ends once its stdin closes, as the
	// kernel closes it when the test binary dies.
	cmd.Process.Kill()
	cmd.Wait()
	release.Close()
	free := false
	for deadline := time.Now().Add(5 * time.Second); !free && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		free, _ = l.TryLock()
	}
	if !free {
		t.Fatal("the lock is still held 5 s after its holder was killed and its stdin closed")
	}
	l.Unlock()
}
