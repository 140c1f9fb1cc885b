package place

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"

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
