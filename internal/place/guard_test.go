package place

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestOthersDirectory: a directory of the prefix that others can write
// (chmod 0777 stands for a service user's directory, or another user's):
// they can put a symlink where its subdirectory was, and a step through it
// acted where the symlink led. Now such paths are left in place by a
// removal, with a warning, and refused when placed; a path the directory
// holds itself, which they cannot redirect, goes as before.
func TestOthersDirectory(t *testing.T) {
	tests := []struct {
		name string
		// arrive: what the new version stages (nil: an uninstall).
		arrive tree
		// conflict is the error's text; "" when the change goes through.
		conflict string
		// warn is a warning's text; "" when none.
		warn string
		// prefix and outside are what is left in each.
		prefix, outside tree
	}{{
		name:    "uninstall leaves what is under the swapped directory",
		warn:    "svc/sub/conf of svc 1.0.0 left in place: its directory PREFIX/svc/sub is under PREFIX/svc, which is writable by its group and others (mode drwxrwxrwx): someone else could put a symlink on the way",
		prefix:  tree{"svc/": "", "svc/sub": "-> OUTSIDE"},
		outside: tree{"conf": "root's"},
	}, {
		name:     "install refuses to place through it",
		arrive:   tree{"svc/": "", "svc/state": "new", "svc/sub/": "", "svc/sub/conf": "new"},
		conflict: "svc/sub/conf: its directory PREFIX/svc/sub is under PREFIX/svc, which is writable by its group and others (mode drwxrwxrwx): someone else could put a symlink on the way and lead it elsewhere (check what is there and move or remove it by hand, then run this again; a package should ship nothing under a directory it gives another user); nothing was changed",
		prefix:   tree{"svc/": "", "svc/state": "state", "svc/sub": "-> OUTSIDE"},
		outside:  tree{"conf": "root's"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, old, outside := swappedService(t, "root's")
			c := Change{Old: old}
			if tt.arrive != nil {
				c = Change{Old: old, New: f.staged("svc", tt.arrive)}
			}
			var warned []string
			_, err := f.run([]Change{c}, Options{Warn: func(format string, args ...any) {
				warned = append(warned, strings.ReplaceAll(strings.TrimSpace(fmt.Sprintf(format, args...)), f.prefix, "PREFIX"))
			}})
			if tt.conflict == "" && err != nil {
				t.Fatal(err)
			}
			if tt.conflict != "" {
				if err == nil || strings.ReplaceAll(err.Error(), f.prefix, "PREFIX") != tt.conflict {
					t.Errorf("error = %v\nwant %s", err, tt.conflict)
				}
			}
			if got := strings.Join(warned, "\n"); (tt.warn == "") != (got == "") || !strings.Contains(got, tt.warn) {
				t.Errorf("warnings:\n%s\nwant one with: %s", got, tt.warn)
			}
			want := tree{}
			for k, v := range tt.prefix {
				want[k] = strings.ReplaceAll(v, "OUTSIDE", outside)
			}
			if got := read(t, f.prefix); !reflect.DeepEqual(got, want) {
				t.Errorf("prefix = %v\nwant %v", got, want)
			}
			if got := read(t, outside); !reflect.DeepEqual(got, tt.outside) {
				t.Errorf("behind the symlink = %v\nwant %v", got, tt.outside)
			}
		})
	}
}

// swappedService installs svc 1.0.0 (svc/, svc/state, svc/sub/conf) with
// svc writable by everyone, then makes the other user's move: svc/sub
// aside, a symlink in its place to a directory outside of the caller's
// holding conf with content conf.
func swappedService(t *testing.T, conf string) (f *fixture, old *Installed, outside string) {
	t.Helper()
	f = newFixture(t, tree{"svc/": "", "svc/state": "state", "svc/sub/": "", "svc/sub/conf": "default"})
	old = f.installed("svc", "1.0.0", "svc", "svc/state", "svc/sub", "svc/sub/conf")
	if err := os.Chmod(filepath.Join(f.prefix, "svc"), 0o777); err != nil {
		t.Fatal(err)
	}
	outside = filepath.Join(filepath.Dir(f.prefix), "outside")
	write(t, outside, tree{"conf": conf})
	sub := filepath.Join(f.prefix, "svc", "sub")
	if err := os.RemoveAll(sub); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, sub); err != nil {
		t.Fatal(err)
	}
	return f, old, outside
}

// TestPrefixInStickyDirectory: a prefix right in a sticky directory
// (root's prefix /tmp/pfx) places and removes files at its top: nobody
// else can rename the caller's prefix there. Before, each such file was
// refused, its directory "under /tmp, which is a shared directory".
func TestPrefixInStickyDirectory(t *testing.T) {
	f := newFixture(t, tree{})
	sticky := filepath.Dir(f.prefix)
	if err := os.Chmod(sticky, 0o1777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(sticky, 0o700) })
	if _, err := f.run([]Change{{New: f.staged("top", tree{"top.conf": "1", "bin/": "", "bin/top": "2"})}}, Options{}); err != nil {
		t.Fatalf("install into a prefix in a sticky directory: %v", err)
	}
	if got := read(t, f.prefix); !reflect.DeepEqual(got, tree{"top.conf": "1", "bin/": "", "bin/top": "2"}) {
		t.Fatalf("prefix = %v", got)
	}
	var warned []string
	old := f.installed("top", "1.0.0", "top.conf", "bin", "bin/top")
	if _, err := f.run([]Change{{Old: old}}, Options{Warn: func(format string, args ...any) { warned = append(warned, fmt.Sprintf(format, args...)) }}); err != nil {
		t.Fatal(err)
	}
	if got := read(t, f.prefix); len(got) != 0 || len(warned) > 0 {
		t.Errorf("after the uninstall the prefix holds %v, warnings %q", got, warned)
	}
}

// TestStickyDirectoryOfAnother: a sticky directory in the prefix that
// another user owns (a package's shared scratch directory given to its
// service user) lets that user rename any entry in it, root's too: what
// is under such an entry is left in place. The sticky exception of
// TestPrefixInStickyDirectory took it as safe whoever owned the sticky
// directory.
func TestStickyDirectoryOfAnother(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("a directory of another user's needs root to make")
	}
	f := newFixture(t, tree{"svc/": "", "svc/sub/": "", "svc/sub/conf": "default"})
	old := f.installed("svc", "1.0.0", "svc", "svc/sub", "svc/sub/conf")
	svc := filepath.Join(f.prefix, "svc")
	if err := os.Chmod(svc, 0o1777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(svc, 4242, 4242); err != nil {
		t.Fatal(err)
	}
	var warned []string
	if _, err := f.run([]Change{{Old: old}}, Options{Warn: func(format string, args ...any) { warned = append(warned, fmt.Sprintf(format, args...)) }}); err != nil {
		t.Fatal(err)
	}
	if got := read(t, f.prefix); got["svc/sub/conf"] != "default" || len(warned) == 0 {
		t.Errorf("the prefix holds %v after the uninstall, warnings %q: want svc/sub/conf left in place, with a warning", got, warned)
	}
}

// TestVerifyThroughSwappedDirectory: verify reads nothing through a
// directory another user could swap. Before, it stat'ed and hashed what
// a symlink in a subdirectory's place led to and said that file's size.
func TestVerifyThroughSwappedDirectory(t *testing.T) {
	f, old, _ := swappedService(t, "a secret of 27 bytes long..")
	sub := filepath.Join(f.prefix, "svc", "sub")
	problems, err := Verify(t.Context(), f.prefix, old.Files)
	if err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(sub, "conf")
	var got string
	for _, p := range problems {
		if strings.Contains(p.What, "27 bytes") {
			t.Errorf("%s: %s: says the size of the file behind the symlink", p.Path, p.What)
		}
		if p.Path == conf {
			got = p.What
			if !p.NotChecked {
				t.Errorf("%s: %q is not marked NotChecked", p.Path, p.What)
			}
		}
	}
	if !strings.HasPrefix(got, "not checked: its directory "+sub+" is under "+filepath.Join(f.prefix, "svc")) {
		t.Errorf("%s: %q, want it not checked, naming the directory another user can change", conf, got)
	}
	for _, p := range problems {
		if p.Path == filepath.Join(f.prefix, "svc", "state") {
			t.Errorf("svc/state, in the other user's directory itself, is as recorded: %s", p.What)
		}
	}
}
