package state

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestSaveLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "client", "installed.json")
	s, err := Load(path)
	if err != nil || len(s.Packages) != 0 {
		t.Fatalf("Load of a missing file = %v, %v", s, err)
	}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s.Packages["foo"] = Record{Name: "foo", Version: "1.0.0", Depends: []string{"bar ^1"}, InstalledAt: now}
	s.Packages["bar"] = Record{Name: "bar", Version: "1.2.0", Auto: true, InstalledAt: now}
	if err := s.Save(path); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Packages) != 2 || !got.Packages["bar"].Auto || got.Packages["foo"].Depends[0] != "bar ^1" {
		t.Fatalf("round trip gave %+v", got.Packages)
	}
	if r, ok := got.Get("FOO"); !ok || r.Name != "foo" {
		t.Fatal("Get ignoring case failed")
	}
	if names := got.Sorted(); names[0].Name != "bar" || names[1].Name != "foo" {
		t.Fatalf("Sorted = %v", names)
	}
	for _, bad := range []string{"{", `{"version": 99, "packages": []}`} {
		if err := os.WriteFile(path, []byte(bad), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(path); err == nil {
			t.Fatalf("Load accepted %q", bad)
		}
	}
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
