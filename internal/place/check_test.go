package place

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/state"
)

func TestVerify(t *testing.T) {
	f := newFixture(t, tree{"bin/": "", "bin/a": "a", "bin/b": "b", "bin/c": "c", "bin/l": "-> a", "bin/d": "d"})
	in := f.installed("p", "1.0.0", "bin", "bin/a", "bin/b", "bin/c", "bin/l", "bin/d")
	if p, err := Verify(context.Background(), f.prefix, in.Files); err != nil || p != nil {
		t.Fatalf("fresh install has problems: %v %v", p, err)
	}
	// Ctrl-C ends a verify with the context's error, not a list of files
	// "changed" by it, also in the middle of a sparse terabyte.
	cancelled, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	big := append(slices.Clip(in.Files), sparseRecord(t, f.prefix, "big"))
	verified := make(chan error, 1)
	go func() {
		p, err := Verify(cancelled, f.prefix, big)
		if p != nil {
			err = fmt.Errorf("problems %v, and %v", p, err)
		}
		verified <- err
	}()
	select {
	case err := <-verified:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Verify cancelled while it reads a terabyte: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Verify went on reading 20 s after its context was cancelled")
	}
	os.Remove(filepath.Join(f.prefix, "big"))
	os.Remove(filepath.Join(f.prefix, "bin/a"))
	os.WriteFile(filepath.Join(f.prefix, "bin/b"), []byte("B"), 0o644) // same size, other content
	os.Chmod(filepath.Join(f.prefix, "bin/c"), 0o755)
	os.Remove(filepath.Join(f.prefix, "bin/l"))
	os.Symlink("b", filepath.Join(f.prefix, "bin/l"))
	os.Remove(filepath.Join(f.prefix, "bin/d"))
	os.Mkdir(filepath.Join(f.prefix, "bin/d"), 0o755)
	got := map[string]string{}
	problems, err := Verify(context.Background(), f.prefix, in.Files)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		got[filepath.Base(p.Path)] = p.What
	}
	want := map[string]string{
		"a": "missing",
		"b": "content changed (SHA-256 differs)",
		"c": "mode changed (0755, recorded 0644)",
		"l": `points to "b", recorded "a"`,
		"d": "is a dir now, recorded a file",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Verify = %v\nwant %v", got, want)
	}
}

// TestPrepareCancelled: an upgrade reads each file of the old version
// whole (Check) to tell the user's changes from the package's, and a file
// may be as large as what install.sh left (a sparse terabyte). Ctrl-C
// ends that read with the context's error, and no file is called changed.
func TestPrepareCancelled(t *testing.T) {
	f := newFixture(t, tree{"bin/": "", "bin/a": "a"})
	old := f.installed("p", "1.0.0", "bin", "bin/a")
	old.Files = append(old.Files, sparseRecord(t, f.prefix, "big"))
	var warned []string
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	time.AfterFunc(100*time.Millisecond, cancel)
	done := make(chan error, 1)
	go func() {
		plan, err := Prepare(ctx, []Change{{Old: old, New: f.staged("p", tree{"bin/": "", "bin/a": "A"})}},
			Options{Work: f.work, Warn: func(format string, args ...any) { warned = append(warned, fmt.Sprintf(format, args...)) }})
		if plan != nil {
			err = fmt.Errorf("a plan, and %v", err)
		}
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) || warned != nil {
			t.Fatalf("Prepare cancelled while it reads a terabyte: %v; warned %q", err, warned)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Prepare went on reading 20 s after its context was cancelled")
	}
}

// sparseRecord makes name under prefix a sparse file of 1 TiB (skipping
// the test where the file system cannot) and returns a record of it whose
// size and mode match, so that a check reads it whole.
func sparseRecord(t *testing.T, prefix, name string) state.File {
	t.Helper()
	p := filepath.Join(prefix, name)
	fh, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	if err := fh.Truncate(1 << 40); err != nil {
		t.Skipf("no sparse terabyte here: %v", err)
	}
	fi, err := fh.Stat()
	if err != nil {
		t.Fatal(err)
	}
	return state.File{Path: name, Type: state.TypeFile, Size: 1 << 40, Mode: state.Perm(fi.Mode()), SHA256: strings.Repeat("0", 64)}
}
