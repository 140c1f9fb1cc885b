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

// named is Options.Named over the records ins, as state.DB.OwnersNamed
// answers: the recorded paths whose last element is asked.
func named(ins ...*Installed) func([]string) (map[string]state.Owner, error) {
	return func(bases []string) (map[string]state.Owner, error) {
		found := map[string]state.Owner{}
		for _, in := range ins {
			for _, file := range in.Files {
				for _, b := range bases {
					if filepath.Base(file.Path) == b {
						state.AddOwner(found, state.Owner{Name: in.Name, Version: in.Version}, in.Prefix, file)
					}
				}
			}
		}
		return found, nil
	}
}

// TestAliasedPaths: an entry reached through a symlink (the user's
// lib64 -> lib, or a prefix that is a symlink) is one entry with two
// spellings. A package that brings it in under one spelling conflicts
// with the package that records the other, whatever --overwrite says;
// two packages of one transaction that bring both conflict before
// anything moves; a package leaving never deletes a file that a package
// staying records under the other spelling. Before, the literal path
// alone was looked up: "no package owns it", --overwrite replaced
// another package's file, and an uninstall deleted it.
func TestAliasedPaths(t *testing.T) {
	for _, tt := range []struct {
		name   string
		prefix tree
		// run makes the changes and the options of the transaction; p is
		// the prefix, plink a symlink to it.
		run      func(f *fixture, p, plink string) ([]Change, Options)
		wantErr  string // "" for success
		wantWarn string
		want     tree // the prefix afterwards; nil: unchanged
	}{
		{
			name:   "a symlinked directory of the prefix",
			prefix: tree{"lib/": "", "lib/libx.so": "ga's", "lib64": "-> lib"},
			run: func(f *fixture, p, _ string) ([]Change, Options) {
				ga := f.installed("ga", "1.0.0", "lib", "lib/libx.so")
				gb := f.staged("gb", tree{"lib64/": "", "lib64/libx.so": "gb's"})
				return []Change{{New: gb}}, Options{Owners: f.owners(ga), Named: named(ga), Overwrite: []string{"lib64/libx.so"}}
			},
			wantErr: "lib64/libx.so is owned by ga 1.0.0, as PREFIX/lib/libx.so (the same file through a symlink); nothing was changed",
		},
		{
			name:   "a prefix reached through a symlink",
			prefix: tree{"bin/": "", "bin/tool": "fa's"},
			run: func(f *fixture, p, plink string) ([]Change, Options) {
				fa := f.installed("fa", "1.0.0", "bin", "bin/tool")
				fa.Prefix = plink
				ff := f.staged("ff", tree{"bin/": "", "bin/tool": "ff's"})
				return []Change{{New: ff}}, Options{Owners: f.owners(fa), Named: named(fa), Overwrite: []string{"bin/tool"}}
			},
			wantErr: "bin/tool is owned by fa 1.0.0, as PLINK/bin/tool (the same file through a symlink)",
		},
		{
			name:   "recorded through a symlinked directory",
			prefix: tree{"lib/": "", "lib/libx.so": "ga's", "lib64": "-> lib"},
			run: func(f *fixture, p, _ string) ([]Change, Options) {
				ga := f.installed("ga", "1.0.0", "lib64/libx.so")
				gb := f.staged("gb", tree{"lib/": "", "lib/libx.so": "gb's"})
				return []Change{{New: gb}}, Options{Owners: f.owners(ga), Named: named(ga), Overwrite: []string{"*"}}
			},
			wantErr: "lib/libx.so is owned by ga 1.0.0, as PREFIX/lib64/libx.so (the same file through a symlink)",
		},
		{
			name:   "two packages of one transaction",
			prefix: tree{"lib/": "", "lib64": "-> lib"},
			run: func(f *fixture, p, _ string) ([]Change, Options) {
				ga := f.staged("ga", tree{"lib/": "", "lib/libx.so": "ga's"})
				gb := f.staged("gb", tree{"lib64/": "", "lib64/libx.so": "gb's"})
				return []Change{{New: ga}, {New: gb}}, Options{}
			},
			wantErr: "lib64/libx.so of gb 1.0.0 is lib/libx.so of ga 1.0.0, through a symlink (PREFIX/lib/libx.so); nothing was changed",
		},
		{
			name:   "leaving, the other spelling stays",
			prefix: tree{"lib/": "", "lib/libx.so": "ga's", "lib64": "-> lib"},
			run: func(f *fixture, p, _ string) ([]Change, Options) {
				ga := f.installed("ga", "1.0.0", "lib", "lib/libx.so")
				gb := f.installed("gb", "1.0.0", "lib64/libx.so")
				return []Change{{Old: gb}}, Options{Owners: f.owners(ga), Named: named(ga)}
			},
			wantWarn: "PREFIX/lib64/libx.so of gb 1.0.0 is also PREFIX/lib/libx.so of ga 1.0.0 (the same file through a symlink); left in place",
		},
		{
			// (Two packages owning one file: a state today's checks refuse
			// to make, which an --overwrite before them made.)
			name:   "leaving, recorded through a symlink, the one that stays by the real path",
			prefix: tree{"lib/": "", "lib/libx.so": "ga's", "lib64": "-> lib"},
			run: func(f *fixture, p, _ string) ([]Change, Options) {
				ga := f.installed("ga", "1.0.0", "lib", "lib/libx.so")
				gb := f.installed("gb", "1.0.0", "lib64/libx.so")
				return []Change{{Old: gb}}, Options{Owners: f.owners(ga), Named: named(ga)}
			},
			wantWarn: "PREFIX/lib64/libx.so of gb 1.0.0 is also PREFIX/lib/libx.so of ga 1.0.0",
		},
		{
			name:   "leaving, through the prefix's symlink",
			prefix: tree{"bin/": "", "bin/tool": "fa's"},
			run: func(f *fixture, p, plink string) ([]Change, Options) {
				fa := f.installed("fa", "1.0.0", "bin", "bin/tool")
				fa.Prefix = plink
				ff := f.installed("ff", "1.0.0", "bin/tool")
				return []Change{{Old: fa}}, Options{Owners: f.owners(ff), Named: named(ff)}
			},
			wantWarn: "PLINK/bin/tool of fa 1.0.0 is also PREFIX/bin/tool of ff 1.0.0",
		},
		{
			// Both through symlinks, neither by the real path: only the
			// records of the same name find the other.
			name:   "leaving and staying, each through its own symlink",
			prefix: tree{"lib/": "", "lib/libx.so": "ga's", "lib64": "-> lib", "lib32": "-> lib"},
			run: func(f *fixture, p, _ string) ([]Change, Options) {
				ga := f.installed("ga", "1.0.0", "lib32/libx.so")
				gb := f.installed("gb", "1.0.0", "lib64/libx.so")
				return []Change{{Old: gb}}, Options{Owners: f.owners(ga), Named: named(ga)}
			},
			wantWarn: "PREFIX/lib64/libx.so of gb 1.0.0 is also PREFIX/lib32/libx.so of ga 1.0.0",
		},
		{
			name:   "an unowned file through a symlink is still the user's",
			prefix: tree{"lib/": "", "lib/libx.so": "user's", "lib/other.so": "ga's", "lib64": "-> lib"},
			run: func(f *fixture, p, _ string) ([]Change, Options) {
				ga := f.installed("ga", "1.0.0", "lib", "lib/other.so")
				gb := f.staged("gb", tree{"lib64/": "", "lib64/libx.so": "gb's"})
				return []Change{{New: gb}}, Options{Owners: f.owners(ga), Named: named(ga), Overwrite: []string{"lib64/libx.so"}}
			},
			want: tree{"lib/": "", "lib/libx.so": "gb's", "lib/other.so": "ga's", "lib64": "-> lib"},
		},
		{
			name:   "a shared directory through a symlink",
			prefix: tree{"lib/": "", "lib/sub/": "", "lib/sub/a": "ga's", "lib64": "-> lib"},
			run: func(f *fixture, p, _ string) ([]Change, Options) {
				ga := f.installed("ga", "1.0.0", "lib", "lib/sub", "lib/sub/a")
				gb := f.staged("gb", tree{"lib64/": "", "lib64/sub/": "", "lib64/sub/b": "gb's"})
				return []Change{{New: gb}}, Options{Owners: f.owners(ga), Named: named(ga)}
			},
			want: tree{"lib/": "", "lib/sub/": "", "lib/sub/a": "ga's", "lib/sub/b": "gb's", "lib64": "-> lib"},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.prefix)
			plink := filepath.Join(filepath.Dir(f.prefix), "plink")
			if err := os.Symlink(f.prefix, plink); err != nil {
				t.Fatal(err)
			}
			spell := strings.NewReplacer("PREFIX", f.prefix, "PLINK", plink).Replace
			changes, o := tt.run(f, f.prefix, plink)
			var warned []string
			o.Warn = func(format string, a ...any) { warned = append(warned, fmt.Sprintf(format, a...)) }
			before := read(t, f.prefix)
			_, err := f.run(changes, o)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("err = %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), spell(tt.wantErr))):
				t.Fatalf("err = %v\nwant %q", err, spell(tt.wantErr))
			}
			if tt.wantWarn != "" && !strings.Contains(strings.Join(warned, ""), spell(tt.wantWarn)) {
				t.Errorf("warned %q\nwant %q", warned, spell(tt.wantWarn))
			}
			want := tt.want
			if want == nil {
				want = before
			}
			if got := read(t, f.prefix); !reflect.DeepEqual(got, want) {
				t.Errorf("prefix = %v\nwant %v", got, want)
			}
		})
	}
}

// TestCreatedThroughSymlink: a directory distpac made for one package is
// recorded as made by distpac by another that reaches it under another
// spelling, in either order, so the last to leave removes it once empty;
// it was left behind (an attacker's run).
func TestCreatedThroughSymlink(t *testing.T) {
	for _, tt := range []struct {
		name           string
		prefix         tree
		first, arrives string // the installed package's directory, the arriving one's
	}{
		{"the installed one through the symlink", tree{"lib/": "", "lib/sub/": "", "lib/sub/g.so": "lg's", "lib64": "-> lib"}, "lib64/sub", "lib/sub"},
		{"the arriving one through the symlink", tree{"lib/": "", "lib/sub/": "", "lib/sub/f.so": "lf's", "lib64": "-> lib"}, "lib/sub", "lib64/sub"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.prefix)
			first := f.installed("first", "1.0.0", tt.first)
			arriving := f.staged("arriving", tree{filepath.Dir(tt.arrives) + "/": "", tt.arrives + "/": "", tt.arrives + "/x.so": "x"})
			plan, err := f.run([]Change{{New: arriving}}, Options{Owners: f.owners(first), Named: named(first)})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range plan.Files[0] {
				if r.Path == tt.arrives && !r.Created {
					t.Errorf("%s recorded as not made by distpac; %s of the installed package was", tt.arrives, tt.first)
				}
			}
		})
	}
}
