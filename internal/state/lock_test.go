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

	"github.com/distpac/distpac/internal/proctest"
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
// holding the lock (install.sh calling dist-client install) fails after
// callerGrace naming the holder; it waited for the holder, which waited
// for it, until the script's 30-minute timeout. A background job of a
// script that has ended (the holder does not wait for it) waits for the
// lock and takes it. Run as a child of this test (through sh) when
// DISTPAC_TEST_LOCK names the lock, DISTPAC_TEST_WANT what it expects.
func TestAcquireUnderTheHolder(t *testing.T) {
	if path := os.Getenv("DISTPAC_TEST_LOCK"); path != "" {
		callerGrace = 300 * time.Millisecond
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		l, err := Acquire(ctx, path, nil)
		switch want := os.Getenv("DISTPAC_TEST_WANT"); {
		case want == "refused" && !errors.Is(err, ErrLockedByCaller):
			t.Fatalf("Acquire under the holder: %v, want ErrLockedByCaller", err)
		case want == "acquired" && err != nil:
			t.Fatalf("Acquire in a background job: %v", err)
		case err == nil:
			l.Release()
			os.WriteFile(path+".acquired", nil, 0o644)
		}
		t.Log(err)
		return
	}
	tests := []struct {
		name, want string
		shell      string // runs the child as $0
	}{
		{"the script waits for it", "refused", `"$0" -test.run='^TestAcquireUnderTheHolder$' -test.v; exit $?`},
		{"a background job of a script that ended", "acquired", `"$0" -test.run='^TestAcquireUnderTheHolder$' >/dev/null 2>&1 & exit 0`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "lock")
			l, err := Acquire(context.Background(), path, nil)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, "sh", "-c", tt.shell, os.Args[0])
			cmd.Env = append(os.Environ(), "DISTPAC_TEST_LOCK="+path, "DISTPAC_TEST_WANT="+tt.want)
			start := time.Now()
			out, err := proctest.CombinedOutput(cmd)
			if err != nil {
				l.Release()
				t.Fatalf("the child: %v\n%s", err, out)
			}
			if tt.want == "refused" {
				l.Release()
				if !strings.Contains(string(out), fmt.Sprintf("(pid %d), which started this one", os.Getpid())) {
					t.Fatalf("the child's error does not name this process:\n%s", out)
				}
				t.Logf("refused in %v", time.Since(start).Round(time.Millisecond))
				return
			}
			// The background job waits past callerGrace, then takes the
			// lock once it is free.
			time.Sleep(time.Second)
			if _, err := os.Stat(path + ".acquired"); err == nil {
				t.Fatal("the background job took the lock while it was held")
			}
			l.Release()
			if !poll(10*time.Second, func() bool { _, err := os.Stat(path + ".acquired"); return err == nil }) {
				t.Fatal("the background job never took the lock")
			}
		})
	}
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

func TestLockWaits(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lock")
	first, err := Acquire(context.Background(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	waited := make(chan int, 1)
	got := make(chan error, 1)
	go func() {
		l, err := Acquire(context.Background(), path, func(pid int) { waited <- pid })
		if err == nil {
			l.Release()
		}
		got <- err
	}()
	select {
	case pid := <-waited:
		if pid != os.Getpid() {
			t.Fatalf("waiting message names pid %d, want %d", pid, os.Getpid())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("second Acquire did not report waiting")
	}
	first.Release()
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("second Acquire never got the lock")
	}

	held, _ := Acquire(context.Background(), path, nil)
	defer held.Release()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := Acquire(ctx, path, nil); err == nil {
		t.Fatal("Acquire succeeded while the lock was held")
	}
}
