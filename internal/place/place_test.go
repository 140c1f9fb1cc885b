package place

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

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
