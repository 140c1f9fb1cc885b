package place

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/distpac/distpac/internal/fsutil"
	"github.com/distpac/distpac/internal/stage"
	"github.com/distpac/distpac/internal/state"
)

// scenario is an upgrade with every kind of step: a replaced file, a
// removed one, a changed one kept as .distpac-save, an unowned file
// overwritten, a new directory moved whole and an emptied directory.
func scenario(t *testing.T) (*fixture, []Change, Options) {
	f := newFixture(t, tree{"bin/": "", "bin/app": "v1", "bin/mine": "user's", "etc/": "", "etc/app.conf": "default", "lib/app/": "", "lib/app/old.so": "old"})
	old := f.installed("app", "1.0.0", "bin", "bin/app", "etc", "etc/app.conf", "lib", "lib/app", "lib/app/old.so")
	os.WriteFile(filepath.Join(f.prefix, "etc/app.conf"), []byte("edited"), 0o644)
	s := f.staged("app", tree{"bin/": "", "bin/app": "v2", "bin/mine": "app's", "etc/": "", "etc/app.conf": "default 2", "share/app/": "", "share/app/data": "d"})
	return f, []Change{{Old: old, New: s}}, Options{Work: f.work, Overwrite: []string{"bin/mine"}}
}

// dirScenario is an upgrade in which a directory becomes a symlink (set
// aside whole, with a subdirectory) and another a file, beside a plain
// replaced file.
func dirScenario(t *testing.T) (*fixture, []Change, Options) {
	f := newFixture(t, tree{"bin/": "", "bin/app": "v1", "lib/": "", "lib/a.so": "a", "lib/sub/": "", "lib/sub/b.so": "b", "etc/": "", "etc/app/": "", "etc/app/conf": "c"})
	old := f.installed("app", "1.0.0", "bin", "bin/app", "lib", "lib/a.so", "lib/sub", "lib/sub/b.so", "etc", "etc/app", "etc/app/conf")
	s := f.staged("app", tree{"bin/": "", "bin/app": "v2", "lib": "-> lib64", "lib64/": "", "lib64/a.so": "a2", "etc/": "", "etc/app": "a file now"})
	return f, []Change{{Old: old, New: s}}, Options{Work: f.work}
}

// scenarios are the transactions the crash and failure tests run.
var scenarios = map[string]func(t *testing.T) (*fixture, []Change, Options){"upgrade": scenario, "directories replaced": dirScenario}

// TestCrashAtEveryStep stops the transaction after each step, as a kill -9
// would (no cleanup runs), then recovers as the next command does: undo
// before the commit, finish after it. The prefix is exactly the old or the
// new state, every time.
func TestCrashAtEveryStep(t *testing.T) {
	for name, scenario := range scenarios {
		t.Run(name, func(t *testing.T) { crashAtEveryStep(t, scenario) })
	}
}

func crashAtEveryStep(t *testing.T, scenario func(t *testing.T) (*fixture, []Change, Options)) {
	f0, changes0, o0 := scenario(t)
	before := read(t, f0.prefix)
	plan0, err := Prepare(context.Background(), changes0, o0)
	if err != nil {
		t.Fatal(err)
	}
	if err := Apply(plan0.Journal, []string{f0.prefix}, nil); err != nil {
		t.Fatal(err)
	}
	if err := Finish(plan0.Journal); err != nil {
		t.Fatal(err)
	}
	after := read(t, f0.prefix)
	if reflect.DeepEqual(before, after) {
		t.Fatal("the scenario changes nothing")
	}
	steps := len(plan0.Journal.Ops)
	for n := 0; n <= steps; n++ {
		for _, committed := range []bool{false, true} {
			if committed && n != steps {
				continue
			}
			t.Run(fmt.Sprintf("after %d of %d steps, committed %v", n, steps, committed), func(t *testing.T) {
				f, changes, o := scenario(t)
				plan, err := Prepare(context.Background(), changes, o)
				if err != nil {
					t.Fatal(err)
				}
				if err := applyN(plan.Journal, []string{f.prefix}, n, nil); err != nil {
					t.Fatal(err)
				}
				// Recovery, twice: it must be idempotent.
				for range 2 {
					if committed {
						err = Finish(plan.Journal)
					} else {
						err = errors.Join(Undo(plan.Journal.Ops), Discard(plan.Journal.Work))
					}
					if err != nil {
						t.Fatal(err)
					}
				}
				want := before
				if committed {
					want = after
				}
				if got := read(t, f.prefix); !reflect.DeepEqual(got, want) {
					t.Fatalf("prefix after recovery = %v\nwant %v", got, want)
				}
			})
		}
	}
}

// TestFailingStepRollsBack makes each step fail as a full disk would: the
// error names the OS's reason and the prefix is as before.
func TestFailingStepRollsBack(t *testing.T) {
	for name, scenario := range scenarios {
		t.Run(name, func(t *testing.T) { failingStepRollsBack(t, scenario) })
	}
}

func failingStepRollsBack(t *testing.T, scenario func(t *testing.T) (*fixture, []Change, Options)) {
	f0, changes0, o0 := scenario(t)
	before := read(t, f0.prefix)
	plan0, _ := Prepare(context.Background(), changes0, o0)
	for i := range plan0.Journal.Ops {
		t.Run(fmt.Sprint("step ", i), func(t *testing.T) {
			f, changes, o := scenario(t)
			plan, err := Prepare(context.Background(), changes, o)
			if err != nil {
				t.Fatal(err)
			}
			err = Apply(plan.Journal, []string{f.prefix}, func(step int) error {
				if step == i {
					return &os.LinkError{Op: "rename", Old: plan.Journal.Ops[i].Src, New: plan.Journal.Ops[i].Dst, Err: syscall.ENOSPC}
				}
				return nil
			})
			if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "no space left on device") {
				t.Fatalf("Apply = %v", err)
			}
			if plan.Journal.Ops[i].Kind != state.OpRmdir && !strings.Contains(err.Error(), plan.Journal.Ops[i].Dst) {
				t.Errorf("error does not name the path: %v", err)
			}
			Discard(plan.Journal.Work)
			if got := read(t, f.prefix); !reflect.DeepEqual(got, before) {
				t.Fatalf("prefix after a failed step = %v\nwant %v", got, before)
			}
		})
	}
}

// TestApplyMakesMovesDurable: before Apply returns (the records' commit
// comes next), every move is done and then made durable: with few files,
// an fsync of each regular file and directory that moved in and of each
// directory a step changed; with many, one syncfs of the filesystem. When
// the disk fails that (EIO), the moves are undone and the error says so.
func TestApplyMakesMovesDurable(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files int // in a new directory, beside the upgrade's
		fail  bool
	}{
		{"few files", 0, false},
		{"few files, the disk fails", 0, true},
		{"many files", fewFiles, false},
		{"many files, the disk fails", fewFiles, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, changes, o := scenario(t)
			if tc.files > 0 {
				many := tree{}
				for i := range tc.files {
					many[fmt.Sprintf("share/app/many/%d", i)] = "x"
				}
				write(t, changes[0].New.Root, many)
				files, _, err := stage.Scan(context.Background(), changes[0].New.Root)
				if err != nil {
					t.Fatal(err)
				}
				changes[0].New.Files = files
			}
			before := read(t, f.prefix)
			plan, err := Prepare(context.Background(), changes, o)
			if err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			var fsynced, syncedFS []string
			early := map[string]bool{} // synced before every move was done
			var last state.Op          // the last move
			for _, op := range plan.Journal.Ops {
				if op.Kind != state.OpRmdir {
					last = op
				}
			}
			done := func() bool { return inode(last.Dst) == last.Ino }
			failing := func(p string) error {
				if tc.fail {
					return &fs.PathError{Op: "sync", Path: p, Err: syscall.EIO}
				}
				return nil
			}
			// With the disk failing, the syncs once the moves are undone
			// are Undo's (TestUndoIsDurable).
			undoing := func() bool { return tc.fail && !done() }
			syncPath = func(p string) error {
				mu.Lock()
				defer mu.Unlock()
				if undoing() {
					return failing(p)
				}
				fsynced = append(fsynced, p)
				early[p] = !done()
				return failing(p)
			}
			syncFS = func(dir string) error {
				if undoing() {
					return failing(dir)
				}
				syncedFS = append(syncedFS, dir)
				early[dir] = !done()
				return failing(dir)
			}
			t.Cleanup(func() { syncPath, syncFS = fsutil.Sync, fsutil.SyncFS })
			err = Apply(plan.Journal, []string{f.prefix}, nil)
			for p, e := range early {
				if e {
					t.Errorf("%s was synced before every move was done", p)
				}
			}
			if tc.files > 0 {
				if len(syncedFS) != 1 || len(fsynced) != 0 {
					t.Errorf("synced filesystems %q and %d paths one by one, want one syncfs", syncedFS, len(fsynced))
				}
			} else {
				if len(syncedFS) != 0 {
					t.Errorf("synced filesystems %q, want each path alone", syncedFS)
				}
				slices.Sort(fsynced)
				for _, want := range []string{"bin/app", "bin/mine", "etc/app.conf", "share/app", "share/app/data", "bin", "etc", "lib/app"} {
					if _, ok := slices.BinarySearch(fsynced, filepath.Join(f.prefix, want)); !ok {
						t.Errorf("%s was not fsynced; fsynced: %q", want, fsynced)
					}
				}
			}
			if !tc.fail {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !errors.Is(err, syscall.EIO) {
				t.Fatalf("Apply with the sync failing: %v, want the EIO", err)
			}
			if got := read(t, f.prefix); !reflect.DeepEqual(got, before) {
				t.Errorf("after the failed sync the prefix is %v\nwant it undone: %v", got, before)
			}
		})
	}
}
