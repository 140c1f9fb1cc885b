package place

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/stage"
	"github.com/distpac/distpac/internal/state"
)

// tree describes files: path -> content; a trailing "/" makes a
// directory, "-> target" a symlink.
type tree map[string]string

func write(t *testing.T, root string, tr tree) {
	t.Helper()
	paths := make([]string, 0, len(tr))
	for p := range tr {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		abs := filepath.Join(root, p)
		v := tr[p]
		var err error
		switch {
		case strings.HasSuffix(p, "/"):
			err = os.MkdirAll(abs, 0o755)
		case strings.HasPrefix(v, "-> "):
			os.MkdirAll(filepath.Dir(abs), 0o755)
			err = os.Symlink(strings.TrimPrefix(v, "-> "), abs)
		default:
			os.MkdirAll(filepath.Dir(abs), 0o755)
			err = os.WriteFile(abs, []byte(v), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// read is the inverse of write: everything under root.
func read(t *testing.T, root string) tree {
	t.Helper()
	out := tree{}
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		rel := filepath.ToSlash(p[len(root)+1:])
		switch {
		case d.IsDir():
			out[rel+"/"] = ""
		case d.Type()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			out[rel] = "-> " + target
		default:
			b, _ := os.ReadFile(p)
			out[rel] = string(b)
		}
		return nil
	})
	return out
}

// fixture is a prefix, a work directory and staged trees in it.
type fixture struct {
	t      *testing.T
	prefix string
	work   string
	n      int
}

func newFixture(t *testing.T, prefix tree) *fixture {
	dir := t.TempDir()
	f := &fixture{t: t, prefix: filepath.Join(dir, "prefix"), work: filepath.Join(dir, "staging", "txn-42")}
	os.MkdirAll(f.prefix, 0o755)
	os.MkdirAll(f.work, 0o755)
	write(t, f.prefix, prefix)
	return f
}

// staged writes a tree into the work directory and scans it.
func (f *fixture) staged(name string, tr tree) *Staged {
	f.n++
	root := filepath.Join(f.work, fmt.Sprint(f.n))
	os.MkdirAll(root, 0o755)
	write(f.t, root, tr)
	files, _, err := stage.Scan(context.Background(), root)
	if err != nil {
		f.t.Fatal(err)
	}
	return &Staged{Name: name, Version: "1.0.0", Prefix: f.prefix, Root: root, Files: files}
}

// installed is a record of files as they are now in the prefix.
func (f *fixture) installed(name, version string, paths ...string) *Installed {
	var files []state.File
	for _, p := range paths {
		abs := filepath.Join(f.prefix, p)
		fi, err := os.Lstat(abs)
		if err != nil {
			f.t.Fatal(err)
		}
		sf := state.File{Path: p, Mode: state.Perm(fi.Mode())}
		switch {
		case fi.IsDir():
			sf.Type, sf.Created = state.TypeDir, true
		case fi.Mode()&fs.ModeSymlink != 0:
			sf.Type = state.TypeSymlink
			sf.Target, _ = os.Readlink(abs)
		default:
			sf.Type, sf.Size = state.TypeFile, fi.Size()
			sf.SHA256, _ = stage.HashFile(context.Background(), abs)
		}
		files = append(files, sf)
	}
	return &Installed{Name: name, Version: version, Prefix: f.prefix, Files: files}
}

// ownerLookup is Options.Owners.
type ownerLookup = func([]string) (map[string]state.Owner, error)

func (f *fixture) owners(ins ...*Installed) ownerLookup {
	out := map[string]state.Owner{}
	for _, in := range ins {
		for _, file := range in.Files {
			out[filepath.Join(in.Prefix, file.Path)] = state.Owner{Name: in.Name, Version: in.Version, Type: file.Type, Created: file.Created}
		}
	}
	// As state.DB.OwnersOf: only the paths asked.
	return func(abs []string) (map[string]state.Owner, error) {
		found := map[string]state.Owner{}
		for _, a := range abs {
			if o, ok := out[a]; ok {
				found[a] = o
			}
		}
		return found, nil
	}
}

func (f *fixture) run(changes []Change, o Options) (*Plan, error) {
	o.Work = f.work
	plan, err := Prepare(context.Background(), changes, o)
	if err != nil {
		return nil, err
	}
	if err := Apply(plan.Journal, []string{f.prefix}, nil); err != nil {
		return plan, err
	}
	return plan, Finish(plan.Journal)
}

func TestFreshInstall(t *testing.T) {
	f := newFixture(t, tree{"bin/": "", "bin/mine": "user's"})
	s := f.staged("hello", tree{"bin/": "", "bin/hello": "hi", "share/hello/": "", "share/hello/a": "a", "share/hello/b/": "", "share/hello/b/c": "c", "lib": "-> share"})
	plan, err := f.run([]Change{{New: s}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := tree{"bin/": "", "bin/mine": "user's", "bin/hello": "hi", "share/": "", "share/hello/": "", "share/hello/a": "a",
		"share/hello/b/": "", "share/hello/b/c": "c", "lib": "-> share"}
	if got := read(t, f.prefix); !reflect.DeepEqual(got, want) {
		t.Fatalf("prefix = %v\nwant %v", got, want)
	}
	// share/ was missing: it moved with one rename, whatever it held.
	places := 0
	for _, op := range plan.Journal.Ops {
		if op.Kind == state.OpPlace {
			places++
		}
	}
	if places != 3 { // bin/hello, lib, share
		t.Errorf("%d renames, want 3: %+v", places, plan.Journal.Ops)
	}
	created := map[string]bool{}
	for _, file := range plan.Files[0] {
		if file.Type == state.TypeDir {
			created[file.Path] = file.Created
		}
	}
	if created["bin"] || !created["share"] || !created["share/hello/b"] {
		t.Errorf("Created flags %v: bin was there before, share was made", created)
	}
	if _, err := os.Stat(f.work); !os.IsNotExist(err) {
		t.Error("Finish left the work directory")
	}
	if plan.Bytes != 4 {
		t.Errorf("Bytes = %d, want 4", plan.Bytes)
	}
}

func TestConflicts(t *testing.T) {
	f := newFixture(t, tree{"bin/": "", "bin/tool": "alpha's", "bin/mine": "user's", "etc/": "", "share/x/": ""})
	alpha := f.installed("alpha", "1.0.0", "bin/tool")
	s := f.staged("beta", tree{"bin/": "", "bin/tool": "beta's", "bin/mine": "beta's", "etc": "file where a dir is", "share/": "", "share/x": "file"})
	other := f.staged("gamma", tree{"bin/": "", "bin/gamma": "g"})
	twin := f.staged("delta", tree{"bin/": "", "bin/gamma": "d", "bin/tool": "delta's"})
	before := read(t, f.prefix)
	_, err := f.run([]Change{{New: s}, {New: other}, {New: twin}}, Options{Owners: f.owners(alpha)})
	var ce *ConflictError
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v, want conflicts", err)
	}
	for _, want := range []string{
		// Each package of several that brings it is named: two identical
		// lines before.
		"bin/tool is owned by alpha 1.0.0 (from beta 1.0.0)",
		"bin/tool is owned by alpha 1.0.0 (from delta 1.0.0)",
		"bin/mine exists in the prefix and no package owns it (from beta 1.0.0; --overwrite 'bin/mine' replaces it)",
		"etc is a directory in the prefix; beta 1.0.0 has a file there;",
		"share/x is a directory in the prefix",
		"bin/gamma is in both gamma 1.0.0 and delta 1.0.0",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q:\n%v", want, err)
		}
	}
	if got := read(t, f.prefix); !reflect.DeepEqual(got, before) {
		t.Fatalf("a refused transaction changed the prefix: %v", got)
	}
}

func TestOverwrite(t *testing.T) {
	for _, glob := range []string{"bin/mine", "bin/*", "bin", "*", "/**/mine"} {
		t.Run(glob, func(t *testing.T) {
			f := newFixture(t, tree{"bin/": "", "bin/mine": "user's"})
			if glob == "/**/mine" {
				glob = filepath.Join(f.prefix, "bin", "*")
			}
			s := f.staged("beta", tree{"bin/": "", "bin/mine": "beta's"})
			if _, err := f.run([]Change{{New: s}}, Options{Overwrite: []string{glob}}); err != nil {
				t.Fatal(err)
			}
			if got := read(t, f.prefix); !reflect.DeepEqual(got, tree{"bin/": "", "bin/mine": "beta's"}) {
				t.Fatalf("prefix = %v", got)
			}
		})
	}
	f := newFixture(t, tree{"bin/": "", "bin/mine": "user's"})
	s := f.staged("beta", tree{"bin/": "", "bin/mine": "beta's"})
	if _, err := f.run([]Change{{New: s}}, Options{Overwrite: []string{"share/*", "bin/other"}}); err == nil {
		t.Fatal("a glob that does not match allowed the overwrite")
	}
}

func TestUpgradeReplacesAndRemoves(t *testing.T) {
	f := newFixture(t, tree{"bin/": "", "bin/app": "v1", "share/app/": "", "share/app/old": "old", "share/app/keep": "same"})
	old := f.installed("app", "1.0.0", "bin", "bin/app", "share", "share/app", "share/app/old", "share/app/keep")
	s := f.staged("app", tree{"bin/": "", "bin/app": "v2", "share/": "", "share/app/": "", "share/app/keep": "same", "share/app/new": "new"})
	var warned []string
	plan, err := f.run([]Change{{Old: old, New: s}}, Options{Warn: func(format string, a ...any) { warned = append(warned, fmt.Sprintf(format, a...)) }})
	if err != nil {
		t.Fatal(err)
	}
	want := tree{"bin/": "", "bin/app": "v2", "share/": "", "share/app/": "", "share/app/keep": "same", "share/app/new": "new"}
	if got := read(t, f.prefix); !reflect.DeepEqual(got, want) {
		t.Fatalf("prefix = %v\nwant %v", got, want)
	}
	if len(warned) != 0 {
		t.Errorf("warnings for unchanged files: %v", warned)
	}
	for _, file := range plan.Files[0] {
		if file.Type == state.TypeDir && !file.Created {
			t.Errorf("%s lost the Created flag the old version had", file.Path)
		}
	}
}

// An upgrade leaves where they are the files and symlinks the user
// changed that the new version ships unchanged (an edited configuration
// file, as dpkg and pacman keep it), recording the package's copy so that
// verify still lists them; a changed file the new version changes too is
// kept as .distpac-save, as before; a reinstall of the same version puts
// every file back. Before, every changed file went aside as .distpac-save
// and the package's copy came back at each upgrade.
func TestUpgradeLeavesUsersEditOfUnchangedFile(t *testing.T) {
	for _, tt := range []struct {
		name string
		to   string // the version staged
		want tree
		kept int // warnings that say "left as it is"
	}{
		{"upgrade", "1.1.0", tree{"etc/": "", "etc/app.conf": "edited by the user", "bin/": "", "bin/app": "v2", "bin/app.distpac-save": "patched by the user",
			"share/": "", "share/theme": "-> user-theme"}, 2},
		{"reinstall", "1.0.0", tree{"etc/": "", "etc/app.conf": "configured=yes", "etc/app.conf.distpac-save": "edited by the user", "bin/": "", "bin/app": "v2",
			"bin/app.distpac-save": "patched by the user", "share/": "", "share/theme": "-> default-theme", "share/theme.distpac-save": "-> user-theme"}, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tree{"etc/": "", "etc/app.conf": "configured=yes", "bin/": "", "bin/app": "v1", "share/": "", "share/theme": "-> default-theme"})
			old := f.installed("app", "1.0.0", "etc", "etc/app.conf", "bin", "bin/app", "share", "share/theme")
			s := f.staged("app", tree{"etc/": "", "etc/app.conf": "configured=yes", "bin/": "", "bin/app": "v2", "share/": "", "share/theme": "-> default-theme"})
			s.Version = tt.to
			os.WriteFile(filepath.Join(f.prefix, "etc/app.conf"), []byte("edited by the user"), 0o644)
			os.WriteFile(filepath.Join(f.prefix, "bin/app"), []byte("patched by the user"), 0o644)
			os.Remove(filepath.Join(f.prefix, "share/theme"))
			os.Symlink("user-theme", filepath.Join(f.prefix, "share/theme"))
			var warned []string
			plan, err := f.run([]Change{{Old: old, New: s}}, Options{Warn: func(format string, a ...any) { warned = append(warned, fmt.Sprintf(format, a...)) }})
			if err != nil {
				t.Fatal(err)
			}
			if got := read(t, f.prefix); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("prefix = %v\nwant %v", got, tt.want)
			}
			kept := 0
			for _, w := range warned {
				if strings.Contains(w, "left as it is") {
					kept++
				}
			}
			if kept != tt.kept || len(warned) != 3 {
				t.Errorf("warnings = %q; want 3, %d of them 'left as it is'", warned, tt.kept)
			}
			// The records are the package's: verify lists the user's edits.
			for _, file := range plan.Files[0] {
				if file.Path == "etc/app.conf" {
					if sum := sha256.Sum256([]byte("configured=yes")); file.SHA256 != hex.EncodeToString(sum[:]) {
						t.Errorf("etc/app.conf recorded with sha256 %s, want the package's", file.SHA256)
					}
				}
			}
			problems, err := Verify(context.Background(), f.prefix, plan.Files[0])
			if err != nil {
				t.Fatal(err)
			}
			if len(problems) != tt.kept {
				t.Errorf("verify after the %s: %+v; want the %d files left as the user made them", tt.name, problems, tt.kept)
			}
		})
	}
}

func TestRemoveKeepsChangedFiles(t *testing.T) {
	f := newFixture(t, tree{"etc/": "", "etc/app.conf": "default", "etc/app.conf.distpac-save": "an older save", "bin/": "", "bin/app": "x", "bin/link": "-> app", "bin/gone": "g"})
	old := f.installed("app", "1.0.0", "etc", "etc/app.conf", "bin", "bin/app", "bin/link", "bin/gone")
	other := f.installed("other", "2.0.0", "bin")
	os.WriteFile(filepath.Join(f.prefix, "etc/app.conf"), []byte("edited by the user"), 0o644)
	os.Chmod(filepath.Join(f.prefix, "bin/app"), 0o700)
	os.Remove(filepath.Join(f.prefix, "bin/gone"))
	var warned []string
	_, err := f.run([]Change{{Old: old}}, Options{Owners: f.owners(other), Warn: func(format string, a ...any) { warned = append(warned, fmt.Sprintf(format, a...)) }})
	if err != nil {
		t.Fatal(err)
	}
	want := tree{"etc/": "", "etc/app.conf.distpac-save": "an older save", "etc/app.conf.distpac-save.1": "edited by the user", "bin/": "", "bin/app.distpac-save": "x"}
	if got := read(t, f.prefix); !reflect.DeepEqual(got, want) {
		t.Fatalf("prefix = %v\nwant %v", got, want)
	}
	if len(warned) != 2 || !strings.Contains(warned[0], "content changed") || !strings.Contains(warned[1], "mode changed (0700, recorded 0644)") {
		t.Fatalf("warnings = %q", warned)
	}
}

// TestRemoveKeepsChangedFileWithALongName: a changed file whose name the
// suffix takes past NAME_MAX (255 bytes) is kept under its name cut to fit
// (state.SaveName). Before, the rename failed with "file name too long"
// and the removal rolled back: the package could be neither upgraded nor
// uninstalled while the user's change was there.
func TestRemoveKeepsChangedFileWithALongName(t *testing.T) {
	long := strings.Repeat("c", 245) + ".conf" // 250 bytes
	f := newFixture(t, tree{"etc/": "", "etc/" + long: "default", "etc/" + strings.Repeat("c", 242) + ".distpac-save": "an older save"})
	old := f.installed("app", "1.0.0", "etc", "etc/"+long)
	os.WriteFile(filepath.Join(f.prefix, "etc", long), []byte("edited by the user"), 0o644)
	if _, err := f.run([]Change{{Old: old}}, Options{Warn: func(string, ...any) {}}); err != nil {
		t.Fatal(err)
	}
	want := tree{"etc/": "", "etc/" + strings.Repeat("c", 242) + ".distpac-save": "an older save", "etc/" + strings.Repeat("c", 240) + ".distpac-save.1": "edited by the user"}
	if got := read(t, f.prefix); !reflect.DeepEqual(got, want) {
		t.Fatalf("prefix = %v\nwant %v", got, want)
	}
}

// TestRemoveKeepsChangedFileNamedLikeABackup: a changed file whose name
// starts as a backup's (.distpac-) is kept as NAME.distpac-save, and the
// commit does not delete it. Before, Finish took every name starting
// with .distpac- for a backup: the user's copy was deleted.
func TestRemoveKeepsChangedFileNamedLikeABackup(t *testing.T) {
	f := newFixture(t, tree{"etc/": "", "etc/.distpac-rc": "default"})
	old := f.installed("app", "1.0.0", "etc", "etc/.distpac-rc")
	os.WriteFile(filepath.Join(f.prefix, "etc/.distpac-rc"), []byte("edited by the user"), 0o644)
	if _, err := f.run([]Change{{Old: old}}, Options{}); err != nil {
		t.Fatal(err)
	}
	want := tree{"etc/": "", "etc/.distpac-rc.distpac-save": "edited by the user"}
	if got := read(t, f.prefix); !reflect.DeepEqual(got, want) {
		t.Fatalf("prefix = %v\nwant %v", got, want)
	}
}

// TestRemoveLeavesUsersDirectory: a file the package placed that the user
// replaced with a directory of their own stays where it is, with a
// warning. Before, the check for it never matched ("is a dir now" is what
// Check says), and the directory was moved to NAME.distpac-save.
func TestRemoveLeavesUsersDirectory(t *testing.T) {
	f := newFixture(t, tree{"etc/": "", "etc/app": "default"})
	old := f.installed("app", "1.0.0", "etc", "etc/app")
	os.Remove(filepath.Join(f.prefix, "etc/app"))
	write(t, f.prefix, tree{"etc/app/": "", "etc/app/mine": "the user's"})
	var warned []string
	if _, err := f.run([]Change{{Old: old}}, Options{Warn: func(format string, a ...any) { warned = append(warned, fmt.Sprintf(format, a...)) }}); err != nil {
		t.Fatal(err)
	}
	want := tree{"etc/": "", "etc/app/": "", "etc/app/mine": "the user's"}
	if got := read(t, f.prefix); !reflect.DeepEqual(got, want) {
		t.Fatalf("prefix = %v\nwant %v", got, want)
	}
	if len(warned) != 1 || !strings.Contains(warned[0], "etc/app was recorded as a file of app 1.0.0 and is a directory now; left alone") {
		t.Fatalf("warnings = %q", warned)
	}
}

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

func TestSymlinkedDirectories(t *testing.T) {
	f := newFixture(t, tree{"real/": "", "bin": "-> real"})
	s := f.staged("a", tree{"bin/": "", "bin/a": "a"})
	if _, err := f.run([]Change{{New: s}}, Options{}); err != nil {
		t.Fatalf("the user's symlink to a directory refused: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(f.prefix, "real", "a")); string(b) != "a" {
		t.Fatal("file not placed through the user's symlink")
	}
	os.Chmod(filepath.Join(f.prefix, "real"), 0o700)
	plan, err := Prepare(context.Background(), []Change{{New: f.staged("c", tree{"bin/": "", "bin/c": "c"})}}, Options{Work: f.work})
	if err != nil {
		t.Fatal(err)
	}
	Apply(plan.Journal, []string{f.prefix}, nil)
	if p, err := Verify(context.Background(), f.prefix, plan.Files[0]); err != nil || p != nil {
		t.Fatalf("a shared directory reached through a symlink, with its own mode, does not verify: %v %v", p, err)
	}
	Finish(plan.Journal)
	// A package's own symlink is not a directory others may fill.
	f2 := newFixture(t, tree{"real/": "", "lib": "-> real"})
	owner := f2.installed("linker", "1.0.0", "lib")
	s2 := f2.staged("b", tree{"lib/": "", "lib/b": "b"})
	if _, err := f2.run([]Change{{New: s2}}, Options{Owners: f2.owners(owner)}); err == nil || !strings.Contains(err.Error(), "lib is owned by linker 1.0.0") {
		t.Fatalf("err = %v", err)
	}
}

// TestRemoveLeavesUsersSymlink: a directory the package made that the user
// replaced with a symlink to a directory of their own stays a symlink when
// the package goes; before, the symlink was unlinked.
func TestRemoveLeavesUsersSymlink(t *testing.T) {
	f := newFixture(t, tree{"share/": "", "share/f": "f", "usershare/": ""})
	old := f.installed("lnk", "1.0.0", "share", "share/f")
	share := filepath.Join(f.prefix, "share")
	if err := os.Rename(filepath.Join(share, "f"), filepath.Join(f.prefix, "usershare", "f")); err != nil {
		t.Fatal(err)
	}
	os.Remove(share)
	if err := os.Symlink("usershare", share); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(f.prefix, "usershare", "mine"), []byte("mine"), 0o644)
	if _, err := f.run([]Change{{Old: old}}, Options{}); err != nil {
		t.Fatal(err)
	}
	want := tree{"share": "-> usershare", "usershare/": "", "usershare/mine": "mine"}
	if got := read(t, f.prefix); !reflect.DeepEqual(got, want) {
		t.Fatalf("prefix = %v\nwant %v", got, want)
	}
}

// TestSymlinkBecomesDirectory upgrades a package whose symlink turns into a
// directory. The old symlink is set aside before the new tree arrives, so
// what lies behind it is no conflict: before, the new directory's entries
// were looked up through the old symlink and found the user's files there.
// The reverse is TestDirectoryBecomesSymlink.
func TestSymlinkBecomesDirectory(t *testing.T) {
	f := newFixture(t, tree{"real/": "", "real/a": "the user's", "lib": "-> real"})
	old := f.installed("app", "1.0.0", "lib")
	s := f.staged("app", tree{"lib/": "", "lib/a": "v2"})
	if _, err := f.run([]Change{{Old: old, New: s}}, Options{}); err != nil {
		t.Fatalf("upgrade from a symlink to a directory: %v", err)
	}
	want := tree{"real/": "", "real/a": "the user's", "lib/": "", "lib/a": "v2"}
	if got := read(t, f.prefix); !reflect.DeepEqual(got, want) {
		t.Fatalf("prefix = %v\nwant %v", got, want)
	}
	// A file that becomes a directory.
	f2 := newFixture(t, tree{"doc": "a file"})
	old2 := f2.installed("app", "1.0.0", "doc")
	s2 := f2.staged("app", tree{"doc/": "", "doc/README": "v2"})
	if _, err := f2.run([]Change{{Old: old2, New: s2}}, Options{}); err != nil {
		t.Fatalf("upgrade from a file to a directory: %v", err)
	}
	if got, want := read(t, f2.prefix), (tree{"doc/": "", "doc/README": "v2"}); !reflect.DeepEqual(got, want) {
		t.Fatalf("prefix = %v\nwant %v", got, want)
	}
}

// TestDirectoryBecomesSymlink upgrades a package whose directory turns into
// a symlink or a file (a usrmerge-style move). The new entry wins over the
// old version's own entries, which go with the directory, aside whole;
// an entry the transaction does not take away (the user's, another
// package's) stops it, named, and a file the user changed keeps the old
// directory as NAME.distpac-save. Before, every such upgrade was refused:
// "lib is a directory in the prefix; app 2.0.0 has a symlink there".
func TestDirectoryBecomesSymlink(t *testing.T) {
	v1 := tree{"lib/": "", "lib/a.so": "a1", "lib/sub/": "", "lib/sub/b.so": "b1"}
	v1paths := []string{"lib", "lib/a.so", "lib/sub", "lib/sub/b.so"}
	for _, tt := range []struct {
		name    string
		staged  tree
		prepare func(f *fixture) ownerLookup // changes the prefix after v1 is in
		want    tree                         // the prefix after; nil: refused
		err     string
		warn    string
	}{{
		name:   "to a symlink",
		staged: tree{"lib": "-> lib64", "lib64/": "", "lib64/a.so": "a2"},
		want:   tree{"lib": "-> lib64", "lib64/": "", "lib64/a.so": "a2"},
	}, {
		name:   "to a file",
		staged: tree{"lib": "a file now"},
		want:   tree{"lib": "a file now"},
	}, {
		name:   "a file already gone",
		staged: tree{"lib": "-> lib64", "lib64/": ""},
		prepare: func(f *fixture) ownerLookup {
			os.Remove(filepath.Join(f.prefix, "lib/a.so"))
			return nil
		},
		want: tree{"lib": "-> lib64", "lib64/": ""},
	}, {
		name:   "the user's file inside",
		staged: tree{"lib": "-> lib64", "lib64/": ""},
		prepare: func(f *fixture) ownerLookup {
			write(f.t, f.prefix, tree{"lib/sub/mine": "the user's"})
			return nil
		},
		err: "lib/sub/mine is in the directory lib, which app 1.0.0 replaces with a symlink, and no package owns it (move it out of lib first); nothing was changed",
	}, {
		name:   "another package's file inside",
		staged: tree{"lib": "-> lib64", "lib64/": ""},
		prepare: func(f *fixture) ownerLookup {
			write(f.t, f.prefix, tree{"lib/other.so": "other's"})
			return f.owners(f.installed("other", "3.0.0", "lib/other.so"))
		},
		err: "lib/other.so is owned by other 3.0.0, and app 1.0.0 replaces the directory lib with a symlink; nothing was changed",
	}, {
		name:   "another package shares the directory",
		staged: tree{"lib": "-> lib64", "lib64/": ""},
		prepare: func(f *fixture) ownerLookup {
			return f.owners(f.installed("other", "3.0.0", "lib"))
		},
		err: "lib is owned by other 3.0.0; nothing was changed",
	}, {
		// A package recording the directory inside and not lib itself:
		// installed under the nested prefix lib (the prefix was changed
		// between installs).
		name:   "another package shares a directory inside",
		staged: tree{"lib": "-> lib64", "lib64/": ""},
		prepare: func(f *fixture) ownerLookup {
			other := f.installed("other", "3.0.0", "lib/sub")
			other.Prefix, other.Files[0].Path = filepath.Join(f.prefix, "lib"), "sub"
			return f.owners(other)
		},
		err: "lib/sub is owned by other 3.0.0, and app 1.0.0 replaces the directory lib with a symlink; nothing was changed",
	}, {
		name:   "another package shares a directory inside that the user made a symlink",
		staged: tree{"lib": "-> lib64", "lib64/": ""},
		prepare: func(f *fixture) ownerLookup {
			os.RemoveAll(filepath.Join(f.prefix, "lib/sub"))
			os.Symlink("../elsewhere", filepath.Join(f.prefix, "lib/sub"))
			return f.owners(&Installed{Name: "other", Version: "3.0.0", Prefix: filepath.Join(f.prefix, "lib"), Files: []state.File{{Path: "sub", Type: state.TypeDir, Mode: 0o755}}})
		},
		err: "lib/sub is owned by other 3.0.0, and app 1.0.0 replaces the directory lib with a symlink; nothing was changed",
	}, {
		name:   "a file the user changed",
		staged: tree{"lib": "-> lib64", "lib64/": ""},
		prepare: func(f *fixture) ownerLookup {
			os.WriteFile(filepath.Join(f.prefix, "lib/sub/b.so"), []byte("patched"), 0o644)
			return nil
		},
		want: tree{"lib": "-> lib64", "lib64/": "", "lib.distpac-save/": "", "lib.distpac-save/a.so": "a1", "lib.distpac-save/sub/": "", "lib.distpac-save/sub/b.so": "patched"},
		warn: "/lib/sub/b.so was changed since it was installed: content changed (7 bytes, recorded 2); app 1.0.0 replaces the directory lib with a symlink, so the old directory is kept as ",
	}} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, v1)
			old := f.installed("app", "1.0.0", v1paths...)
			var owners ownerLookup
			if tt.prepare != nil {
				owners = tt.prepare(f)
			}
			before := read(t, f.prefix)
			var warned []string
			_, err := f.run([]Change{{Old: old, New: f.staged("app", tt.staged)}}, Options{Owners: owners, Warn: func(format string, a ...any) { warned = append(warned, fmt.Sprintf(format, a...)) }})
			got := read(t, f.prefix)
			if tt.want == nil {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("err = %v\nwant %s", err, tt.err)
				}
				if !reflect.DeepEqual(got, before) {
					t.Fatalf("a refused upgrade changed the prefix: %v", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("prefix = %v\nwant %v", got, tt.want)
			}
			if tt.warn == "" && len(warned) > 0 || tt.warn != "" && (len(warned) != 1 || !strings.Contains(warned[0], tt.warn)) {
				t.Fatalf("warnings = %q, want %q", warned, tt.warn)
			}
		})
	}
}

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

// TestNewDirectoriesShared: several packages of one plan ship the same
// directories, missing from the prefix. The first moves them in whole; the
// others find them there and put their own entries inside. (An install of
// many packages each with share/NAME/ failed with "share appeared during
// the transaction".)
func TestNewDirectoriesShared(t *testing.T) {
	f := newFixture(t, tree{})
	a := f.staged("a", tree{"share/": "", "share/doc/": "", "share/doc/a": "a", "share/a/": "", "share/a/x": "x"})
	b := f.staged("b", tree{"share/": "", "share/doc/": "", "share/doc/b": "b", "share/b/": "", "share/b/y": "y"})
	c := f.staged("c", tree{"share/": "", "share/c": "c"})
	plan, err := f.run([]Change{{New: a}, {New: b}, {New: c}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := tree{"share/": "", "share/doc/": "", "share/doc/a": "a", "share/doc/b": "b", "share/a/": "", "share/a/x": "x",
		"share/b/": "", "share/b/y": "y", "share/c": "c"}
	if got := read(t, f.prefix); !reflect.DeepEqual(got, want) {
		t.Fatalf("prefix = %v\nwant %v", got, want)
	}
	for i, files := range plan.Files {
		for _, file := range files {
			if file.Type == state.TypeDir && !file.Created {
				t.Errorf("change %d: %s not recorded as made by distpac", i, file.Path)
			}
		}
	}
}

// TestPrepareAsksForItsPaths: Prepare asks the owners of the paths the
// changes bring in and of the directories they made and take away, then of
// what it finds in a directory a new file replaces, and nothing else; a
// failed lookup stops it before anything is planned.
func TestPrepareAsksForItsPaths(t *testing.T) {
	f := newFixture(t, tree{"lib/": "", "lib/a.so": "a1", "lib/mine": "user's", "doc/": "", "doc/x": "x", "unrelated": "u"})
	old := f.installed("app", "1.0.0", "lib", "lib/a.so", "doc", "doc/x")
	s := f.staged("app", tree{"lib": "-> lib64", "lib64/": "", "lib64/a.so": "a2"})
	var asked [][]string
	owners := func(abs []string) (map[string]state.Owner, error) {
		asked = append(asked, append([]string(nil), abs...))
		return map[string]state.Owner{}, nil
	}
	_, err := f.run([]Change{{Old: old, New: s}}, Options{Owners: owners})
	if err == nil || !strings.Contains(err.Error(), "lib/mine is in the directory lib") {
		t.Fatalf("err = %v, want the user's file in lib named", err)
	}
	p := func(rel ...string) []string {
		var out []string
		for _, r := range rel {
			out = append(out, filepath.Join(f.prefix, r))
		}
		return out
	}
	want := [][]string{p("lib", "lib64", "lib64/a.so", "lib", "doc"), p("lib/mine")}
	if !reflect.DeepEqual(asked, want) {
		t.Fatalf("asked %q\nwant %q", asked, want)
	}

	broken := errors.New("database is locked")
	before := read(t, f.prefix)
	_, err = f.run([]Change{{Old: old}}, Options{Owners: func([]string) (map[string]state.Owner, error) { return nil, broken }})
	if !errors.Is(err, broken) {
		t.Fatalf("err = %v, want the lookup's error", err)
	}
	if got := read(t, f.prefix); !reflect.DeepEqual(got, before) {
		t.Fatalf("a failed lookup changed the prefix: %v", got)
	}
}

// TestRemoveKeepsADirectoryAnotherRecords: a directory distpac made for a
// package leaving is removed after the commit (when empty) unless a
// package that stays records it too.
func TestRemoveKeepsADirectoryAnotherRecords(t *testing.T) {
	for _, shared := range []bool{false, true} {
		f := newFixture(t, tree{"share/": "", "share/x/": "", "share/x/f": "f"})
		app := f.installed("app", "1.0.0", "share", "share/x", "share/x/f")
		var o Options
		if shared {
			o.Owners = f.owners(f.installed("other", "2.0.0", "share/x"))
		}
		plan, err := f.run([]Change{{Old: app}}, o)
		if err != nil {
			t.Fatal(err)
		}
		var removed []string
		for _, op := range plan.Journal.Ops {
			if op.Kind == state.OpRmdir {
				removed = append(removed, strings.TrimPrefix(op.Src, f.prefix))
			}
		}
		want := []string{"/share/x", "/share"}
		if shared {
			want = []string{"/share"}
		}
		if !reflect.DeepEqual(removed, want) {
			t.Errorf("shared %v: directories removed %q, want %q", shared, removed, want)
		}
	}
}
