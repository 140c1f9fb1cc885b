package place

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/distpac/distpac/internal/fsutil"
	"github.com/distpac/distpac/internal/state"
)

// watchSyncs replaces syncPath and syncFS for the test with ones that
// record the paths, calling at(p) at each, and fail as the real ones
// would on a path that is not there.
func watchSyncs(t *testing.T, at func(p string)) (fsynced, syncedFS func() []string) {
	var mu sync.Mutex
	var paths, fss []string
	record := func(to *[]string) func(string) error {
		return func(p string) error {
			mu.Lock()
			defer mu.Unlock()
			*to = append(*to, p)
			at(p)
			_, err := os.Stat(p)
			return err
		}
	}
	syncPath, syncFS = record(&paths), record(&fss)
	t.Cleanup(func() { syncPath, syncFS, device = fsutil.Sync, fsutil.SyncFS, fsutil.Device })
	return func() []string { mu.Lock(); defer mu.Unlock(); return slices.Clone(paths) },
		func() []string { mu.Lock(); defer mu.Unlock(); return slices.Clone(fss) }
}

// sharedScenario: two packages bring in the same new directory, the
// first moving it whole, the second its file into it.
func sharedScenario(t *testing.T) (*fixture, []Change, Options) {
	f := newFixture(t, tree{"bin/": "", "bin/x": "old"})
	a := f.staged("a", tree{"share/": "", "share/a": "a"})
	b := f.staged("b", tree{"share/": "", "share/b": "b", "bin/": "", "bin/b": "b"})
	return f, []Change{{New: a}, {New: b}}, Options{Work: f.work}
}

// TestUndoIsDurable: a step failing midway is undone, and what Undo moved
// back is on the disk before Apply returns (the journal's end comes next,
// and a recovery after a crash ends it too): the directories of every
// step undone are fsynced, after the last rename back. So are they when
// a recovery undoes every step, even where a staged directory taken back
// held another step's destination.
func TestUndoIsDurable(t *testing.T) {
	all := map[string]func(t *testing.T) (*fixture, []Change, Options){"shared directory": sharedScenario}
	for name, s := range scenarios {
		all[name] = s
	}
	for name, scenario := range all {
		_, changes0, o0 := scenario(t)
		plan0, err := Prepare(context.Background(), changes0, o0)
		if err != nil {
			t.Fatal(err)
		}
		for i := 1; i <= len(plan0.Journal.Ops); i++ {
			t.Run(fmt.Sprint(name, " step ", i), func(t *testing.T) {
				f, changes, o := scenario(t)
				plan, err := Prepare(context.Background(), changes, o)
				if err != nil {
					t.Fatal(err)
				}
				ops := plan.Journal.Ops[:i]
				isUndone := func() bool {
					for _, op := range ops {
						if op.Kind != state.OpRmdir && inode(op.Src) != op.Ino {
							return false
						}
					}
					return true
				}
				early := map[string]bool{}
				fsynced, _ := watchSyncs(t, func(p string) { early[p] = early[p] || !isUndone() })
				if i == len(plan.Journal.Ops) {
					// Every step done, then a crash: the recovery undoes them.
					if err := applyN(plan.Journal, []string{f.prefix}, i, nil); err != nil {
						t.Fatal(err)
					}
					if err := Undo(plan.Journal.Ops); err != nil {
						t.Fatalf("Undo = %v", err)
					}
				} else {
					err = Apply(plan.Journal, []string{f.prefix}, func(step int) error {
						if step == i {
							return syscall.ENOSPC
						}
						return nil
					})
					if err == nil || strings.Contains(err.Error(), "undo") {
						t.Fatalf("Apply = %v, want the step's error alone", err)
					}
				}
				got := fsynced()
				for _, op := range ops {
					if op.Kind == state.OpRmdir {
						continue
					}
					for _, d := range []string{filepath.Dir(op.Src), filepath.Dir(op.Dst)} {
						if _, err := os.Stat(d); err == nil && !slices.Contains(got, d) {
							t.Errorf("%s (a directory step %s -> %s changed) was not fsynced after the undo; fsynced: %q", d, op.Src, op.Dst, got)
						}
					}
				}
				for p, e := range early {
					if e {
						t.Errorf("%s was fsynced before the undo ended", p)
					}
				}
			})
		}
	}
}

// TestManyDirectoriesSyncFilesystems: an uninstall that sets aside files
// in more directories than fewFiles syncs the filesystem once, not each
// directory (a flush of the disk's cache each).
func TestManyDirectoriesSyncFilesystems(t *testing.T) {
	prefix := tree{}
	var paths []string
	for i := range fewFiles + 10 {
		d := fmt.Sprintf("share/d%03d", i)
		prefix[d+"/"], prefix[d+"/f"] = "", "x"
		paths = append(paths, d+"/f")
	}
	f := newFixture(t, prefix)
	old := f.installed("app", "1.0.0", paths...)
	plan, err := Prepare(context.Background(), []Change{{Old: old}}, Options{Work: f.work})
	if err != nil {
		t.Fatal(err)
	}
	fsynced, syncedFS := watchSyncs(t, func(string) {})
	if err := Apply(plan.Journal, []string{f.prefix}, nil); err != nil {
		t.Fatal(err)
	}
	if len(syncedFS()) != 1 || len(fsynced()) != 0 {
		t.Errorf("synced filesystems %q and %d paths one by one, want one syncfs", syncedFS(), len(fsynced()))
	}
}

// TestSyncFilesystemsThroughSymlink: a directory the steps changed that
// is the user's symlink to a directory on another filesystem (lib64 ->
// /other/lib) has that filesystem synced, not the symlink's.
func TestSyncFilesystemsThroughSymlink(t *testing.T) {
	dir := t.TempDir()
	prefix, other := filepath.Join(dir, "prefix"), filepath.Join(dir, "other")
	for _, d := range []string{filepath.Join(prefix, "bin"), filepath.Join(other, "lib")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(other, "lib"), filepath.Join(prefix, "lib64")); err != nil {
		t.Fatal(err)
	}
	device = func(d string) (uint64, bool) {
		if real, err := filepath.EvalSymlinks(d); err == nil && strings.HasPrefix(real, other) {
			return 2, true
		}
		return 1, true
	}
	_, syncedFS := watchSyncs(t, func(string) {})
	if err := syncFilesystems([]string{filepath.Join(prefix, "bin"), filepath.Join(prefix, "lib64")}); err != nil {
		t.Fatal(err)
	}
	got := syncedFS()
	if len(got) != 2 || !slices.ContainsFunc(got, func(d string) bool { return device2(d) }) {
		t.Errorf("synced %q, want the prefix's filesystem and the one lib64 leads to", got)
	}
}

// device2 says d is on the test's other filesystem.
func device2(d string) bool {
	dev, _ := device(d)
	return dev == 2
}

// TestDurableReadsLittleOfAHugeDirectory: a directory of 5,000 files
// moved whole is one syncfs, decided on its first entries: the walk does
// not read the whole directory first (filepath.WalkDir did, 0.2 s and
// 30 MiB for one of 200,000; a package may hold a million).
func TestDurableReadsLittleOfAHugeDirectory(t *testing.T) {
	dir := t.TempDir()
	dst := filepath.Join(dir, "prefix", "share")
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range 5_000 {
		if err := os.WriteFile(filepath.Join(dst, fmt.Sprint(i)), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	fsynced, syncedFS := watchSyncs(t, func(string) {})
	ops := []state.Op{{Kind: state.OpPlace, Src: filepath.Join(dir, "share"), Dst: dst}}
	var err error
	allocs := testing.AllocsPerRun(1, func() { err = durable(ops, nil) })
	if err != nil {
		t.Fatal(err)
	}
	if len(syncedFS()) == 0 || len(fsynced()) != 0 {
		t.Errorf("synced filesystems %q and %d paths one by one, want syncfs", syncedFS(), len(fsynced()))
	}
	if allocs > 10*fewFiles {
		t.Errorf("%.0f allocations to walk the first %d entries of 5,000", allocs, fewFiles)
	}
}
