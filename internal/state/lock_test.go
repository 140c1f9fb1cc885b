package state

import (
	"context"
	"os"
	"path/filepath"
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
