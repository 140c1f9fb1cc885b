package state

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gofrs/flock"
)

// TestHeld: Held tells a held lock from a free or missing one without
// taking it for long or creating the file.
func TestHeld(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lock")
	check := func(when string, want bool) {
		t.Helper()
		if got, err := Held(path); err != nil || got != want {
			t.Errorf("%s: Held = %v, %v; want %v", when, got, err, want)
		}
	}
	check("no file", false)
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("Held created the lock file: %v", err)
	}
	l, err := Acquire(context.Background(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	check("acquired", true)
	check("acquired, asked again", true)
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	check("released", false)
	// The probe left the lock free for the next holder.
	l, err = Acquire(context.Background(), path, func(int) { t.Error("Acquire waited after Held") })
	if err != nil {
		t.Fatal(err)
	}
	l.Release()
}

// TestAcquireWaitsOutAProbe: a reader's Held probe holds the lock for a
// moment; an Acquire that meets it takes the lock without saying that
// another dist-client is changing the installation (found by a review: it
// printed "another dist-client (pid N) ... waiting" for a probe).
func TestAcquireWaitsOutAProbe(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lock")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	probe := flock.New(path, flock.SetFlag(os.O_RDONLY))
	if ok, err := probe.TryRLock(); !ok || err != nil {
		t.Fatalf("probe: %v %v", ok, err)
	}
	go func() {
		time.Sleep(10 * time.Millisecond)
		probe.Unlock()
	}()
	waited := false
	l, err := Acquire(context.Background(), path, func(int) { waited = true })
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	if waited {
		t.Error("Acquire reported another dist-client for a 10 ms probe")
	}
}

// TestAcquireUnderTheHolder: a command run, through a shell, by the process
// holding the lock (install.sh calling dist-client install) fails at once
// naming the holder; it waited for the holder, which waited for it, until
// the script's 30-minute timeout. Run as a child of this test (through sh)
// when DISTPAC_TEST_LOCK names the lock.
func TestAcquireUnderTheHolder(t *testing.T) {
	if path := os.Getenv("DISTPAC_TEST_LOCK"); path != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := Acquire(ctx, path, nil)
		if !errors.Is(err, ErrLockedByCaller) {
			t.Fatalf("Acquire under the holder: %v, want ErrLockedByCaller", err)
		}
		t.Log(err)
		return
	}
	path := filepath.Join(t.TempDir(), "lock")
	l, err := Acquire(context.Background(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", `"$0" -test.run='^TestAcquireUnderTheHolder$' -test.v; exit $?`, os.Args[0])
	cmd.Env = append(os.Environ(), "DISTPAC_TEST_LOCK="+path)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the child: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), fmt.Sprintf("(pid %d), which started this one", os.Getpid())) {
		t.Fatalf("the child's error does not name this process:\n%s", out)
	}
	t.Logf("refused in %v", time.Since(start).Round(time.Millisecond))
}
