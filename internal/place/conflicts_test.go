package place

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

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
