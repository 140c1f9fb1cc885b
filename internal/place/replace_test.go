package place

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/distpac/distpac/internal/state"
)

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
