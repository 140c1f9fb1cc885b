package state

import (
	"context"
	"os"
	"path/filepath"
	"testing"
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
